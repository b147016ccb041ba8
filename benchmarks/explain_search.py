"""The plan each database chooses for the searches of `bench_reads.py`: which index serves which
filter. Run it on a database `bench_reads.py --scale 100` filled (it reads, never writes):

    python benchmarks/explain_search.py --url sqlite:////tmp/bench.db \\
        --url postgresql://postgres@127.0.0.1:5432/bench --url mysql://root@127.0.0.1:3306/bench

The statement is the one `search_versions` sends (compiled by registry-core, captured before it
runs); the plan is the database's own EXPLAIN (SQLite: EXPLAIN QUERY PLAN), printed whole.
"""

from __future__ import annotations

import argparse
from typing import Any

import registry_core
from registry_core.sqlbackend import SQLMetadataBackend

SEARCHES: list[tuple[str, str, str | None]] = [
    ("tag = value", "tags.tag0 = 'regression'", None),
    ("metric range, by the metric", "metrics.acc > 0.5", "metrics.acc DESC"),
    ("created_at range", "created_at >= '2026-01-01T03:00:00'", None),
    ("name LIKE prefix", "name LIKE 'model-0001%'", None),
    ("alias", "alias = 'champion'", None),
]


class _Capture:
    """Stands in for a Session: keeps the statement and its parameters, returns no rows."""

    def __init__(self) -> None:
        self.sql = ""
        self.params: dict[str, Any] = {}

    def all(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        self.sql, self.params = sql, dict(params)
        return []


def plan(b: SQLMetadataBackend, text: str, order_by: str | None) -> list[str]:
    rows, _token = b._search("versions", text, order_by, 100, None)
    capture = _Capture()
    rows(capture)  # type: ignore[arg-type]
    explain = {"sqlite": "EXPLAIN QUERY PLAN "}.get(b.dialect.name, "EXPLAIN ")
    result = b.query(explain + capture.sql, capture.params)
    return [" | ".join(str(c) for c in r) for r in result]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--url", action="append", required=True)
    args = p.parse_args()
    for url in args.url:
        b = registry_core.open_backend(url)
        assert isinstance(b, SQLMetadataBackend)
        try:
            print(f"=== {b.database_stats().server_version}")
            for label, text, order_by in SEARCHES:
                print(f"--- {label}: {text!r}" + (f" order_by {order_by!r}" if order_by else ""))
                for line in plan(b, text, order_by):
                    print("   ", line)
        finally:
            b.close()


if __name__ == "__main__":
    main()
