"""The contract suite's fixtures (registry_core.contract.fixtures) on the engines of the run
(`--registry-url`, `--registry-engine`, the ini value `registry_engines`)."""

from __future__ import annotations

import pytest

from registry_core.contract.fixtures import *  # noqa: F403 (the fixtures)
from registry_core.contract.fixtures import pytest_generate_tests as _stores
from registry_core.testing.plugin import registry_databases_of


@pytest.fixture
def engine(registry_engine: str) -> str:
    """The engine of the test (see the plugin's `registry_engine`)."""
    return registry_engine


@pytest.fixture
def target_engine(request: pytest.FixtureRequest) -> str:
    """A second engine of the run, for copies between them: every ordered pair, or (tests
    marked `contract_next_engine`) the engine after the test's own in the run's list."""
    databases = registry_databases_of(request.config)
    if request.param != NEXT:
        return databases.engine(str(request.param))
    engines = [databases.engine(s.id) for s in databases.sources]
    engine = str(request.getfixturevalue("engine"))
    if engine not in engines:  # an engine a project added (a pooler): copies stay on it
        return engine
    return engines[(engines.index(engine) + 1) % len(engines)]


NEXT = "next-engine"


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "contract_next_engine: copy to the run's next engine, not to every engine",
        "slow: multi-process tests",
        "stores: a test about model files, run on every store of the ini value registry_stores",
    ):
        config.addinivalue_line("markers", line)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    _stores(metafunc)
    if "target_engine" in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("contract_next_engine"):
            ids = [NEXT]
        else:
            ids = [s.id for s in registry_databases_of(metafunc.config).sources]
        metafunc.parametrize("target_engine", ids, indirect=True)
