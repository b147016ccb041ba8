"""Refusals users handle get errors of their own: a write sent to a server or session that only
reads is a `ReadOnlyError` (a standby during a failover, a read-only server), a write by a user
without the privilege is a `PermissionDeniedError` (a read-only role for serving). Neither leaves
a file behind, and reads keep working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import dbsources
import registry_core
from registry_core import (
    BackendUnavailableError,
    ModelRegistry,
    PermissionDeniedError,
    ReadOnlyError,
    RegistryError,
)
from registry_core.session import Session
from registry_core.sqlbackend import SQLMetadataBackend


def _files(reg: ModelRegistry) -> list[Path]:
    return sorted(p for p in reg.artifacts.root.rglob("*") if p.is_file())


@pytest.fixture
def read_only_session(registry: ModelRegistry, engine: str) -> Iterator[ModelRegistry]:
    """The test's registry with every connection of its pool made read-only."""
    backend = registry.backend
    assert isinstance(backend, SQLMetadataBackend)
    registry.save_model({"w": 1}, "m", tags={"k": "v"})
    from contextlib import ExitStack

    with ExitStack() as stack:  # every connection the pool holds (SQLite: its one)
        conns = [stack.enter_context(backend._checkout()) for _ in range(_pool_size(backend))]
        for conn in conns:
            s = Session(conn, backend.dialect, backend.statements)
            s.control(dbsources.READ_ONLY_SESSION[engine])
            s.close()
    yield registry


def _pool_size(backend: SQLMetadataBackend) -> int:
    pool = getattr(backend, "_pool", None)
    return 1 if pool is None else int(pool.size)


def test_a_write_to_a_read_only_session_is_a_read_only_error(
    read_only_session: ModelRegistry,
) -> None:
    reg = read_only_session
    before = _files(reg)
    with pytest.raises(ReadOnlyError, match="accepts only reads") as info:
        reg.save_model({"w": 2}, "m")
    assert isinstance(info.value, BackendUnavailableError)
    assert _files(reg) == before  # the refused save removed its file
    with pytest.raises(ReadOnlyError):
        reg.set_tag("m", "1", "k", "other")
    with pytest.raises(ReadOnlyError):
        reg.save_model(3, "new-model", parents=[("m", "1")])
    assert reg.load_model("m") == {"w": 1}  # reads work
    assert reg.get_version("m").tags == {"k": "v"}
    assert [v.version for v in reg.list_versions("m")] == ["1"]


@pytest.fixture
def read_only_user(
    engine: str, servers: object, db_url: str, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """(URL of a user that may only read the test's migrated database, artifact folder)."""
    if engine == "sqlite":
        pytest.skip("SQLite has no users or privileges (a read-only file is a ReadOnlyError)")
    artifacts = tmp_path / "artifacts"
    with registry_core.connect(db_url, artifacts=artifacts) as owner:
        owner.save_model({"w": 1}, "m", tags={"k": "v"})
    admin = servers.admin_url(engine)  # type: ignore[attr-defined]
    url = dbsources.create_read_only_user(engine, admin, db_url)
    try:
        yield url, artifacts
    finally:
        dbsources.drop_read_only_user(engine, admin, db_url, url)


def test_a_read_only_role_serves_reads_and_a_write_is_permission_denied(
    read_only_user: tuple[str, Path],
) -> None:
    url, artifacts = read_only_user
    with registry_core.connect(url, artifacts=artifacts) as reg:  # the schema is current
        assert reg.load_model("m") == {"w": 1}
        assert [v.name for v in reg.search_versions("tags.k = 'v'").items] == ["m"]
        before = _files(reg)
        for write in (
            lambda: reg.save_model({"w": 2}, "m"),
            lambda: reg.set_tag("m", "1", "k", "x"),
            lambda: reg.delete_model("m"),
        ):
            with pytest.raises(PermissionDeniedError, match="privilege") as info:
                write()
            assert isinstance(info.value, RegistryError)
            assert not isinstance(info.value, BackendUnavailableError)  # not worth a retry
            assert dbsources.READ_ONLY_PASSWORD not in str(info.value)
        assert _files(reg) == before
        assert reg.load_model("m") == {"w": 1}
