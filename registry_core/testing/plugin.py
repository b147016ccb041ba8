"""registry-core's pytest plugin (entry point `pytest11`, installed with the `test` extra).

It adds options, markers and fixtures, and nothing else: a run that uses none of its fixtures
is unchanged (no server is started, no test is parametrized).

Fixtures: `registry` (a ModelRegistry on an empty, migrated database of its own, files in a
temporary folder; closed and the database dropped after the test), `registry_url` (that
database's URL, migrated), `registry_backend` (a MetadataBackend on it), `registry_empty_url`
(an empty database, no tables), `registry_new_database` (more empty databases), and
`registry_engine` (the engine a test runs on). Where the databases come from:
`--registry-url URL` (or $REGISTRY_TEST_URL), else `--registry-engine` (sqlite, postgresql,
mysql, mariadb: REGISTRY_TEST_<ENGINE>_URL, else a testcontainers container of
REGISTRY_TEST_<ENGINE>_IMAGE, one per session), else the ini value `registry_engines`, else a
temporary SQLite file. With several engines, every test using the fixtures runs on each.

Markers: `registry_capabilities(*names)` skips the test, with the reason, on a backend that
does not declare those `MetadataBackend.capabilities`; `registry_engines(*engines)` runs it
on those engines only (a backend outside the four built-in engines: skipped with the reason);
`registry_pooled` also runs it on the engines a project registered with
`RegistryDatabases.add_engine(..., pooled=True)` (registry-core's own: PgBouncer).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

import registry_core
from registry_core.entrypoints import backend_class
from registry_core.testing.databases import (
    ENGINES,
    MYSQL_FAMILY,
    SERVERS,
    Choice,
    Servers,
    Unavailable,
    create_database,
    drop_database,
    environ,
    required_engines,
)
from registry_core.urls import canonical_scheme, url_scheme

#: the variable `--registry-url` defaults to
URL_ENV = "REGISTRY_TEST_URL"
#: the placeholders a URL outside the built-in server schemes must hold, so that each test
#: gets a database of its own: `{tmp}` a folder of the test's own, `{name}` a fresh name
PLACEHOLDERS = ("{tmp}", "{name}")


def give_up(choice: Choice, message: str) -> NoReturn:
    """Skips the test, or fails it when REGISTRY_TEST_REQUIRE names the engine."""
    if choice.required:
        pytest.fail(f"required by REGISTRY_TEST_REQUIRE but unavailable: {message}", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Source:
    """One engine a run uses: a built-in engine's name, or a URL given on the command line
    (`id` is then its scheme)."""

    id: str
    url: str | None = None


@dataclass(frozen=True)
class Engine:
    """An engine a project adds (`RegistryDatabases.add_engine`)."""

    create: Callable[[], str]
    drop: Callable[[str], None]
    pooled: bool


class RegistryDatabases:
    """The databases of one test session: the engines selected, their servers (started on
    first use), and a fresh database per test on any of them."""

    def __init__(self, sources: Callable[[], list[Source]]) -> None:
        self._find_sources = sources
        self._sources: list[Source] | None = None
        self.servers = Servers()
        self.extra: dict[str, Engine] = {}
        self._resolved: dict[str, str] = {}  # source id -> engine (a URL's mysql or mariadb)

    @property
    def sources(self) -> list[Source]:
        """The engines selected (read on first use: a run that uses no registry fixture never
        reads the options, nor REGISTRY_TEST_URL or REGISTRY_TEST_REQUIRE)."""
        if self._sources is None:
            self._sources = self._find_sources()
        return self._sources

    @property
    def pooled(self) -> list[str]:
        """The engines added for tests marked `registry_pooled`."""
        return [name for name, e in self.extra.items() if e.pooled]

    def add_engine(
        self,
        name: str,
        create: Callable[[], str],
        drop: Callable[[str], None],
        *,
        pooled: bool = True,
    ) -> None:
        """Adds an engine of the project's own: `create()` returns the URL of a new empty
        database (raising Unavailable if it cannot), `drop(url)` removes it. `pooled`: only
        for tests marked `registry_pooled`."""
        self.extra[name] = Engine(create, drop, pooled)

    def engine(self, source_id: str) -> str:
        """The engine behind a source: its name; for a URL, the built-in engine whose server
        it names (mysql or mariadb found by asking the server), else its scheme."""
        if source_id in self._resolved:
            return self._resolved[source_id]
        source = next((s for s in self.sources if s.id == source_id), None)
        engine = source_id
        if source is not None and source.url is not None and source.id == "mysql":
            with registry_core.open_backend(source.url) as probe:
                server = str(getattr(probe, "server", ""))
            engine = "mariadb" if server.startswith("MariaDB ") else "mysql"
        self._resolved[source_id] = engine
        return engine

    def scheme(self, engine: str) -> str:
        """The URL scheme of `engine`'s databases."""
        source = self._url_source(engine)
        if source is not None:
            return source.id
        if engine in self.extra or engine in SERVERS:
            return "mysql" if engine in MYSQL_FAMILY else "postgresql"
        return engine

    def _url_source(self, engine: str) -> Source | None:
        for s in self.sources:
            if s.url is not None and self.engine(s.id) == engine:
                return s
        return None

    def create(self, engine: str, tmp: Path) -> str:
        """The URL of a new empty database on `engine` (a file or folder under `tmp` for
        file-based ones); Unavailable if the engine cannot be had."""
        if engine in self.extra:
            return self.extra[engine].create()
        source = self._url_source(engine)
        url = source.url if source is not None else None
        if url is not None and any(p in url for p in PLACEHOLDERS):
            folder = tmp / f"db-{uuid.uuid4().hex[:8]}"
            folder.mkdir(parents=True)
            return url.replace("{tmp}", str(folder)).replace(
                "{name}", "rc_test_" + uuid.uuid4().hex[:12]
            )
        if url is not None:  # a server URL: databases beside it
            return create_database(engine, url)
        if engine == "sqlite":
            tmp.mkdir(parents=True, exist_ok=True)
            path = tmp / "registry.db"
            if path.exists():
                path = tmp / f"registry-{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{path}"
        if engine not in SERVERS:
            raise Unavailable(f"no source for engine {engine!r}", False)
        return create_database(engine, self.servers.admin_url(engine))

    def drop(self, engine: str, url: str) -> None:
        """Drops a database made by `create` (files go with the test's temporary folder)."""
        if engine in self.extra:
            self.extra[engine].drop(url)
            return
        if canonical_scheme(url_scheme(url)) not in ("postgresql", "mysql"):
            return  # a file or folder under the test's temporary folder, or a {name}
        source = self._url_source(engine)
        if source is not None and source.url is not None:
            if not any(p in source.url for p in PLACEHOLDERS):
                drop_database(engine, source.url, url)
            return
        drop_database(engine, self.servers.admin_url(engine), url)

    @contextmanager
    def database(self, engine: str, tmp: Path) -> Iterator[str]:
        """A new empty database on `engine` for one test, dropped afterwards; skips the test
        (fails it under REGISTRY_TEST_REQUIRE) if the engine cannot be had."""
        try:
            url = self.create(engine, tmp)
        except Unavailable as exc:
            give_up(Choice(engine, "skip", str(exc), exc.required), str(exc))
        try:
            yield url
        finally:
            self.drop(engine, url)

    def stop(self) -> None:
        self.servers.stop()


_KEY = pytest.StashKey[RegistryDatabases]()


def registry_databases_of(config: pytest.Config) -> RegistryDatabases:
    """The session's RegistryDatabases (for a project's own plugin: `add_engine`)."""
    return config.stash[_KEY]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("registry-core", "registry-core's test databases")
    group.addoption(
        "--registry-url",
        default=None,
        metavar="URL",
        help=(
            f"the database of the registry fixtures (default ${URL_ENV}): a postgresql:// or "
            "mysql:// server on which each test gets a new database, or a URL holding {tmp} "
            "(a folder of the test's own) or {name} (a fresh name), e.g. 'acme:///{tmp}/r.db'"
        ),
    )
    group.addoption(
        "--registry-engine",
        action="append",
        default=[],
        metavar="ENGINE",
        help=(
            "sqlite, postgresql, mysql or mariadb (REGISTRY_TEST_<ENGINE>_URL, else a "
            "testcontainers container of REGISTRY_TEST_<ENGINE>_IMAGE); repeat or separate "
            "with commas for several"
        ),
    )
    parser.addini(
        "registry_engines",
        "engines of the registry fixtures without --registry-url/--registry-engine",
        type="args",
        default=[],
    )
    parser.addini(
        "registry_stores",
        "artifact stores of the contract suite's tests about files (default: local memory)",
        type="args",
        default=["local", "memory"],
    )


def _sources(config: pytest.Config) -> list[Source]:
    url = config.getoption("--registry-url") or os.environ.get(URL_ENV, "").strip() or None
    if url:
        try:
            scheme = url_scheme(url)
        except registry_core.InvalidInputError as exc:
            raise pytest.UsageError(f"--registry-url / ${URL_ENV}: {exc}") from None
        if canonical_scheme(scheme) in ("postgresql", "mysql"):
            return [Source(canonical_scheme(scheme), url)]
        if not any(p in url for p in PLACEHOLDERS):
            raise pytest.UsageError(
                f"--registry-url of scheme {scheme!r} must hold {{tmp}} (a folder of the "
                "test's own) or {name} (a fresh name) so that each test gets an empty "
                f"database, e.g. {scheme}:///{{tmp}}/registry.db"
            )
        return [Source(canonical_scheme(scheme), url)]
    names = [n.strip() for opt in config.getoption("--registry-engine") for n in opt.split(",")]
    names = [n for n in names if n] or list(config.getini("registry_engines")) or ["sqlite"]
    unknown = sorted(set(names) - set(ENGINES))
    if unknown:
        raise pytest.UsageError(
            f"--registry-engine {', '.join(unknown)}: known engines are {', '.join(ENGINES)}"
        )
    try:
        required_engines(environ())  # a typo in REGISTRY_TEST_REQUIRE: fail now, not per test
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    return [Source(n) for n in dict.fromkeys(names)]


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "registry_capabilities(*names): skip unless the backend declares these "
        "MetadataBackend.capabilities",
        "registry_engines(*engines): run on these engines only",
        "registry_pooled: also run on the engines a project adds behind a connection pooler",
    ):
        config.addinivalue_line("markers", line)
    config.stash[_KEY] = RegistryDatabases(lambda: _sources(config))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _KEY in config.stash:
        config.stash[_KEY].stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Runs each test that uses the registry fixtures on every engine selected."""
    if "registry_engine" not in metafunc.fixturenames:
        return
    dbs = registry_databases_of(metafunc.config)
    ids = [s.id for s in dbs.sources]
    only = metafunc.definition.get_closest_marker("registry_engines")
    if only is not None:  # a known engine outside the list: not run; another backend: skipped
        ids = [i for i in ids if i not in ENGINES or i in only.args]
    if metafunc.definition.get_closest_marker("registry_pooled") and "postgresql" in ids:
        ids += dbs.pooled
    if not ids and only is not None:  # none of the run's engines: one skip, with the reason
        reason = (
            f"engine-specific: a test of {', '.join(only.args)}; this run's engines are "
            f"{', '.join(s.id for s in dbs.sources)}"
        )
        skipped = pytest.param("", marks=pytest.mark.skip(reason=reason), id="not-run")
        metafunc.parametrize("registry_engine", [skipped], indirect=True)
        return
    metafunc.parametrize("registry_engine", ids, indirect=True)


@pytest.fixture(scope="session")
def registry_databases(pytestconfig: pytest.Config) -> RegistryDatabases:
    """The session's databases: engines, servers, `create`/`drop` of fresh databases."""
    return registry_databases_of(pytestconfig)


@pytest.fixture
def registry_engine(request: pytest.FixtureRequest, registry_databases: RegistryDatabases) -> str:
    """The engine this test runs on ("sqlite", "postgresql", "mysql", "mariadb", or the
    scheme of another backend's URL); skips the test where its markers exclude the engine or
    ask for capabilities the backend does not declare."""
    source_id = getattr(request, "param", registry_databases.sources[0].id)
    try:
        engine = registry_databases.engine(source_id)
    except registry_core.RegistryError as exc:
        required = source_id in required_engines(environ())
        give_up(Choice(source_id, "skip", str(exc), required), f"{source_id}: {exc}")
    only = request.node.get_closest_marker("registry_engines")
    if only is not None and engine not in only.args and engine not in registry_databases.extra:
        pytest.skip(
            f"engine-specific: a test of {', '.join(only.args)}; this run's backend is {engine}"
        )
    wanted = request.node.get_closest_marker("registry_capabilities")
    if wanted is not None:
        scheme = registry_databases.scheme(engine)
        declared = backend_class(scheme).capabilities
        missing = sorted(set(wanted.args) - declared)
        if missing:
            pytest.skip(
                f"the {scheme} backend does not declare the capabilities {', '.join(missing)} "
                "(MetadataBackend.capabilities)"
            )
    return engine


@pytest.fixture
def registry_empty_url(
    registry_engine: str, registry_databases: RegistryDatabases, tmp_path: Path
) -> Iterator[str]:
    """The URL of an empty database (no tables) of this test's own, dropped after it."""
    with registry_databases.database(registry_engine, tmp_path) as url:
        yield url


@pytest.fixture
def registry_url(registry_empty_url: str) -> str:
    """The URL of this test's own database, migrated (empty of models), dropped after it."""
    with registry_core.open_backend(registry_empty_url) as backend:
        backend.migrate()
    return registry_empty_url


@pytest.fixture
def registry_backend(registry_url: str) -> Iterator[registry_core.MetadataBackend]:
    """A MetadataBackend on this test's own migrated database, closed after the test."""
    backend = registry_core.open_backend(registry_url)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def registry(registry_url: str, tmp_path: Path) -> Iterator[registry_core.ModelRegistry]:
    """A ModelRegistry on this test's own empty, migrated database, its files in a temporary
    folder; closed, and the database dropped, after the test."""
    with registry_core.connect(registry_url, artifacts=tmp_path / "registry-artifacts") as reg:
        yield reg


@pytest.fixture
def registry_new_database(
    registry_engine: str, registry_databases: RegistryDatabases, tmp_path: Path
) -> Iterator[Callable[..., str]]:
    """`new(engine=None)`: the URL of another empty database on this test's engine (or on
    `engine`, one of the run's), for tests of several registries; all dropped after it."""
    made: list[tuple[str, str]] = []

    def new(engine: str | None = None) -> str:
        engine = engine or registry_engine
        try:
            url = registry_databases.create(engine, tmp_path)
        except Unavailable as exc:
            give_up(Choice(engine, "skip", str(exc), exc.required), str(exc))
        made.append((engine, url))
        return url

    yield new
    for engine, url in made:
        registry_databases.drop(engine, url)
