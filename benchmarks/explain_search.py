"""The plan each database chooses for the searches of `bench_reads.py`: which index serves which
filter. Run it on a database `bench_reads.py --scale 100` filled (it reads, never writes):

    python benchmarks/explain_search.py --url sqlite:////tmp/bench.db \\
        --url postgresql://postgres@127.0.0.1:5432/bench --url mysql://root@127.0.0.1:3306/bench

With --bench-scale: the searches of `bench_scale.py`, page 1 and page 2 (the keyset condition
of a real next-page token), on its registries (bench_scale_x1000 ...).

The statement is the one `search_versions` sends (compiled by registry-core); the plan is the
database's own EXPLAIN (SQLite: EXPLAIN QUERY PLAN), printed whole. Last, the plan of `stats()`
(from schema 009: the models' totals, no version read).
"""

from __future__ import annotations

import argparse

import registry_core
from registry_core.sqlbackend import SQLMetadataBackend

SEARCHES: list[tuple[str, str, str | None]] = [
    ("tag = value", "tags.tag0 = 'regression'", None),
    ("metric range, by the metric", "metrics.acc > 0.5", "metrics.acc DESC"),
    ("created_at range", "created_at >= '2026-01-01T03:00:00'", None),
    ("name LIKE prefix", "name LIKE 'model-0001%'", None),
    ("alias", "alias = 'champion'", None),
]


def plan(
    b: SQLMetadataBackend, text: str, order_by: str | None, token: str | None = None
) -> list[str]:
    """The database's plan of one search page's statement, one line per plan row."""
    page = b._search("versions", text, order_by, 100, token)
    result = b.query(_explain(b) + page.sql, page.params)
    return [" | ".join(str(c) for c in r) for r in result]


def _explain(b: SQLMetadataBackend) -> str:
    return {"sqlite": "EXPLAIN QUERY PLAN "}.get(b.dialect.name, "EXPLAIN ")


def scale_searches() -> list[tuple[str, str, str | None, int]]:
    from bench_scale import SEARCHES as SCALE

    return [(label, text, order, page) for label, (text, order) in SCALE.items() for page in (1, 2)]


def _created_at_11(b: SQLMetadataBackend) -> str:
    """bench_scale's `t`: the creation time of version 11 of its first model."""
    try:
        return str(b.get_version("model-00000", "11").created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    except registry_core.NotFoundError:
        return "2026-01-01T03:00:00"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--url", action="append", required=True)
    p.add_argument("--bench-scale", action="store_true", help="bench_scale.py's searches")
    args = p.parse_args()
    searches = scale_searches() if args.bench_scale else [(*s, 1) for s in SEARCHES]
    if not args.bench_scale:  # the keyset condition of a metric order's next page too
        label, text, order_by = SEARCHES[1]
        searches.insert(2, (label, text, order_by, 2))
    for url in args.url:
        b = registry_core.open_backend(url)
        assert isinstance(b, SQLMetadataBackend)
        try:
            print(f"=== {b.database_stats().server_version}")
            since = _created_at_11(b)
            for label, text, order_by, page in searches:
                text = text.format(since=since)
                token = None
                if page == 2:
                    token = b.search_versions(text, order_by=order_by).next_page_token
                print(
                    f"--- {label}: {text!r}"
                    + (f" order_by {order_by!r}" if order_by else "")
                    + f" page {page}"
                )
                for line in plan(b, text, order_by, token):
                    print("   ", line)
            print("--- stats()")
            for row in b.query(_explain(b) + b.queries.stats):
                print("   ", " | ".join(str(c) for c in row))
        finally:
            b.close()


if __name__ == "__main__":
    main()
