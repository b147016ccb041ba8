"""An open registry while other processes migrate: reading the migration status never waits for
a writer, and a registry whose schema another process downgraded and upgraded again carries on
with its next call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import registry_core
from registry_core import ModelRegistry, RegistryError
from registry_core.sqlbackend import SQLMetadataBackend

#: seconds a call may take before it counts as waiting for the writer (SQLite's default busy
#: timeout is 30 s, the servers' lock waits longer)
WAIT_LIMIT = 20


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, errors


@pytest.mark.registry_capabilities("migrations", "sql")
def test_reading_the_migration_status_does_not_wait_for_a_writer(
    db_url: str, tmp_path: Path
) -> None:
    with registry_core.connect(db_url, artifacts=tmp_path / "a") as reg:
        reg.save_model(1, "m")
    writer = registry_core.open_backend(db_url)
    assert isinstance(writer, SQLMetadataBackend)
    try:
        # another process in a write transaction (SQLite: it holds the database's write lock)
        with writer._transaction(write=True) as s:
            s.rowcount("UPDATE mr_models SET description = 'busy' WHERE name = 'm'")

            def open_and_read() -> None:
                with registry_core.connect(db_url, artifacts=tmp_path / "a") as other:
                    assert other.backend.migration_status().up_to_date
                    assert [m.name for m in other.list_models()] == ["m"]
                    assert other.load_model("m") == 1

            t, errors = _in_thread(open_and_read)
            t.join(WAIT_LIMIT)
            waited = t.is_alive()
        t.join()
    finally:
        writer.close()
    assert not waited, "connect() or a read waited for another process's write transaction"
    assert errors == []


@pytest.mark.registry_capabilities("metrics", "migrations")
def test_a_call_while_the_schema_is_gone_is_schema_out_of_date_then_carries_on(
    registry: ModelRegistry, db_url: str
) -> None:
    registry.save_model(1, "m", metrics={"acc": 0.5})
    with registry_core.open_backend(db_url) as admin:
        admin.downgrade("000")  # another process: the tables are gone
        for call in (registry.list_models, lambda: registry.get_version("m")):
            with pytest.raises(registry_core.SchemaOutOfDateError, match="registry-core migrate"):
                call()
        admin.migrate()  # and back
    assert registry.list_models() == []
    assert registry.save_model(2, "m", metrics={"acc": 0.25}).version == "1"
    assert registry.get_version("m").metrics == {"acc": 0.25}


def _downgrade_and_upgrade(db_url: str) -> None:
    """What another process does: the whole schema down and up again."""
    with registry_core.open_backend(db_url) as admin:
        admin.downgrade("000")
        admin.migrate()


@pytest.mark.registry_capabilities("lineage", "metrics", "migrations", "search")
@pytest.mark.parametrize(
    "first_call",
    ["list_models", "save_model", "latest_versions", "stats", "search_versions"],
)
def test_a_registry_carries_on_after_another_process_downgrades_and_upgrades(
    registry: ModelRegistry, db_url: str, first_call: str
) -> None:
    registry.save_model(1, "m", tags={"k": "v"}, metrics={"acc": 0.5})
    assert registry.get_version("m").metrics == {"acc": 0.5}
    assert [v.name for v in registry.search_versions("tags.k = 'v'").items] == ["m"]
    _downgrade_and_upgrade(db_url)
    calls: dict[str, Callable[[], object]] = {
        "list_models": lambda: registry.list_models() == [],
        "save_model": lambda: registry.save_model(2, "m").version == "1",
        "latest_versions": lambda: registry.latest_versions() == [],
        "stats": lambda: registry.stats().total_versions == 0,
        "search_versions": lambda: registry.search_versions("tags.k = 'v'").items == [],
    }
    try:
        assert calls[first_call]()
    except RegistryError as exc:
        if type(exc) is RegistryError:
            pytest.fail(f"the first call after the schema came back raised {exc!r}")
        raise
    # and everything after it
    registry.save_model(3, "n", tags={"k": "v"}, metrics={"acc": 0.25}, parents=[])
    assert registry.load_model("n") == 3
    assert [v.name for v in registry.search_versions("tags.k = 'v'").items] == ["n"]
