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
    """A second engine of the run, for copies between them (every ordered pair)."""
    return registry_databases_of(request.config).engine(str(request.param))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    _stores(metafunc)
    if "target_engine" in metafunc.fixturenames:
        ids = [s.id for s in registry_databases_of(metafunc.config).sources]
        metafunc.parametrize("target_engine", ids, indirect=True)
