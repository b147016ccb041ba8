"""The contract tests that stay in this repository (they control processes and servers:
kills, restarts, fault proxies, the pooler, failover, forks, server warnings), on the same
fixtures as the shipped suite (`registry_core.contract.fixtures`, through registry-core's
pytest plugin): every test runs on sqlite, postgresql, mysql (Oracle's MySQL) and mariadb,
each time on an empty database that no other test sees. One container per engine per
session (registry_core.testing.databases); PgBouncer and the stores' servers come from
tests/contractsupport.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import dbsources
from contractsupport import Pooler
from registry_core.contract.fixtures import *  # noqa: F403 (the shared fixtures)
from registry_core.contract.fixtures import pytest_generate_tests  # noqa: F401 (a hook)
from registry_core.testing.databases import Choice, Unavailable
from registry_core.testing.plugin import RegistryDatabases


class Servers:
    """The session's servers as these tests reach them: engine -> admin URL, and a database
    through PgBouncer; skips (fails under REGISTRY_TEST_REQUIRE) what cannot be had."""

    def __init__(self, databases: RegistryDatabases, pooler: Pooler) -> None:
        self.databases = databases
        self.pooler = pooler

    def admin_url(self, engine: str) -> str:
        try:
            return self.databases.servers.admin_url(engine)
        except Unavailable as exc:
            dbsources.give_up(Choice(engine, "skip", str(exc), exc.required), str(exc))

    def pooler_url(self, url: str) -> str:
        try:
            return self.pooler.url(url)
        except Unavailable as exc:
            dbsources.give_up(Choice("pgbouncer", "skip", str(exc), exc.required), str(exc))


@pytest.fixture(scope="session")
def servers(registry_databases: RegistryDatabases, pooler: Pooler) -> Servers:
    return Servers(registry_databases, pooler)


@pytest.fixture(params=dbsources.ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=dbsources.ENGINES)
def target_engine(request: pytest.FixtureRequest) -> str:
    """A second engine, for tests of a copy from `engine` to this one."""
    return str(request.param)


@contextmanager
def _empty_database(engine: str, servers: Servers, folder: Path) -> Iterator[str]:
    """An empty database (no tables) on `engine`, dropped afterwards."""
    with servers.databases.database(engine, folder) as url:
        yield url
