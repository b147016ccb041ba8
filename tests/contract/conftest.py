"""The contract suite's one parametrized fixture: every test runs on sqlite, postgresql, mysql
(Oracle's MySQL) and mariadb, each time on an empty database that no other test sees.

Servers come from `dbsources.choose` (URL, container or skip; see tests/dbsources.py). One
container per engine per session; one fresh database (or SQLite file) per test.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import dbsources
import registry_core
from artifactstores import AzuriteServer, S3Server, Store, azurite_command
from localservers import PgBouncer
from registry_core import ModelRegistry
from registry_core.sqlbackend import SQLMetadataBackend


class Servers:
    """Lazily started servers for the session: engine -> admin URL."""

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        self._failed: dict[str, str] = {}
        self._containers: list[Any] = []
        self._docker: bool | None = None
        self._pgbouncer: PgBouncer | None = None

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

    def pooler_url(self, url: str) -> str:
        """`url`, a database on the postgresql engine's server, through PgBouncer in
        transaction mode (started on first use, for the session)."""
        if self._pgbouncer is None:
            if "pgbouncer" in self._failed:
                dbsources.local_server_unavailable("pgbouncer", self._failed["pgbouncer"])
            try:
                self._pgbouncer = PgBouncer(self.admin_url("postgresql"))
            except (OSError, RuntimeError) as exc:
                self._failed["pgbouncer"] = f"pgbouncer: {exc}"
                dbsources.local_server_unavailable("pgbouncer", self._failed["pgbouncer"])
        return self._pgbouncer.url(url)

    def stop(self) -> None:
        if self._pgbouncer is not None:
            self._pgbouncer.stop()
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
    server = "postgresql" if engine == "pgbouncer" else engine
    admin = servers.admin_url(server)
    url = dbsources.create_database(server, admin)
    try:
        yield servers.pooler_url(url) if engine == "pgbouncer" else url
    finally:
        dbsources.drop_database(server, admin, url)


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
def fresh_databases(
    engine: str, servers: Servers, tmp_path: Path
) -> Iterator[Callable[[int], str]]:
    """`fresh(i)`: the URL of another new empty database (or SQLite file) on the test's
    engine, for tests of several registries; dropped after the test."""
    created: list[str] = []

    def fresh(i: int) -> str:
        if engine == "sqlite":
            return f"sqlite:///{tmp_path / f'trial-{i}.db'}"
        url = dbsources.create_database(engine, servers.admin_url(engine))
        created.append(url)
        return url

    yield fresh
    for url in created:
        dbsources.drop_database(engine, servers.admin_url(engine), url)


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


# -- artifact stores -------------------------------------------------------------------------
#: the stores a test marked `@pytest.mark.stores` runs on (other tests: the local store only);
#: "azure" needs Azurite (skipped without it, see tests/artifactstores.py)
STORES = ("local", "memory", "s3", "azure")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" in metafunc.fixturenames and metafunc.definition.get_closest_marker("stores"):
        metafunc.parametrize("store", STORES, indirect=True)


def _need(module: str, store: str, why: str) -> None:
    """Skips the test (fails it if REGISTRY_TEST_REQUIRE names `store`) without `module`."""
    try:
        importlib.import_module(module)
    except ImportError:
        dbsources.store_unavailable(store, why)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    _need("moto.server", "s3", "moto[server] is not installed")
    _need("s3fs", "s3", "s3fs is not installed (extra s3)")
    server = S3Server()
    yield server
    server.server.stop()


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteServer]:
    _need("adlfs", "azure", "adlfs is not installed (extra azure)")
    command = azurite_command()
    if command is None:
        dbsources.store_unavailable(
            "azure", "Azurite not found: npm install azurite, or set REGISTRY_TEST_AZURITE"
        )
    server = AzuriteServer(command)
    yield server
    server.stop()


@pytest.fixture
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """The test's own artifact store: a folder (`local`, the default), a `memory://` root, a
    fresh bucket on moto's S3 server reached through s3fs with a custom endpoint, or a fresh
    container on Azurite through adlfs (tests marked `stores` run on all four)."""
    import fsspec

    kind = getattr(request, "param", "local")
    options: dict[str, Any] | None = None
    monkeypatch.setenv("MODEL_REGISTRY_CACHE", str(tmp_path / "download-cache"))  # model_path()
    if kind == "local":
        artifacts = str(tmp_path / "artifacts")
        fs = fsspec.filesystem("file")
        root = artifacts
    elif kind == "memory":
        _need("fsspec", "memory", "fsspec is not installed (extra fsspec)")
        artifacts = f"memory://rc-{uuid.uuid4().hex[:12]}/artifacts"
        fs, root = fsspec.core.url_to_fs(artifacts)
    else:
        server: S3Server | AzuriteServer = request.getfixturevalue(
            "s3_server" if kind == "s3" else "azurite"
        )
        for key, value in server.env().items():  # for the CLI, which has no storage_options
            monkeypatch.setenv(key, value)
        options = server.options()
        bucket = f"rc-{uuid.uuid4().hex[:12]}"
        fs = fsspec.filesystem(
            "s3" if kind == "s3" else "az",
            skip_instance_cache=True,
            use_listings_cache=False,
            **options,
        )
        fs.mkdir(bucket)
        scheme = "s3" if kind == "s3" else "az"
        artifacts, root = f"{scheme}://{bucket}/models-root", f"{bucket}/models-root"
    yield Store(kind, artifacts, options, fs, root)
    if kind == "memory" and fs.exists(root):
        fs.rm(root, recursive=True)


@pytest.fixture
def registry(db_url: str, store: Store) -> Iterator[ModelRegistry]:
    """A connected (and so migrated) registry with its own artifact store (see `store`)."""
    with registry_core.connect(
        db_url, artifacts=store.artifacts, storage_options=store.storage_options
    ) as reg:
        yield reg
