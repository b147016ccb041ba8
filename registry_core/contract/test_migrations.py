"""The migration runner on every database: history, checksums, downgrade, failure handling,
concurrent migrators, upgrades from every schema version, and users during an upgrade."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import registry_core
from registry_core import MigrationError, cli
from registry_core.migrator import Migration, Migrator, load_migrations
from registry_core.sqlbackend import SQLMetadataBackend
from registry_core.testing.databases import SERVERS

SHIPPED = load_migrations()
LATEST = SHIPPED[-1].version
NEXT = f"{int(LATEST) + 1:03d}"  # the version of the made-up migrations below
# the table each migration creates, to see it come and go
TABLE_OF = {
    "001": "mr_models",
    "002": "mr_model_metrics",
    "003": "mr_model_lineage",
    "004": "mr_model_aliases",
    "005": "mr_registered_model_tags",
}


@pytest.fixture
def fresh(db_url: str) -> Iterator[SQLMetadataBackend]:
    """A backend on an empty, unmigrated database."""
    b = registry_core.open_backend(db_url)
    assert isinstance(b, SQLMetadataBackend)
    yield b
    b.close()


def _tables(b: SQLMetadataBackend) -> set[str]:
    return {t for t in TABLE_OF.values() if b.query(b.dialect.table_exists_sql, {"name": t})}


def _save(b: SQLMetadataBackend, name: str, **extra: object) -> str:
    return b.create_version(
        name,
        description="d",
        tags={"k": "v"},
        file_size_bytes=3,
        checksum="sha256:00",
        storage_path=f"models/{name}/{uuid.uuid4().hex}",
        **extra,  # type: ignore[arg-type]
    ).version


@pytest.mark.registry_capabilities("migrations", "sql")
def test_migrate_records_history_with_checksums(fresh: SQLMetadataBackend) -> None:
    assert fresh.migration_status().pending == SHIPPED
    assert fresh.migrate() == [m.version for m in SHIPPED]
    status = fresh.migration_status()
    assert status.up_to_date and status.current == LATEST
    assert [(a.version, a.name, a.checksum, a.dirty) for a in status.applied] == [
        (m.version, m.name, m.checksum, False) for m in SHIPPED
    ]
    assert all(a.applied_at.endswith("Z") and len(a.applied_at) == 27 for a in status.applied)
    assert fresh.migrate() == []


@pytest.mark.registry_capabilities("sql")
def test_migrate_to_a_target_then_the_rest(fresh: SQLMetadataBackend) -> None:
    assert fresh.migrate(target="002") == ["001", "002"]
    assert _tables(fresh) == {"mr_models", "mr_model_metrics"}
    assert fresh.migrate() == [m.version for m in SHIPPED[2:]]


@pytest.mark.registry_capabilities("migrations", "sql")
def test_an_applied_migration_whose_file_changed_is_refused(fresh: SQLMetadataBackend) -> None:
    fresh.migrate()
    edited = dataclasses.replace(SHIPPED[1], up=SHIPPED[1].up + "\n-- edited\n")
    fresh.migrations = [SHIPPED[0], edited, *SHIPPED[2:]]
    with pytest.raises(MigrationError, match="002_add_performance_metrics"):
        fresh.migrate()
    assert fresh.migration_status().changed == ["002_add_performance_metrics"]


@pytest.mark.registry_capabilities("aliases", "lineage", "metrics", "migrations", "sql")
def test_downgrade_to_every_version_and_upgrade_again(fresh: SQLMetadataBackend) -> None:
    fresh.migrate()
    _save(fresh, "m", metrics={"a": 1.0})
    for target in [f"{v:03d}" for v in range(int(LATEST) - 1, -1, -1)]:
        reverted = fresh.downgrade(target)
        assert reverted == [f"{int(target) + 1:03d}"]
        assert fresh.migration_status().current == (None if target == "000" else target)
        assert _tables(fresh) == {TABLE_OF[v] for v in TABLE_OF if v <= target}
    assert fresh.migrate() == [m.version for m in SHIPPED]
    assert _tables(fresh) == set(TABLE_OF.values())
    assert _save(fresh, "m", metrics={"a": 2.0}, parents=[]) == "1"
    fresh.set_alias("m", "champion", "1")
    assert fresh.downgrade("001") == [m.version for m in reversed(SHIPPED[1:])]
    assert fresh.get_version("m").version == "1"  # 001's data stays


BROKEN = Migration(
    NEXT,
    "broken",
    "CREATE TABLE rc_broken_half (x INTEGER);\nINSERT INTO rc_no_such_table VALUES (1);\n",
    "DROP TABLE rc_broken_half;\n",
)


@pytest.mark.registry_capabilities("migrations", "sql")
def test_a_failed_migration_rolls_back_or_leaves_a_visible_dirty_state(
    fresh: SQLMetadataBackend, db_url: str, tmp_path: Path
) -> None:
    fresh.migrate()
    fresh.migrations = [*SHIPPED, BROKEN]
    with pytest.raises(MigrationError, match=f"{NEXT}_broken failed at statement 2"):
        fresh.migrate()
    half_applied = bool(fresh.query(fresh.dialect.table_exists_sql, {"name": "rc_broken_half"}))
    status = fresh.migration_status()
    if fresh.dialect.transactional_ddl:
        # SQLite and PostgreSQL: all of it rolled back; nothing dirty, 005 still pending
        assert not half_applied
        assert status.dirty is None and [m.version for m in status.pending] == [NEXT]
        return
    # MySQL committed the CREATE TABLE: the history says so, and everything refuses to go on
    assert half_applied
    assert status.dirty is not None and status.dirty.version == NEXT
    with pytest.raises(MigrationError, match="dirty"):
        fresh.migrate()
    with pytest.raises(MigrationError, match="repair"):
        registry_core.connect(db_url, artifacts=tmp_path)
    assert cli.run(["status", "--url", db_url]) == cli.EXIT_DIRTY
    assert cli.run(["migrate", "--url", db_url]) == cli.EXIT_DIRTY
    assert status.level == int(LATEST)  # the dirty migration's tables are not used
    # Recovery 1: the operator undoes the half, forgets 005, ships a fixed one, migrates
    fresh.execute("DROP TABLE rc_broken_half")
    assert fresh.repair(applied=False) == NEXT
    assert fresh.repair(applied=False) is None
    fixed = dataclasses.replace(BROKEN, up="CREATE TABLE rc_broken_half (x INTEGER);\n")
    fresh.migrations = [*SHIPPED, fixed]
    assert fresh.migrate() == [NEXT]
    assert fresh.migration_status().up_to_date
    assert fresh.downgrade(LATEST) == [NEXT]
    # Recovery 2: the operator completes the migration by hand and records it as applied
    fresh.migrations = [*SHIPPED, BROKEN]
    with pytest.raises(MigrationError):
        fresh.migrate()
    fresh.execute("CREATE TABLE rc_no_such_table (x INTEGER)")
    fresh.execute("INSERT INTO rc_no_such_table VALUES (1)")
    assert fresh.repair(applied=True) == NEXT
    assert fresh.migration_status().up_to_date and fresh.migration_status().current == NEXT
    fresh.execute("DROP TABLE rc_no_such_table")
    assert fresh.downgrade(LATEST) == [NEXT]


BAD_DOWN = Migration(
    NEXT,
    "bad_down",
    "CREATE TABLE rc_t5 (x INTEGER);\n",
    "DROP TABLE rc_t5;\nDROP TABLE rc_missing_zz;\n",
)


@pytest.mark.registry_capabilities("migrations", "sql")
def test_a_failed_down_migration_is_rolled_back_or_marked(fresh: SQLMetadataBackend) -> None:
    fresh.migrations = [*SHIPPED, BAD_DOWN]
    fresh.migrate()
    with pytest.raises(MigrationError, match=f"{NEXT}_bad_down failed at statement 2"):
        fresh.downgrade(LATEST)
    status = fresh.migration_status()
    still_there = bool(fresh.query(fresh.dialect.table_exists_sql, {"name": "rc_t5"}))
    if fresh.dialect.transactional_ddl:
        assert still_there and status.current == NEXT and status.dirty is None
        return
    assert not still_there  # MySQL dropped rc_t5 before failing
    assert status.dirty is not None and status.dirty.direction == "down"
    assert status.level == int(LATEST)
    # none of it is left: forget it
    assert fresh.repair(applied=False) == NEXT
    assert fresh.migration_status().current == LATEST


@pytest.mark.registry_capabilities("migrations", "sql")
def test_targets_are_numbers_not_strings(fresh: SQLMetadataBackend) -> None:
    assert fresh.migrate(target="2") == ["001", "002"]
    pending = {m.version for m in SHIPPED[2:]}
    assert {label[:3] for label, _ in fresh.dry_run()} == pending  # only what's pending
    down_labels = [label for label, _ in fresh.dry_run(down=True)]
    assert down_labels[0] == "002_add_performance_metrics"
    assert down_labels[-1] == "001_create_model_registry"
    assert fresh.downgrade("1") == ["002"]
    with pytest.raises(MigrationError, match="number"):
        fresh.downgrade("latest")


def _connect_and_migrate(url: str, start_at: float) -> list[str]:
    """Child process: wait for the common start, then migrate."""
    b = registry_core.open_backend(url)
    try:
        time.sleep(max(0.0, start_at - time.time()))
        return b.migrate()
    finally:
        b.close()


@pytest.mark.registry_capabilities("migrations")
@pytest.mark.registry_pooled  # also through a pooler (registry-core's run: PgBouncer)
@pytest.mark.slow
def test_concurrent_migrators_apply_each_migration_once(db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0
    with ctx.Pool(4) as pool:
        results = pool.starmap(_connect_and_migrate, [(db_url, start_at)] * 4)
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in SHIPPED]  # each exactly once, across processes
    with registry_core.open_backend(db_url) as b:
        assert b.migration_status().up_to_date


@pytest.mark.registry_capabilities("aliases", "lineage", "metrics", "sql")
@pytest.mark.parametrize("start", [m.version for m in SHIPPED[:-1]])
def test_upgrade_from_every_version_keeps_the_data(db_url: str, start: str) -> None:
    level = int(start)
    with registry_core.open_backend(db_url) as old:
        assert isinstance(old, SQLMetadataBackend)
        old.migrate(target=start)  # this backend now speaks schema `start`
        for i in range(3):
            _save(old, "a", metrics={"acc": i / 10} if level >= 2 else None)
        _save(old, "b", parents=[("a", "3")] if level >= 3 else [])
        old.set_tag("a", "2", "stage", "prod")
        if level < 3:
            old.delete_version("a", "3")
    with registry_core.open_backend(db_url) as new:
        assert isinstance(new, SQLMetadataBackend)
        assert new.migrate() == [m.version for m in SHIPPED if m.version > start]
        a = new.list_versions("a")
        assert [v.version for v in a] == (["1", "2", "3"] if level >= 3 else ["1", "2"])
        assert a[1].tags == {"k": "v", "stage": "prod"}
        if level >= 2:
            assert a[1].metrics == {"acc": 0.1}
        if level >= 3:
            assert [(v.name, v.version) for v in new.lineage("b", "1")] == [("a", "3")]
        assert _save(new, "a", metrics={"acc": 1.0}, parents=[("b", "1")]) == "4"
        new.set_alias("a", "champion", "4")
        assert new.best_version("a", "acc").version == "4"


@pytest.mark.registry_capabilities("metrics", "migrations", "sql")
@pytest.mark.registry_pooled  # also through a pooler (registry-core's run: PgBouncer)
def test_a_process_opened_before_the_upgrade_keeps_working(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service opened at schema 001 (one backend reading, one saving) goes on while another
    process upgrades to the latest. The upgrade pauses inside migration 002's transaction until
    the reader has read three more times, so reads provably overlap it; saves may wait for the
    migration's locks (PostgreSQL locks mr_model_versions while a foreign key to it is created,
    SQLite has one writer), but none fails, and numbering goes on without a gap."""
    with registry_core.open_backend(db_url) as setup:
        setup.migrate(target="001")
    reader = registry_core.open_backend(db_url)  # both opened at schema 001
    writer = registry_core.open_backend(db_url)
    assert isinstance(writer, SQLMetadataBackend)
    _save(writer, "live")
    reads: list[int] = [0]
    saved: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def keep(work: Callable[[], object]) -> None:
        try:
            while not stop.is_set():
                work()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def read() -> None:
        reader.list_versions("live")
        reads[0] += 1

    run_script = Migrator._run_script

    def pausing(self: Migrator, s: Any, m: Migration, text: str, **kw: Any) -> None:
        run_script(self, s, m, text, **kw)
        if m.version == "002" and text == m.up:  # inside its transaction, before commit
            seen, deadline = reads[0], time.monotonic() + 30
            while reads[0] < seen + 3 and not errors and time.monotonic() < deadline:
                time.sleep(0.01)
            assert reads[0] >= seen + 3, "no read went through during the migration"

    monkeypatch.setattr(Migrator, "_run_script", pausing)
    threads = [
        threading.Thread(target=keep, args=(read,)),
        threading.Thread(target=keep, args=(lambda: saved.append(_save(writer, "live")),)),
    ]
    try:
        for t in threads:
            t.start()
        with registry_core.connect(db_url, artifacts=tmp_path) as upgraded:
            assert upgraded.backend.migration_status().current == LATEST
            upgraded.save_model(0, "new", metrics={"acc": 1.0})
        time.sleep(0.2)  # the old service goes on after the upgrade
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert saved == [str(i) for i in range(2, len(saved) + 2)]
    assert _save(writer, "live") == str(len(saved) + 2)
    reader.close()
    writer.close()
    with registry_core.connect(db_url, artifacts=tmp_path) as reg:
        assert len(reg.list_versions("live")) == len(saved) + 2
        assert reg.best_version("new", "acc").version == "1"
        # a process at the latest schema survives a downgrade under it (it re-reads the level)
        with registry_core.open_backend(db_url) as admin:
            admin.downgrade("001")
        assert len(reg.list_versions("live")) == len(saved) + 2
        assert reg.get_version("new").metrics == {}


@pytest.mark.registry_capabilities("migrations", "sql")
def test_dry_run_sql_is_the_dialect_expansion(fresh: SQLMetadataBackend) -> None:
    statements = fresh.dry_run()
    assert statements[0][0] == "001_create_model_registry"
    assert all("{{" not in sql for _, sql in statements)
    assert len({label for label, _ in statements}) == len(SHIPPED)
    assert fresh.migration_status().current is None  # nothing ran
    assert not _tables(fresh)
    assert fresh.dry_run(down=True) == []


SEED_SQL = """
CREATE TABLE mr_models (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE mr_model_versions (
    id INTEGER PRIMARY KEY, model_id INTEGER NOT NULL, version TEXT NOT NULL, description TEXT,
    storage_path TEXT NOT NULL, file_size_bytes INTEGER DEFAULT 0, created_at TEXT NOT NULL,
    FOREIGN KEY (model_id) REFERENCES mr_models(id) ON DELETE CASCADE,
    UNIQUE(model_id, version));
CREATE TABLE mr_model_tags (
    id INTEGER PRIMARY KEY, model_version_id INTEGER NOT NULL, tag_key TEXT NOT NULL,
    tag_value TEXT,
    FOREIGN KEY (model_version_id) REFERENCES mr_model_versions(id) ON DELETE CASCADE,
    UNIQUE(model_version_id, tag_key));
CREATE INDEX idx_mr_models_name ON mr_models(name);
CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL);
INSERT INTO schema_migrations VALUES ('001', datetime('now'));
INSERT INTO mr_models VALUES (1, 'linear_predictor', 'seed', '2025-01-01T00:00:00',
    '2025-01-01T00:00:00');
INSERT INTO mr_model_versions VALUES (1, 1, '1', 'v1', '/old/models/1.pkl', 10,
    '2025-01-01T00:00:00');
INSERT INTO mr_model_versions VALUES (2, 1, '10', 'v10', '/old/models/10.pkl', 30,
    '2025-01-02 00:00:00');
INSERT INTO mr_model_tags VALUES (1, 2, 'type', 'regression');
"""


# SQLite only: the seed document's SQL is SQLite's. On PostgreSQL it would make tables without
# auto-increment keys and MySQL refuses it, so those are refused (next test) instead of adopted.
@pytest.mark.registry_capabilities("migrations", "sql")
@pytest.mark.registry_engines("sqlite")
def test_adopts_a_database_made_from_the_seed_document(db_url: str, tmp_path: Path) -> None:
    import sqlite3

    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.executescript(SEED_SQL)
    with registry_core.open_backend(db_url) as b:
        assert isinstance(b, SQLMetadataBackend)
        assert b.migration_status().current is None  # the seed's own history does not count
        assert b.migrate() == [m.version for m in SHIPPED]
        assert b.migration_status().up_to_date
        versions = b.list_versions("linear_predictor")
        assert [(v.version, v.file_size_bytes) for v in versions] == [("1", 10), ("10", 30)]
        assert versions[1].tags == {"type": "regression"}
        assert versions[1].created_at.year == 2025
        assert b.find_by_tag("type", "regression")[0].version == "10"
        assert _save(b, "linear_predictor") == "11"  # the counter starts past the highest


@pytest.mark.registry_capabilities("sql")
@pytest.mark.registry_engines(*SERVERS)
def test_foreign_registry_tables_are_refused_not_overwritten(fresh: SQLMetadataBackend) -> None:
    fresh.execute(
        "CREATE TABLE mr_models (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE)"
    )
    fresh.execute("INSERT INTO mr_models VALUES (1, 'kept')")
    with pytest.raises(MigrationError, match="adopting a hand-made schema"):
        fresh.migrate()
    assert fresh.query("SELECT name FROM mr_models") == [("kept",)]
