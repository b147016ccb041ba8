"""Through a connection pooler in transaction mode (the `pgbouncer` engine: Debian's PgBouncer in
front of the postgresql engine's server, tests/localservers.py) every call works: one client's
statements run on several server sessions there, so no server-side prepared statement may be
used and the migration lock must live in a transaction. The same tests run on the four engines.
Other modules run some of their tests on this engine too (`dbsources.WITH_POOLER`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import dbsources
import registry_core
from registry_core import InvalidInputError, ModelRegistry

pytestmark = pytest.mark.parametrize("engine", dbsources.WITH_POOLER)

THREADS = 4
SAVES = 15


def test_threads_saving_and_reading_through_one_registry(registry: ModelRegistry) -> None:
    errors: list[BaseException] = []
    wrong: list[str] = []

    def work(t: int) -> None:
        try:
            for i in range(SAVES):  # the same statements again and again: psycopg would
                name = f"t{t}"  # prepare them after 5 runs
                v = registry.save_model({"t": t, "i": i}, name, tags={"i": str(i)})
                if registry.load_model(name, v.version) != {"t": t, "i": i}:
                    wrong.append(f"{name} v{v.version}")
                assert registry.get_version(name).tags == {"i": str(i)}
                registry.list_models()
                registry.search_versions(f"name = '{name}'", page_size=5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == [] and wrong == []
    for t in range(THREADS):
        assert [v.version for v in registry.list_versions(f"t{t}")] == [
            str(i) for i in range(1, SAVES + 1)
        ]


def test_migrate_down_and_up_again_through_the_pooler(db_url: str, tmp_path: Path) -> None:
    with registry_core.connect(db_url, artifacts=tmp_path / "a") as reg:
        reg.save_model(1, "m")
        status = reg.backend.migration_status()
        reg.backend.downgrade("001")
        assert reg.backend.migration_status().current == "001"
        reg.backend.migrate()
        assert reg.backend.migration_status().current == status.current
        assert reg.load_model("m") == 1
    # the migration lock was left on no server session: another migrator gets it at once
    with registry_core.open_backend(db_url) as other:
        other.downgrade("002")
        assert other.migrate()


def test_prepare_threshold_is_an_option_of_the_postgresql_url(db_url: str, engine: str) -> None:
    if engine not in ("postgresql", "pgbouncer"):
        pytest.skip("psycopg's option: the other drivers prepare nothing server-side")
    for value in ("none", "0", "3"):
        with registry_core.open_backend(f"{db_url}?prepare_threshold={value}") as b:
            b.migrate()
            assert b.list_models() == []
    with pytest.raises(InvalidInputError, match="prepare_threshold"):
        registry_core.open_backend(f"{db_url}?prepare_threshold=soon")
    with registry_core.open_backend(db_url) as b:
        # found at the first connection: the pooler's session id is not the server's pid
        assert b.pooler is (engine == "pgbouncer")


def test_no_migration_lock_is_left_on_a_server_session(db_url: str, engine: str) -> None:
    if engine not in ("postgresql", "pgbouncer"):
        pytest.skip("PostgreSQL's advisory locks: MySQL's GET_LOCK needs a session pooler")
    with registry_core.open_backend(db_url) as b:
        b.migrate()
        stop = threading.Event()

        def busy() -> None:  # other clients keep the pooler's server sessions changing hands
            with registry_core.open_backend(db_url) as other:
                while not stop.is_set():
                    other.query("SELECT pg_sleep(0.001)")

        readers = [threading.Thread(target=busy) for _ in range(THREADS)]
        for r in readers:
            r.start()
        try:
            for _ in range(3):
                b.downgrade("001")
                b.migrate()
        finally:
            stop.set()
            for r in readers:
                r.join()
        # pg_locks shows every session's locks, whichever server session we are on
        held = b.query(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert held == [(0,)]
