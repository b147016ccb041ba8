"""The event log (SPEC section 10): one event per committed change and none for one that rolled
back; dense, commit-ordered feed ids under concurrent writers; history across renames and after
deletes; where an alias pointed at any moment; durable consumers."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

import registry_core
from registry_core import Event, InvalidInputError, ModelRegistry, NotFoundError
from registry_core.sqlbackend import SQLMetadataBackend
from registry_core.stores import open_store

pytestmark = pytest.mark.registry_capabilities("events")


def _feed(reg: ModelRegistry, after: int = 0) -> list[Event]:
    return list(reg.events(after, limit=1000))


def _since(reg: ModelRegistry, call: object) -> list[Event]:
    """The events a call records."""
    before = int(reg.events(limit=1000).next_page_token or 0)
    while True:  # the feed's end
        page = reg.events(before, limit=1000)
        if not page.items:
            break
        before = int(page.next_page_token or 0)
    assert callable(call)
    call()
    return _feed(reg, before)


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_each_change_records_one_event_with_what_changed(registry: ModelRegistry) -> None:
    reg = registry
    first = _since(reg, lambda: reg.save_model(1, "m", tags={"a": "1"}, metrics={"x": 0.5}))
    assert [(e.action, e.name, e.version) for e in first] == [
        ("model.created", "m", None),
        ("version.created", "m", "1"),
    ]
    created = first[1].detail
    assert created["tags"] == {"a": "1"} and created["metrics"] == {"x": 0.5}
    assert created["size"] > 0 and str(created["checksum"]).startswith("sha256:")
    assert created["storage_path"] == reg.get_version("m", 1).storage_path
    with pytest.raises(TypeError):
        created["tags"] = {}  # type: ignore[index]
    reg.save_model(2, "m")
    steps: list[tuple[object, str, str | None, dict[str, object]]] = [
        (lambda: reg.save_model(3, "m"), "version.created", "3", {}),
        (lambda: reg.set_alias("m", "champion", 1), "alias.set", "1", {"before": None}),
        (lambda: reg.set_alias("m", "champion", 2), "alias.set", "2", {"before": "1"}),
        (lambda: reg.set_tag("m", 1, "a", "2"), "tag.set", "1", {"before": "1", "after": "2"}),
        (lambda: reg.set_tag("m", 1, "a", "2"), "tag.set", "1", {"before": "2", "after": "2"}),
        (lambda: reg.delete_tag("m", 1, "a"), "tag.deleted", "1", {"before": "2"}),
        (lambda: reg.set_model_tag("m", "k", "v"), "model_tag.set", None, {"after": "v"}),
        (lambda: reg.delete_model_tag("m", "k"), "model_tag.deleted", None, {"before": "v"}),
        (
            lambda: reg.update_model("m", description="d"),
            "model.updated",
            None,
            {"description": {"before": None, "after": "d"}},
        ),
        (
            lambda: reg.update_version("m", 1, description="v"),
            "version.updated",
            "1",
            {"description": {"before": None, "after": "v"}},
        ),
        (
            lambda: reg.rename_model("m", "n"),
            "model.renamed",
            None,
            {"name": {"before": "m", "after": "n"}},
        ),
        (lambda: reg.delete_alias("n", "champion"), "alias.deleted", "2", {"before": "2"}),
        (lambda: reg.delete_version("n", 3), "version.deleted", "3", {}),
        (lambda: reg.delete_model("n"), "model.deleted", None, {"versions": 2}),
    ]
    for call, action, version, detail in steps:
        got = _since(reg, call)
        assert [(e.action, e.version) for e in got] == [(action, version)], action
        for key, value in detail.items():
            assert got[0].detail[key] == value, (action, key)
        assert got[0].origin is None and got[0].at.tzinfo is not None
    ids = [e.id for e in _feed(reg)]
    assert ids == list(range(1, len(ids) + 1))


@pytest.mark.registry_capabilities("aliases", "lineage", "model-tags")
def test_no_event_for_a_change_that_did_not_happen(registry: ModelRegistry) -> None:
    reg = registry
    reg.save_model(1, "m")
    reg.save_model(2, "other")
    failing: list[Callable[[], object]] = [
        lambda: reg.save_model(2, "m", parents=[("absent", 1)]),  # rolled back
        lambda: reg.set_tag("m", 9, "k", "v"),
        lambda: reg.delete_tag("m", 1, "k"),
        lambda: reg.delete_version("m", 9),
        lambda: reg.set_alias("m", "champion", 9),
        lambda: reg.delete_alias("m", "champion"),
        lambda: reg.delete_model_tag("m", "k"),
        lambda: reg.update_model("absent", description="d"),
        lambda: reg.update_version("m", 9, description="d"),
        lambda: reg.delete_model("absent"),
    ]
    for call in failing:
        with pytest.raises(NotFoundError):
            call()
    with pytest.raises(registry_core.AlreadyExistsError):
        reg.rename_model("m", "other")
    assert [e.action for e in _feed(reg)] == ["model.created", "version.created"] * 2
    assert [v.version for v in reg.list_versions("m")] == ["1"]


@pytest.mark.registry_capabilities("model-tags")
def test_actor_from_connect_the_environment_or_the_os_user(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    art = tmp_path / "a"
    with registry_core.connect(db_url, artifacts=art, actor="alice") as reg:
        reg.save_model(1, "m")
    monkeypatch.setenv("MODEL_REGISTRY_ACTOR", "ci-bot")
    with registry_core.connect(db_url, artifacts=art) as reg:
        reg.set_tag("m", 1, "k", "v")
        assert [e.actor for e in _feed(reg)] == ["alice", "alice", "ci-bot"]
        assert reg.history(actor="ci-bot").items[0].action == "tag.set"


@pytest.mark.registry_capabilities("aliases", "model-tags")
def test_history_follows_renames_and_keeps_a_deleted_models_events(
    registry: ModelRegistry,
) -> None:
    reg = registry
    reg.save_model(1, "a")
    reg.set_tag("a", 1, "k", "v")
    reg.rename_model("a", "b")
    reg.save_model(2, "b")
    reg.save_model(0, "a")  # another model takes the old name
    reg.set_alias("b", "champion", 2)
    b = [(e.action, e.name) for e in reg.history("b")]
    assert b == [
        ("alias.set", "b"),
        ("version.created", "b"),
        ("model.renamed", "b"),
        ("tag.set", "a"),
        ("version.created", "a"),
        ("model.created", "a"),
    ]
    assert [e.action for e in reg.history("a")] == ["version.created", "model.created"]
    # filters combine with AND; keyset pages continue exactly
    assert [e.version for e in reg.history("b", actions=["version.created"])] == ["2", "1"]
    assert [e.action for e in reg.history("b", version=1, actions="tag.set")] == ["tag.set"]
    pages, token = [], None
    while True:
        page = reg.history("b", page_size=4, page_token=token)
        pages.append([e.id for e in page])
        token = page.next_page_token
        if token is None:
            break
    assert [i for p in pages for i in p] == [e.id for e in reg.history("b")]
    assert [len(p) for p in pages] == [4, 2]
    with pytest.raises(InvalidInputError):
        reg.history("a", page_size=4, page_token=reg.history("b", page_size=4).next_page_token)
    with pytest.raises(InvalidInputError):
        reg.history("b", actions="model.exploded")
    with pytest.raises(InvalidInputError):
        reg.history("b", since=datetime(2020, 1, 1))  # naive
    # a deleted model's events stay, under its name
    reg.delete_model("b")
    assert [e.action for e in reg.history("b")][:2] == ["model.deleted", "alias.set"]
    everything = reg.history(page_size=1000).items
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    cut = everything[3].at
    assert all(e.at >= cut for e in reg.history(since=cut))
    assert all(e.at < cut for e in reg.history(until=cut))


def _tick() -> datetime:
    """A moment strictly between two changes (the clock moves on before and after it)."""
    time.sleep(0.002)
    now = datetime.now(timezone.utc)
    time.sleep(0.002)
    return now


@pytest.mark.registry_capabilities("aliases", "model-tags")
def test_as_of_answers_in_every_interval_of_an_alias_life(registry: ModelRegistry) -> None:
    reg = registry
    for i in range(3):
        reg.save_model(f"v{i + 1}", "m")
    before_first = _tick()
    reg.set_alias("m", "champion", 1)
    on_1 = _tick()
    reg.set_alias("m", "champion", 2)
    on_2 = _tick()
    reg.rename_model("m", "n")
    reg.delete_alias("n", "champion")
    deleted = _tick()
    reg.set_alias("n", "champion", 3)
    on_3 = _tick()
    reg.delete_version("n", 3)  # takes the alias with it
    after_version_gone = _tick()
    with pytest.raises(NotFoundError):
        reg.get_version("n", alias="champion", as_of=before_first)
    assert reg.get_version("n", alias="champion", as_of=on_1).version == "1"
    assert reg.load_model("n", alias="champion", as_of=on_2) == "v2"
    with pytest.raises(NotFoundError):
        reg.get_version("n", alias="champion", as_of=deleted)
    gone = reg.get_version("n", alias="champion", as_of=on_3)  # deleted since: as saved
    assert (gone.version, gone.name) == ("3", "n")
    with pytest.raises(NotFoundError):
        reg.get_version("n", alias="champion", as_of=after_version_gone)
    with pytest.raises(InvalidInputError):
        reg.get_version("n", alias="champion", as_of=datetime(2030, 1, 1))  # naive
    with pytest.raises(NotFoundError):
        reg.get_version("n", alias="staging", as_of=on_2)


def test_events_wait_for_the_first_new_event(registry: ModelRegistry) -> None:
    reg = registry
    reg.save_model(1, "m")
    end = reg.events().next_page_token
    started = time.monotonic()
    assert reg.events(end, wait=0.3).items == []
    assert time.monotonic() - started >= 0.25
    timer = threading.Timer(0.3, lambda: reg.set_tag("m", 1, "k", "v"))
    timer.start()
    try:
        page = reg.events(end, wait=20)
    finally:
        timer.join()
    assert [e.action for e in page] == ["tag.set"]
    assert page.next_page_token == str(page.items[0].id)


@pytest.mark.registry_capabilities("aliases")
def test_a_durable_consumer_resumes_where_it_acknowledged(registry: ModelRegistry) -> None:
    reg = registry
    assert reg.consumer_position("mailer") == 0
    reg.save_model(1, "m")
    reg.set_alias("m", "prod", 1)
    page = reg.events(reg.consumer_position("mailer"), limit=2)
    reg.acknowledge("mailer", page.items[-1].id)
    assert reg.consumer_position("mailer") == 2
    assert [e.action for e in reg.events(reg.consumer_position("mailer"))] == ["alias.set"]
    with pytest.raises(InvalidInputError):
        reg.acknowledge("mailer", 99)


@pytest.mark.registry_capabilities("migrations", "sql", "aliases")
def test_a_process_opened_before_schema_008_records_its_events_once_it_exists(
    db_url: str, tmp_path: Path
) -> None:
    old_backend = registry_core.open_backend(db_url)
    old_backend.migrate(target="007")
    old = ModelRegistry(old_backend, open_store(str(tmp_path / "art")))
    try:
        old.save_model(1, "m")  # no log yet: no event
        with registry_core.open_backend(db_url) as upgrader:
            assert upgrader.migrate() == ["008"]
        old.set_alias("m", "champion", 1)
        old.save_model(2, "m")
        assert isinstance(old_backend, SQLMetadataBackend) and old_backend.queries.level == 8
        assert [e.action for e in old.events()] == ["alias.set", "version.created"]
    finally:
        old.close()


# -- the feed under concurrent writers ----------------------------------------------------------
WRITERS = 4
SAVES = 10


def _write_many(url: str, artifacts: str, i: int, start_at: float) -> None:
    """A child process: SAVES saves, alternating a model of its own and one they share."""
    with registry_core.connect(url, artifacts=artifacts, actor=f"w{i}") as reg:
        time.sleep(max(0.0, start_at - time.time()))
        for n in range(SAVES):
            reg.save_model(n, "shared" if n % 2 else f"own{i}")


@pytest.mark.slow
def test_feed_ids_are_dense_and_in_commit_order_while_processes_write(
    registry: ModelRegistry, db_url: str, tmp_path: Path
) -> None:
    """Each poll continues exactly where the last one ended: no event is seen twice, none is
    skipped (an id below one already seen never appears later), ids have no gap."""
    registry.save_model("seed", "shared")  # 2 events
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0
    procs = [
        ctx.Process(target=_write_many, args=(db_url, str(tmp_path / "a"), i, start_at))
        for i in range(WRITERS)
    ]
    for p in procs:
        p.start()
    seen: list[int] = []
    token: str | None = None
    polls = 0
    expected = 2 + WRITERS * (SAVES + 1)  # each writer's own model adds a model.created
    deadline = time.monotonic() + 120
    while len(seen) < expected and time.monotonic() < deadline:
        page = registry.events(token, limit=7, wait=0.2)
        ids = [e.id for e in page]
        if ids:  # this page starts right after the last one
            assert ids == list(range(int(token or 0) + 1, int(token or 0) + 1 + len(ids)))
        token = page.next_page_token
        seen += ids
        polls += 1
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    seen += [e.id for e in registry.events(token, limit=1000)]
    assert seen == list(range(1, expected + 1))
    assert polls > 3
    saves = [e for e in registry.events(limit=1000) if e.action == "version.created"]
    shared = [int(e.version or 0) for e in saves if e.name == "shared"]
    assert shared == sorted(shared)  # numbers given under one lock commit in their order


# -- copies carry events --------------------------------------------------------------------------
def _carried(e: Event) -> tuple[object, ...]:
    return (e.at, e.actor, e.action, e.name, e.version, dict(e.detail))


@pytest.mark.registry_capabilities("copy", "aliases", "model-tags")
def test_a_copy_carries_each_models_events_once(db_url: str, tmp_path: Path) -> None:
    """Source: a SQLite file; target: the engine under test; and back again, where every
    event first happened: nothing comes twice."""
    src, src_art = f"sqlite:///{tmp_path / 'src.db'}", tmp_path / "src-art"
    dst_art = tmp_path / "dst-art"
    with registry_core.connect(src, artifacts=src_art, actor="ann") as source:
        source.save_model(1, "a", tags={"k": "v"})
        source.set_alias("a", "prod", 1)
        source.rename_model("a", "b")
        source.save_model(2, "c")
        source.save_model(3, "gone")
        source.delete_model("gone")
        source_id = source.database_stats().registry_id
        before = list(source.events())
    with registry_core.connect(db_url, artifacts=dst_art, actor="bob") as target:
        target.save_model(0, "local")  # the target's own events come first
    report = registry_core.copy_registry(
        src, db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
    )
    carried = [e for e in before if e.name != "gone"]
    assert report.events_copied == len(carried)
    with registry_core.connect(db_url, artifacts=dst_art) as target:
        feed = list(target.events())
        assert [e.id for e in feed] == list(range(1, len(feed) + 1))
        copied = [e for e in feed if e.origin is not None]
        assert [_carried(e) for e in copied] == [_carried(e) for e in carried]
        assert [e.origin for e in copied] == [(source_id, e.id) for e in carried]
        assert [e.action for e in target.history("b")] == [
            "model.renamed",
            "alias.set",
            "version.created",
            "model.created",
        ]
        on = carried[2].at  # the alias.set
        assert target.get_version("b", alias="prod", as_of=on).version == "1"
    again = registry_core.copy_registry(
        src, db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
    )
    assert again.events_copied == 0
    with registry_core.connect(src, artifacts=src_art) as source:
        source.set_tag("b", 1, "k", "w")
    more = registry_core.copy_registry(
        src, db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
    )
    assert more.events_copied == 1
    back = registry_core.copy_registry(
        db_url, src, source_artifacts=dst_art, target_artifacts=src_art, progress=False
    )
    with registry_core.connect(src, artifacts=src_art) as source:
        # only the target's own model came back, with its two events
        assert back.events_copied == 2
        assert [e.action for e in source.history("local")] == ["version.created", "model.created"]
