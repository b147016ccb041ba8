"""Every call of MetadataBackend beside the hand-written floor (`_floor.py`) that returns the same
data, on the same driver, in the same run: ratios of medians, per engine and scale.

Scale 1 is 50 models x 20 versions x 5 tags (and 2 metrics, a lineage edge and an alias);
--scale 100 is 5,000 models (100,000 versions). Each scratch database is filled once by bulk
INSERTs and left with the data, so a second run at the same scale reuses it (--reset clears it).

    python benchmarks/bench_reads.py --url sqlite:////tmp/b.db \\
        --url postgresql://postgres@127.0.0.1:5432/bench --url mysql://root@127.0.0.1:3306/bench \\
        --scale 1 --scale 100 --reset
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from _common import empty_backend
from _floor import Floor

import registry_core
from registry_core.records import ModelVersion
from registry_core.session import utc_now
from registry_core.sqlbackend import SQLMetadataBackend

VERSIONS, TAGS = 20, 5
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def fill(b: SQLMetadataBackend, models: int) -> None:
    """models x VERSIONS versions with TAGS tags, 2 metrics, an edge to the previous version
    and an alias on the 10th, by multi-row INSERTs (minutes through the API at scale 100)."""
    now = utc_now()
    text = "CHAR" if b.dialect.name == "mysql" else "TEXT"
    for start in range(0, models, 500):
        rows = ", ".join(
            f"('model-{m:05d}', 'bench', '{created(m)}', '{now}', {VERSIONS})"
            for m in range(start, min(models, start + 500))
        )
        b.execute(
            "INSERT INTO mr_models (name, description, created_at, updated_at, last_version) "
            f"VALUES {rows}"
        )
    b.execute(
        "INSERT INTO mr_model_versions (model_id, version, description, storage_path, "
        "file_size_bytes, checksum, created_at) "
        f"SELECT m.id, CAST(n.v AS {text}), 'd', 'models/x', 1000 + n.v, 'sha256:00', m.created_at "
        "FROM mr_models m JOIN ("
        + " UNION ALL ".join(f"SELECT {v} AS v" for v in range(1, 21))
        + ") n ON 1 = 1 ORDER BY m.id, n.v"
    )
    for k in range(TAGS):
        value = "CASE WHEN mv.id % 3 = 0 THEN 'regression' ELSE 'tree' END" if k == 0 else "'x'"
        b.execute(
            "INSERT INTO mr_model_tags (model_version_id, tag_key, tag_value) "
            f"SELECT mv.id, 'tag{k}', {value} FROM mr_model_versions mv"
        )
    for metric in ("acc", "loss"):
        b.execute(
            "INSERT INTO mr_model_metrics (model_version_id, metric_name, metric_value) "
            f"SELECT mv.id, '{metric}', (mv.id % 97) / 97.0 FROM mr_model_versions mv"
        )
    b.execute(
        "INSERT INTO mr_model_lineage (child_version_id, parent_version_id) "
        "SELECT c.id, p.id FROM mr_model_versions c JOIN mr_model_versions p "
        "ON p.model_id = c.model_id AND p.id = c.id - 1"
    )
    b.execute(
        "INSERT INTO mr_model_aliases (model_id, alias, model_version_id, updated_at) "
        f"SELECT mv.model_id, 'champion', mv.id, '{now}' FROM mr_model_versions mv "
        "WHERE mv.version = '10'"
    )


def created(m: int) -> str:
    """Model m's (and its versions') creation time: one second apart, so that a created_at
    range selects part of the data."""
    return (START + timedelta(seconds=m)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def medians_ms(
    api: Callable[[], Any], floor: Callable[[], Any], repeat: int
) -> tuple[float, float]:
    """Median milliseconds of each, measured in alternation so that both see the same
    moments of a noisy machine."""
    a, f = [], []
    for _ in range(repeat):
        for fn, out in ((api, a), (floor, f)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return 1000 * statistics.median(a), 1000 * statistics.median(f)


def same(api: Any, floor: Any) -> None:
    """The two sides returned the same data (the API's aliases/metrics included)."""
    if isinstance(api, ModelVersion):
        api, floor = [api], [floor]
    if isinstance(api, list):
        assert len(api) == len(floor), (len(api), len(floor))
        for a, f in zip(api, floor, strict=True):
            assert replace(a, tags=dict(a.tags), metrics=dict(a.metrics)) == f, (a, f)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", action="append", required=True)
    p.add_argument("--scale", action="append", type=int)
    p.add_argument("--repeat", type=int, default=0, help="runs per call (default by scale)")
    p.add_argument("--reset", action="store_true")
    args = p.parse_args()
    print(f"{'engine':<10} {'scale':>5} {'call':<26} {'api ms':>9} {'floor ms':>9} {'ratio':>6}")
    for url in args.url:
        for scale in args.scale or [1]:
            run(url, scale, args.reset, args.repeat or (200 if scale == 1 else 20))
        sys.stdout.flush()


def run(url: str, scale: int, reset: bool, repeat: int) -> None:
    models = 50 * scale
    b = empty_backend(url, reset=True) if reset else registry_core.open_backend(url)
    assert isinstance(b, SQLMetadataBackend)
    b.migrate()
    if b.stats().total_models != models:
        b.downgrade("000")
        b.migrate()
        fill(b, models)
        if b.dialect.name != "sqlite":  # as autovacuum and InnoDB do by themselves later;
            b.refresh_statistics()  # SQLite never does, so it runs as users run it
    b.close()
    b = registry_core.open_backend(url)
    assert isinstance(b, SQLMetadataBackend)
    floor = Floor(url)
    engine = b.server.split()[0]
    one, tag = "model-00007", ("tag0", "regression")
    since = created(models // 2)
    calls: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("get_version", lambda: b.get_version(one, "5"), lambda: floor.get_version(one, "5")),
        ("latest of one model", lambda: b.get_version(one), lambda: floor.latest_of(one)),
        ("latest of all models", b.latest_versions, floor.latest_versions),
        ("list_versions", lambda: b.list_versions(one), lambda: floor.list_versions(one)),
        ("find_by_tag", lambda: b.find_by_tag(*tag), lambda: floor.find_by_tag(*tag)),
        (
            "best_version",
            lambda: b.best_version(one, "acc"),
            lambda: floor.best_version(one, "acc"),
        ),
        ("stats", b.stats, floor.stats),
        (
            "search: tag = value, page",
            lambda: b.search_versions("tags.tag0 = 'regression'", page_size=100).items,
            lambda: floor.search_tag("tag0", "regression", 100),
        ),
        (
            "search: metric range by metric",
            lambda: (
                b.search_versions(
                    "metrics.acc > 0.5", order_by="metrics.acc DESC", page_size=100
                ).items
            ),
            lambda: floor.search_metric("acc", 0.5, 100),
        ),
        (
            "search: created_at range",
            lambda: b.search_versions(f"created_at >= '{since}'", page_size=100).items,
            lambda: floor.search_created(since, 100),
        ),
    ]
    for label, api, low in calls:
        same(api(), low())
        if label == "latest of all models" or label == "find_by_tag":
            n = max(5, repeat // 10)
        else:
            n = repeat
        a, f = medians_ms(api, low, n)
        print(f"{engine:<10} {scale:>5} {label:<26} {a:9.3f} {f:9.3f} {a / f:6.2f}")
    counter = [0]

    def api_save() -> None:
        counter[0] += 1
        b.create_version(
            "bench-save",
            description=None,
            tags={f"k{i}": "v" for i in range(TAGS)},
            file_size_bytes=1,
            checksum="sha256:00",
            storage_path=f"models/save/{counter[0]}",
        )

    def floor_save() -> None:
        counter[0] += 1
        floor.save("bench-floor", {f"k{i}": "v" for i in range(TAGS)}, "p", utc_now())

    api_save(), floor_save()
    a, f = medians_ms(api_save, floor_save, repeat)
    print(f"{engine:<10} {scale:>5} {'save, 5 tags':<26} {a:9.3f} {f:9.3f} {a / f:6.2f}")
    floor.close()
    b.close()


if __name__ == "__main__":
    main()
