"""Every bounded call at base scale and at --scale times that (default 1,000: 50,000 models,
1,000,000 versions), measured in alternation in one run, per engine: the ratio of the medians
(scale / base) and the time at scale; then a copy of a 100,000-version slice between two
server databases (PostgreSQL -> MariaDB or MySQL): versions per second and peak RSS.

The registries (see _scale_build.py) are built through `import_model`, round robin, and KEPT:
a later run (after a migration too) reuses them. Where they live:
  SQLite       DIR/bench_scale_x1.db and DIR/bench_scale_x<SCALE>.db (--dir, default
               /var/tmp/registry-core-bench-scale; DIR/artifacts-source holds the 1,000 files
               the storage paths name, DIR/artifacts-copy the copy's target files)
  PostgreSQL,  databases bench_scale_x1, bench_scale_x<SCALE> and bench_scale_copy (the
  MariaDB,     copy's target, emptied per copy) on the server of --postgresql, --mariadb,
  MySQL        --mysql, else of REGISTRY_TEST_<ENGINE>_URL (the URL's own database is unused)
The script creates, fills and (when not a complete registry of its layout) drops only these.
At --scale 1000 a build takes about an hour per engine; try --scale 10 first.

    python benchmarks/bench_scale.py --scale 10 \\
        --postgresql postgresql://postgres@127.0.0.1:5432/postgres \\
        --mariadb mysql://root@127.0.0.1:3306/mysql
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _scale_build as sb
from bench_copy import run_copy, show

from registry_core import NotFoundError, Page
from registry_core.sqlbackend import SQLMetadataBackend

SERVER_ENGINES = ("postgresql", "mariadb", "mysql")
SEARCHES = {  # label: (filter, order_by)
    "search tags.type = 'regression'": ("tags.type = 'regression'", None),
    "search metrics.acc > 0.5 by acc DESC": ("metrics.acc > 0.5", "metrics.acc DESC"),
    "search created_at >= t": ("created_at >= '{since}'", None),
}
MODEL_PAGE = 20  # search_models' page: the base registry has 50 models, so there is a page 2
SAVE_MODEL = "zz-bench-save"  # sorts after every benchmark model; deleted after each run


@dataclass
class Side:
    """One registry under measurement and the arguments its calls take."""

    b: SQLMetadataBackend
    models: int
    one: str  # the model in the middle of the name order
    since: str  # creation time of the first version 11: half the versions are newer
    tokens: dict[str, str | None]
    writes: int = 0

    def tick(self) -> int:
        """A new number per write (the values the writes alternate between)."""
        self.writes += 1
        return self.writes


def side(url: str, models: int) -> Side:
    b = sb.open_sql(url)
    s = Side(b, models, sb.name_of(models // 2), sb.stamp(sb.created(models, 0, 11)), {})
    for label, (text, order) in SEARCHES.items():
        page = b.search_versions(text.format(since=s.since), order_by=order, page_size=100)
        s.tokens[label] = page.next_page_token
    s.tokens["search_models"] = b.search_models(page_size=MODEL_PAGE).next_page_token
    return s


def search(label: str, page: int) -> Callable[[Side], Page[Any]]:
    text, order = SEARCHES[label]

    def call(s: Side) -> Page[Any]:
        token = s.tokens[label] if page == 2 else None
        return s.b.search_versions(
            text.format(since=s.since), order_by=order, page_size=100, page_token=token
        )

    return call


def reads() -> list[tuple[str, Callable[[Side], Any]]]:
    calls: list[tuple[str, Callable[[Side], Any]]] = [
        ("get_version", lambda s: s.b.get_version(s.one, "10")),
        ("latest of one model", lambda s: s.b.get_version(s.one)),
        ("best_version", lambda s: s.b.best_version(s.one, "acc")),
        ("list_versions (20)", lambda s: s.b.list_versions(s.one)),
    ]
    for label in SEARCHES:
        calls += [(f"{label} p1", search(label, 1)), (f"{label} p2", search(label, 2))]
    calls += [
        ("search_models p1", lambda s: s.b.search_models(page_size=MODEL_PAGE)),
        (
            "search_models p2",
            lambda s: s.b.search_models(page_size=MODEL_PAGE, page_token=s.tokens["search_models"]),
        ),
        ("stats()", lambda s: s.b.stats()),
        ("database_stats()", lambda s: s.b.database_stats()),
    ]
    return calls


def save(s: Side) -> Any:
    return s.b.create_version(
        SAVE_MODEL,
        description=None,
        tags={"type": "regression", "team": "t", "stage": "dev", "framework": "f", "dataset": "d"},
        file_size_bytes=1,
        checksum="sha256:" + "0" * 64,
        storage_path=f"models/save/{time.time_ns()}-{s.tick()}",
        metrics={"acc": 0.5},
    )


def writes() -> list[tuple[str, Callable[[Side], Any]]]:
    """Measured last; `clean_up` removes what they wrote. set_tag and set_alias alternate
    between two values, so each call changes a row."""
    return [
        ("save (create_version)", save),
        ("set_tag", lambda s: s.b.set_tag(s.one, "10", "bench-note", f"n{s.tick() % 2}")),
        ("set_alias", lambda s: s.b.set_alias(s.one, "bench-alias", str(9 + s.tick() % 2))),
    ]


def clean_up(s: Side) -> None:
    undos: tuple[Callable[[], object], ...] = (
        lambda: s.b.delete_model(SAVE_MODEL),
        lambda: s.b.delete_tag(s.one, "10", "bench-note"),
        lambda: s.b.delete_alias(s.one, "bench-alias"),
    )
    for undo in undos:
        with contextlib.suppress(NotFoundError):
            undo()


def size(result: Any) -> Any:
    """What must be equal at both scales for the calls to be comparable."""
    if isinstance(result, (Page, list)):
        return (len(result), getattr(result, "next_page_token", "") is not None)
    return type(result).__name__  # one record (best_version's may be another version)


def medians_ms(
    call: Callable[[Side], Any], sides: Sequence[Side], repeat: int, budget: float
) -> list[float]:
    """Median milliseconds per side, the sides called in alternation (so that both see the
    same moments of a noisy machine): at least 5 rounds, at most `repeat`, and no more once
    `budget` seconds have passed."""
    times: list[list[float]] = [[] for _ in sides]
    started = time.perf_counter()
    for i in range(repeat):
        if i >= 5 and time.perf_counter() - started > budget:
            break
        for s, out in zip(sides, times, strict=True):
            t0 = time.perf_counter()
            call(s)
            out.append(time.perf_counter() - t0)
    return [1000 * statistics.median(t) for t in times]


def measure(
    engine: sb.Engine, scale: int, repeat: int, budget: float, out: Callable[[str], None]
) -> tuple[str, dict[str, tuple[float, float]]]:
    """{call: (base ms, scale ms)} for one engine, and its server's name."""
    base = side(engine.url(1), sb.models_at(1))
    big = side(engine.url(scale), sb.models_at(scale))
    server = base.b.server
    results: dict[str, tuple[float, float]] = {}
    try:
        for s in (base, big):
            clean_up(s)
        for label, call in reads() + writes():
            shapes = [size(call(s)) for s in (base, big)]  # also the warm-up
            if label in dict(reads()) and shapes[0] != shapes[1]:
                sys.exit(f"{engine.name} {label}: results differ between scales {shapes}")
            a, z = medians_ms(call, (base, big), repeat, budget)
            results[label] = (a, z)
            out(f"{engine.name:<10} {label:<40} {a:10.3f} {z:10.3f} {z / a:8.2f}")
    finally:
        for s in (base, big):
            clean_up(s)
            s.b.close()
    return server, results


def copy(
    source: sb.Engine, target: sb.Engine, scale: int, versions: int, out: Callable[[str], None]
) -> dict[str, Any]:
    """copy_registry of the models of a `versions`-version slice of the registry at `scale` on
    `source` into the emptied copy database on `target`, in a fresh process (bench_copy.py's),
    then once more (everything there: nothing to write)."""
    names = sb.slice_names(scale, versions)
    count = len(names) * sb.VERSIONS
    files = sb.put_files(source.sqlite_dir / "artifacts-source", sb.slice_models(scale, versions))
    dest = source.sqlite_dir / "artifacts-copy"
    target.drop(None)
    target.create(None)
    label = f"{source.name} -> {target.name}"
    first = run_copy(source.url(scale), target.url(None), files, dest, models=names)
    show(label, first, count)
    again = run_copy(source.url(scale), target.url(None), files, dest, fresh=False, models=names)
    show(label + " again", again, count)
    shutil.rmtree(dest, ignore_errors=True)
    return {"versions": count, "first": first, "again": again}


def table(scale: int, results: dict[str, tuple[str, dict[str, tuple[float, float]]]]) -> str:
    """The Markdown table: per call and engine, ratio (scale / base) and the time at scale."""
    engines = list(results)
    head = f"| call (ratio {scale:,}x / 1x; {scale:,}x time) | " + " | ".join(
        results[e][0] for e in engines
    )
    lines = [head + " |", "|---" * (len(engines) + 1) + "|"]
    labels = list(dict.fromkeys(k for e in engines for k in results[e][1]))
    for label in labels:
        cells = []
        for e in engines:
            got = results[e][1].get(label)
            cells.append("" if got is None else f"{got[1] / got[0]:.2f} ({_ms(got[1])})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.3g} ms"


def engines(args: argparse.Namespace) -> list[sb.Engine]:
    """SQLite, and each server engine with a URL (option or REGISTRY_TEST_<ENGINE>_URL)."""
    found = [sb.Engine("sqlite", None, Path(args.dir))]
    for name in SERVER_ENGINES:
        url = getattr(args, name) or sb.env_url(name)
        if url:
            found.append(sb.Engine(name, url, Path(args.dir)))
    if args.engine:
        found = [e for e in found if e.name in args.engine]
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", type=int, default=1000, help="the large registry (default 1000)")
    p.add_argument(
        "--engine",
        action="append",
        choices=("sqlite", *SERVER_ENGINES),
        help="measure only these (repeatable; default: every engine with a URL)",
    )
    for name in SERVER_ENGINES:
        p.add_argument(f"--{name}", metavar="URL", help=f"a {name} server (any database on it)")
    p.add_argument("--dir", default=sb.DEFAULT_SQLITE_DIR, help="SQLite files and artifacts")
    p.add_argument("--workers", type=int, default=2, help="import processes per server build")
    p.add_argument("--repeat", type=int, default=40, help="most runs of each call per scale")
    p.add_argument("--budget", type=float, default=6.0, help="seconds per call, about")
    p.add_argument("--build-only", action="store_true", help="build (or check) and stop")
    p.add_argument("--copy-versions", type=int, default=100_000, help="0: no copy")
    p.add_argument(
        "--copy", default="postgresql:mariadb", help="SOURCE:TARGET engines (both measured)"
    )
    args = p.parse_args()
    chosen = engines(args)

    def log(line: str) -> None:
        print(line, flush=True)

    for e in chosen:
        for scale in dict.fromkeys((1, args.scale)):
            t0 = time.perf_counter()
            seconds = sb.ensure(e, scale, args.workers, log)
            log(
                f"{e.name} x{scale}: built in {seconds:,.0f} s (this run: "
                f"{time.perf_counter() - t0:,.1f} s) at {e.url(scale)}"
            )
    if args.build_only:
        return
    log(f"{'engine':<10} {'call':<40} {'1x ms':>10} {f'{args.scale}x ms':>10} {'ratio':>8}")
    results = {e.name: measure(e, args.scale, args.repeat, args.budget, log) for e in chosen}
    log("")
    log(table(args.scale, results))
    by_name = {e.name: e for e in chosen}
    source, _, target = args.copy.partition(":")
    if args.copy_versions and source in by_name and target in by_name:
        log("")
        copy(by_name[source], by_name[target], args.scale, args.copy_versions, log)


if __name__ == "__main__":
    main()
