"""The contract suite's one parametrized fixture: every test runs on sqlite, postgresql, mysql
(Oracle's MySQL) and mariadb, each time on an empty database that no other test sees.

Servers come from `dbsources.choose` (URL, container or skip; see tests/dbsources.py). One
container per engine per session; one fresh database (or SQLite file) per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import dbsources
import registry_core
from registry_core import ModelRegistry
from registry_core.sqlbackend import SQLMetadataBackend


class Servers:
    """Lazily started servers for the session: engine -> admin URL."""

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        self._failed: dict[str, str] = {}
        self._containers: list[Any] = []
        self._docker: bool | None = None

    def _docker_available(self) -> bool:
        if self._docker is None:
            self._docker = dbsources.docker_available()
        return self._docker

    def admin_url(self, engine: str) -> str:
        if engine in self._urls:
            return self._urls[engine]
        choice = dbsources.choose(engine, dbsources.environ(), self._docker_available)
        if engine in self._failed:  # tried once this session: do not start it per test
            dbsources.give_up(choice, self._failed[engine])
        if choice.kind == "skip":
            dbsources.give_up(choice, choice.detail)
        if choice.kind == "container":
            try:
                container, url = dbsources.start_container(engine, choice.detail)
            except Exception as exc:
                self._failed[engine] = f"{engine}: could not start container {choice.detail}: {exc}"
                dbsources.give_up(choice, self._failed[engine])
            self._containers.append(container)
        else:
            url = choice.detail
        # a MariaDB URL given for mysql (or the reverse) would test the wrong server
        # under the engine's name: refuse it outright
        with registry_core.open_backend(url) as probe:
            server = str(getattr(probe, "server", ""))
        if not server.startswith(dbsources.PRODUCTS[engine] + " "):
            pytest.fail(
                f"the {engine} engine's server is {server or 'unknown'}, not "
                f"{dbsources.PRODUCTS[engine]}: check REGISTRY_TEST_{engine.upper()}_URL/_IMAGE",
                pytrace=False,
            )
        self._urls[engine] = url
        return url

    def stop(self) -> None:
        for container in self._containers:
            container.stop()


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    s = Servers()
    yield s
    s.stop()


@pytest.fixture(params=dbsources.ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def _empty_database(engine: str, servers: Servers, sqlite_file: Path) -> Iterator[str]:
    """An empty database (no tables) on `engine`, dropped afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    admin = servers.admin_url(engine)
    url = dbsources.create_database(engine, admin)
    try:
        yield url
    finally:
        dbsources.drop_database(engine, admin, url)


@pytest.fixture
def db_url(engine: str, servers: Servers, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) for this test alone."""
    with _empty_database(engine, servers, tmp_path / "registry.db") as url:
        yield url


@pytest.fixture(params=dbsources.ENGINES)
def target_engine(request: pytest.FixtureRequest) -> str:
    """A second engine, for tests of a copy from `engine` to this one (every ordered pair)."""
    return str(request.param)


@pytest.fixture
def target_db_url(target_engine: str, servers: Servers, tmp_path: Path) -> Iterator[str]:
    """A second empty database for this test alone (another database on the same server
    when both engines are one)."""
    with _empty_database(target_engine, servers, tmp_path / "target.db") as url:
        yield url


@pytest.fixture
def backend(db_url: str) -> Iterator[SQLMetadataBackend]:
    """A migrated backend on the test's database."""
    b = registry_core.open_backend(db_url)
    assert isinstance(b, SQLMetadataBackend)
    try:
        b.migrate()
        yield b
    finally:
        b.close()


@pytest.fixture
def registry(db_url: str, tmp_path: Path) -> Iterator[ModelRegistry]:
    """A connected (and so migrated) registry with its own artifact folder."""
    with registry_core.connect(db_url, artifacts=tmp_path / "artifacts") as reg:
        yield reg
