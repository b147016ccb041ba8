"""What the event log costs writers, against the code before it, in one run (see README.md).

For each --url: saves per second from 1 process and from 4 concurrent processes (each saving a
model of its own, so that only the feed's counter row makes them wait for each other) and
statements (round trips; MySQL sends an event's two statements as one) per save, once with
this checkout's code and once with `--base DIR` (a worktree of the commit before the event
log, e.g. `git worktree add --detach /work/wt-events-base main`), alternating, `--rounds`
times; then the time of a history() and an events() page at 1x and 100x events (1,050 and
105,000: the benchmarks' base scale of 50 models x 20 versions, and 100 times it).

    python benchmarks/bench_events.py --base /work/wt-events-base --reset \\
        --url sqlite:////tmp/bench_events.db --url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _use_code(root: str | None) -> None:
    """Imports registry_core (and its backends and migrations) from the worktree `root`."""
    if not root:
        return
    base = Path(root)
    places = {
        "registry_core": base / "registry_core",
        "registry_core.backends": base / "backends",
        "registry_core.migrations": base / "migrations",
    }

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
            folder = places.get(fullname)
            if folder is None:
                return None
            return importlib.util.spec_from_file_location(
                fullname, folder / "__init__.py", submodule_search_locations=[str(folder)]
            )

    sys.meta_path.insert(0, Finder())


def _saver(code: str | None, url: str, artifacts: str, name: str, n: int, start: float) -> float:
    _use_code(code)
    import registry_core

    with registry_core.connect(url, artifacts=artifacts) as reg:
        reg.save_model(0, name)  # the model exists: every timed save is the common kind
        time.sleep(max(0.0, start - time.time()))
        t0 = time.perf_counter()
        for i in range(n):
            reg.save_model(i, name, tags={"i": str(i), "team": "x"}, metrics={"acc": 0.5})
        return time.perf_counter() - t0


def worker(args: argparse.Namespace) -> None:
    """One measurement with one code base, printed as JSON: the schema is made by that code."""
    _use_code(args.code)
    import registry_core

    url = args.url[0]
    with tempfile.TemporaryDirectory() as tmp:
        with registry_core.connect(url, artifacts=tmp) as reg:
            reg.save_model(0, "solo")
            counter = reg.backend.statements  # type: ignore[attr-defined]
            before, t0 = counter.value, time.perf_counter()
            for i in range(args.saves):
                reg.save_model(i, "solo", tags={"i": str(i), "team": "x"}, metrics={"acc": 0.5})
            one = args.saves / (time.perf_counter() - t0)
            per_save = (counter.value - before) / args.saves
            schema = reg.database_stats().schema_version
        ctx = multiprocessing.get_context("spawn")
        start = time.time() + 3
        with ctx.Pool(4) as pool:
            walls = pool.starmap(
                _saver,
                [(args.code, url, tmp, f"p{i}", args.per_process, start) for i in range(4)],
            )
        four = 4 * args.per_process / max(walls)
    print(json.dumps({"one": one, "four": four, "statements": per_save, "schema": schema}))


def _reset(url: str) -> None:
    import registry_core

    with registry_core.open_backend(url) as b:
        if b.migration_status().current is not None:
            b.downgrade("000")


def _run_worker(code: str | None, url: str, args: argparse.Namespace) -> dict[str, Any]:
    _reset(url)
    command = [sys.executable, __file__, "--worker", "--url", url]
    command += ["--saves", str(args.saves), "--per-process", str(args.per_process)]
    if code:
        command += ["--code", code]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _fill(reg: Any, count: int) -> None:
    """`count` events of 50 models other than the probe's (rows written directly: what a
    registry with that history holds), in INSERTs of 1,000."""
    backend = reg.backend
    now = "2026-01-01T00:00:00.000000Z"
    start = _end(reg)
    rows = []
    for i in range(count):
        rows.append((start + i + 1, now, "bench", "tag.set", 10_000 + i % 50, f"m{i % 50}", "1"))
    for at in range(0, len(rows), 1000):
        chunk = rows[at : at + 1000]
        values = ", ".join(
            f"(:a{j}, :b{j}, :c{j}, :d{j}, :e{j}, :f{j}, :g{j}, '{{}}')" for j in range(len(chunk))
        )
        params = {
            f"{k}{j}": v for j, r in enumerate(chunk) for k, v in zip("abcdefg", r, strict=True)
        }
        backend.execute(
            "INSERT INTO mr_events (id, happened_at, actor, action, model_id, name, version, "
            f"detail) VALUES {values}",
            params,
        )
    backend.execute("UPDATE mr_event_feed SET last_id = :n WHERE id = 1", {"n": start + count})
    backend.refresh_statistics()


def _end(reg: Any) -> int:
    """The feed's last id."""
    return int(reg.backend.query("SELECT COALESCE(MAX(id), 0) FROM mr_events")[0][0])


def _median_ms(call: Any, runs: int = 30) -> float:
    call()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def pages(url: str) -> dict[str, dict[str, float]]:
    """history()/events() page times (ms, medians) at 1x and 100x events."""
    import registry_core

    _reset(url)
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, registry_core.connect(url, artifacts=tmp) as reg:
        for i in range(20):  # the probe: 20 versions, each with a tag, an alias move
            reg.save_model(i, "probe", tags={"i": str(i)})
            reg.set_alias("probe", "champion", i + 1)
        filled = _end(reg)
        for scale, total in (("1x", 1_050), ("100x", 105_000)):
            _fill(reg, total - _end(reg))
            middle = str(total // 2)
            when = reg.history("probe", actions="alias.set").items[5].at
            out[scale] = {
                "history(name), 100": _median_ms(lambda: reg.history("probe")),
                "history(), 100": _median_ms(lambda: reg.history()),
                "history(name, actions)": _median_ms(
                    lambda: reg.history("probe", actions="alias.set", page_size=10)
                ),
                "events(after=middle), 100": _median_ms(lambda m=middle: reg.events(m)),
                "events(after=end)": _median_ms(lambda t=total: reg.events(str(t))),
                "get_version(as_of)": _median_ms(
                    lambda w=when: reg.get_version("probe", alias="champion", as_of=w)
                ),
            }
        assert filled > 0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", action="append", required=True, help="scratch database (repeatable)")
    p.add_argument("--base", help="worktree of the code before the event log")
    p.add_argument("--reset", action="store_true", help="clear the scratch databases first")
    p.add_argument("--saves", type=int, default=300)
    p.add_argument("--per-process", type=int, default=100)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--code", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if not args.reset:
        sys.exit("every run clears its scratch databases: pass --reset")
    for url in args.url:
        runs: dict[str, list[dict[str, Any]]] = {"base": [], "events": []}
        for _ in range(args.rounds):
            if args.base:
                runs["base"].append(_run_worker(args.base, url, args))
            runs["events"].append(_run_worker(None, url, args))
        import registry_core

        with registry_core.open_backend(url) as b:
            engine = b.server.split(" ")[0] if b.server else url.split(":", 1)[0]
        for label, found in runs.items():
            if not found:
                continue
            print(
                f"{engine:<11} {label:<7} schema {found[0]['schema']}: "
                f"1 process {statistics.median(r['one'] for r in found):7.1f} saves/s, "
                f"4 processes {statistics.median(r['four'] for r in found):7.1f} saves/s, "
                f"{found[0]['statements']:.1f} statements per save"
            )
        for scale, times in pages(url).items():
            line = ", ".join(f"{k} {v:.2f} ms" for k, v in times.items())
            print(f"{engine:<11} pages at {scale}: {line}")
        _reset(url)


if __name__ == "__main__":
    main()
