"""registry-core's own additions to its pytest plugin, loaded for every run of this repository
(`-p contractsupport` in pyproject.toml): the S3 and Azure servers behind the `store` fixture
of the contract suite, and the `pgbouncer` engine (PostgreSQL through PgBouncer in transaction
mode) for the tests marked `registry_pooled`. The suite itself is `registry_core.contract`
(shipped in the package) plus tests/contract (tests that control processes and servers).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dbsources
from artifactstores import AzuriteServer, S3Server, azurite_command
from localservers import PgBouncer
from registry_core.contract.fixtures import need
from registry_core.testing.databases import Unavailable, create_database, drop_database
from registry_core.testing.plugin import RegistryDatabases, registry_databases_of


class Pooler:
    """PgBouncer in front of the postgresql engine's server, started on first use."""

    def __init__(self, databases: RegistryDatabases) -> None:
        self.databases = databases
        self._pgbouncer: PgBouncer | None = None
        self._failed: str | None = None
        self._behind: dict[str, str] = {}  # pooled URL -> the database's own URL

    def url(self, url: str) -> str:
        """`url`, a database on the postgresql engine's server, through PgBouncer."""
        if self._pgbouncer is None:
            required = "pgbouncer" in dbsources.required_engines(dbsources.environ())
            if self._failed is None:
                try:
                    self._pgbouncer = PgBouncer(self.databases.servers.admin_url("postgresql"))
                except (OSError, RuntimeError) as exc:
                    self._failed = f"pgbouncer: {exc}"
            if self._pgbouncer is None:
                raise Unavailable(self._failed or "pgbouncer: not started", required)
        return self._pgbouncer.url(url)

    def create(self) -> str:
        admin = self.databases.servers.admin_url("postgresql")
        url = create_database("postgresql", admin)
        try:
            pooled = self.url(url)
        except Unavailable:
            drop_database("postgresql", admin, url)
            raise
        self._behind[pooled] = url
        return pooled

    def drop(self, pooled: str) -> None:
        url = self._behind.pop(pooled)
        drop_database("postgresql", self.databases.servers.admin_url("postgresql"), url)

    def stop(self) -> None:
        if self._pgbouncer is not None:
            self._pgbouncer.stop()


_POOLER = pytest.StashKey[Pooler]()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    pooler = config.stash[_POOLER] = Pooler(registry_databases_of(config))
    registry_databases_of(config).add_engine("pgbouncer", pooler.create, pooler.drop)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _POOLER in config.stash:
        config.stash[_POOLER].stop()


@pytest.fixture(scope="session")
def pooler(pytestconfig: pytest.Config) -> Pooler:
    return pytestconfig.stash[_POOLER]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    need("moto.server", "s3", "moto[server] is not installed")
    need("s3fs", "s3", "s3fs is not installed (extra s3)")
    server = S3Server()
    yield server
    server.server.stop()


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteServer]:
    need("adlfs", "azure", "adlfs is not installed (extra azure)")
    command = azurite_command()
    if command is None:
        dbsources.store_unavailable(
            "azure", "Azurite not found: npm install azurite, or set REGISTRY_TEST_AZURITE"
        )
    server = AzuriteServer(command)
    yield server
    server.stop()
