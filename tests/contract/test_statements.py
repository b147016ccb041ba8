"""Round trips per call, counted on the wire: a read that needs one statement sends one, and a
save sends a fixed number whatever its tag count or the number of existing versions.

Server engines: every byte goes through the fault proxy (tests/faultproxy.py), which counts the
times the client speaks after the server did, so the driver's own traffic (pings, implicit
BEGINs, the pool's checks) counts too. SQLite has no wire: sqlite3's trace callback counts the
statements it runs.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import registry_core
from faultproxy import FaultProxy
from registry_core import ModelRegistry
from registry_core.sqlbackend import SQLMetadataBackend

Counter = Callable[[], int]


@pytest.fixture
def wired(
    engine: str, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModelRegistry, Counter]]:
    """A registry and a function returning the round trips (statements, on SQLite) so far."""
    if engine == "sqlite":
        traced: list[str] = []
        connect = sqlite3.connect

        def tracing(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = connect(*args, **kwargs)
            conn.set_trace_callback(traced.append)
            return conn

        monkeypatch.setattr(sqlite3, "connect", tracing)
        with registry_core.connect(db_url, artifacts=tmp_path / "a") as reg:
            yield reg, lambda: len(traced)
        return
    parts = urlsplit(db_url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 0)
    try:
        with registry_core.connect(proxy.url(db_url), artifacts=tmp_path / "a") as reg:
            yield reg, lambda: proxy.round_trips
    finally:
        proxy.close()


def _cost(count: Counter, call: Callable[[], Any]) -> int:
    call()  # warm: the pool has its connection, the schema level is known
    before = count()
    call()
    return count() - before


def _save(backend: SQLMetadataBackend, name: str, **kw: Any) -> Callable[[], Any]:
    def save() -> Any:
        return backend.create_version(
            name,
            description="d",
            file_size_bytes=10,
            checksum="sha256:00",
            storage_path=f"models/{name}/{uuid.uuid4().hex}",
            **{"tags": {}, **kw},
        )

    return save


def test_each_read_is_one_round_trip(wired: tuple[ModelRegistry, Counter], engine: str) -> None:
    reg, count = wired
    for i in range(12):
        reg.save_model(i, "m", tags={"a": str(i), "b": "x"}, metrics={"score": i / 3})
    reg.save_model(0, "n", parents=[("m", 3)])
    reg.set_alias("m", "champion", 3)
    reads: dict[str, Callable[[], Any]] = {
        "get_model": lambda: reg.get_model("m"),
        "list_models": reg.list_models,
        "get_version": lambda: reg.get_version("m", 3),
        "latest of one": lambda: reg.get_version("m"),
        "by alias": lambda: reg.get_version("m", alias="champion"),
        "list_versions": lambda: reg.list_versions("m"),
        "latest_versions": reg.latest_versions,
        "find_by_tag": lambda: reg.find_by_tag("b", "x"),
        "find_by_tag key": lambda: reg.find_by_tag("b"),
        "best_version": lambda: reg.best_version("m", "score"),
        "lineage": lambda: reg.lineage("n", 1),
        "stats": reg.stats,
        "search page": lambda: reg.search_versions(
            "tags.b = 'x' AND metrics.score > 1 OR alias = 'champion'", page_size=5
        ),
        "search, next page": lambda: reg.search_versions(
            None, page_size=5, page_token=reg.search_versions(None, page_size=5).next_page_token
        ),
        "search_models": lambda: reg.search_models("name LIKE 'm%'"),
    }
    # SQLite reads the metrics of the versions with a second statement, in one read
    # transaction (its JSON drops digits of doubles): BEGIN, rows, metrics, COMMIT, all
    # in-process. Calls without versions (models, stats) are one statement there too.
    no_versions = {"get_model", "list_models", "stats", "search_models"}
    costs = {label: _cost(count, call) for label, call in reads.items()}
    for label, cost in costs.items():
        expected = 1 if engine != "sqlite" or label in no_versions else 4
        if label == "search, next page":  # two searches: the first page, then the next
            expected *= 2
        assert cost == expected, (label, costs)


def test_a_search_page_costs_the_same_whatever_its_size(
    wired: tuple[ModelRegistry, Counter], engine: str
) -> None:
    reg, count = wired
    backend = reg.backend
    assert isinstance(backend, SQLMetadataBackend)
    for i in range(60):
        _save(backend, f"m{i % 7}", tags={"k": "v", "i": str(i)}, metrics={"x": i / 7})()
    small = _cost(count, lambda: reg.search_versions("tags.k = 'v'", page_size=2))
    large = _cost(count, lambda: reg.search_versions("tags.k = 'v'", page_size=1000))
    assert small == large == (4 if engine == "sqlite" else 1)


def test_a_save_costs_the_same_whatever_its_size(
    wired: tuple[ModelRegistry, Counter], engine: str
) -> None:
    reg, count = wired
    backend = reg.backend
    assert isinstance(backend, SQLMetadataBackend)
    _save(backend, "m")()  # the model exists from here on
    plain = _cost(count, _save(backend, "m"))
    for _ in range(30):
        _save(backend, "m")()
    after_many_versions = _cost(count, _save(backend, "m"))
    one_tag = _cost(count, _save(backend, "m", tags={"k": "v"}))
    many_tags = _cost(count, _save(backend, "m", tags={f"k{i}": "v" for i in range(1000)}))
    everything = _cost(
        count,
        _save(
            backend,
            "m",
            tags={f"k{i}": "v" for i in range(1000)},
            metrics={f"metric{i}": i / 7 for i in range(1000)},
            parents=[("m", str(v)) for v in range(1, 30)],
        ),
    )
    assert plain == after_many_versions
    assert many_tags == one_tag
    if engine == "postgresql":
        # one statement with its tags, metrics and event, which commits by itself; parents
        # make it a transaction (BEGIN, counter, row, tags, metrics, edges, event, COMMIT)
        assert plain == one_tag == 1
        assert everything == 8
    else:
        # BEGIN, counter, row, [tags], event, COMMIT (+ one INSERT each for metrics and
        # edges); the event is one round trip: MySQL sends the feed's bump and the INSERT
        # together, SQLite numbers it in the INSERT under its database lock
        assert plain == 5 and one_tag == 6
        assert everything == 8
    first = _cost(count, lambda: _save(backend, f"new-{uuid.uuid4().hex}")())
    # a new model: a transaction that also creates its row (and two events in one round trip)
    assert first <= plain + 6


def test_event_log_reads_and_the_event_of_a_write(
    wired: tuple[ModelRegistry, Counter], engine: str
) -> None:
    """A page of the feed is one round trip, a model's history two (its row, then the page);
    a write's event adds one (the feed's counter and the INSERT, sent together)."""
    reg, count = wired
    for i in range(5):
        reg.save_model(i, "m", tags={"k": str(i)})
    assert _cost(count, lambda: reg.events(2, limit=2)) == 1
    assert _cost(count, lambda: reg.history(page_size=2)) == 1
    assert _cost(count, lambda: reg.history("m", actions="tag.set")) == 2
    assert _cost(count, lambda: reg.consumer_position("c")) == 1
    # BEGIN, the version's row, the tag's value before, the upsert, the event, COMMIT
    assert _cost(count, lambda: reg.set_tag("m", 1, "k", "v")) == 6
