"""The contract suite's fixtures, on the databases of registry-core's pytest plugin
(`registry_core.testing.plugin`): `db_url` (an empty database of the test's own), `backend`
(migrated), `registry` (with the test's artifact `store`), `target_db_url` and
`fresh_databases` (more databases). A conftest imports them and supplies `engine` (and
`target_engine`, for copies between engines).
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import registry_core
from registry_core import MetadataBackend, ModelRegistry
from registry_core.contract.stores import Store
from registry_core.testing.databases import Choice, environ, required_engines
from registry_core.testing.plugin import RegistryDatabases, give_up

__all__ = [
    "backend",
    "db_url",
    "fresh_databases",
    "need",
    "registry",
    "store",
    "target_db_url",
]


@pytest.fixture
def db_url(engine: str, registry_databases: RegistryDatabases, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) for this test alone."""
    with registry_databases.database(engine, tmp_path / "db") as url:
        yield url


@pytest.fixture
def target_db_url(
    target_engine: str, registry_databases: RegistryDatabases, tmp_path: Path
) -> Iterator[str]:
    """A second empty database for this test alone (another database on the same server
    when both engines are one)."""
    with registry_databases.database(target_engine, tmp_path / "target") as url:
        yield url


@pytest.fixture
def fresh_databases(
    engine: str, registry_databases: RegistryDatabases, tmp_path: Path
) -> Iterator[Callable[[int], str]]:
    """`fresh(i)`: the URL of another new empty database on the test's engine, for tests of
    several registries; dropped after the test."""
    created: list[str] = []

    def fresh(i: int) -> str:
        url = registry_databases.create(engine, tmp_path / f"trial-{i}")
        created.append(url)
        return url

    yield fresh
    for url in created:
        registry_databases.drop(engine, url)


@pytest.fixture
def backend(db_url: str) -> Iterator[MetadataBackend]:
    """A migrated backend on the test's database."""
    b = registry_core.open_backend(db_url)
    try:
        b.migrate()
        yield b
    finally:
        b.close()


# -- artifact stores -------------------------------------------------------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `stores` run on every store of the ini value `registry_stores` (default
    local and memory; registry-core's own run adds s3 and azure, whose servers its own
    plugin provides as the fixtures `s3_server` and `azurite`)."""
    if "store" in metafunc.fixturenames and metafunc.definition.get_closest_marker("stores"):
        metafunc.parametrize("store", metafunc.config.getini("registry_stores"), indirect=True)


def need(module: str, store: str, why: str) -> None:
    """Skips the test (fails it if REGISTRY_TEST_REQUIRE names `store`) without `module`."""
    try:
        importlib.import_module(module)
    except ImportError:
        give_up(Choice(store, "skip", why, store in required_engines(environ())), why)


@pytest.fixture
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """The test's own artifact store: a folder (`local`, the default), a `memory://` root, a
    fresh bucket on an S3 server reached through s3fs with a custom endpoint, or a fresh
    container on Azurite through adlfs (tests marked `stores` run on each of
    `registry_stores`)."""
    need("fsspec", "memory", "fsspec is not installed (extra fsspec)")
    import fsspec

    kind = getattr(request, "param", "local")
    options: dict[str, Any] | None = None
    monkeypatch.setenv("MODEL_REGISTRY_CACHE", str(tmp_path / "download-cache"))  # model_path()
    if kind == "local":
        artifacts = str(tmp_path / "artifacts")
        fs = fsspec.filesystem("file")
        root = artifacts
    elif kind == "memory":
        artifacts = f"memory://rc-{uuid.uuid4().hex[:12]}/artifacts"
        fs, root = fsspec.core.url_to_fs(artifacts)
    else:  # a server of the run's own plugin (registry-core's: tests/contractsupport.py)
        server = request.getfixturevalue("s3_server" if kind == "s3" else "azurite")
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
