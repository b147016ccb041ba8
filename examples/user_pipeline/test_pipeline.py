"""The pipeline's tests, each on a registry of its own from registry-core's pytest plugin:

pytest                              # a temporary SQLite file per test
pytest --registry-engine postgresql # a PostgreSQL container (testcontainers), one per run
pytest --registry-url postgresql://user:pw@db.internal/ci   # a new database on a server
"""

from __future__ import annotations

from pathlib import Path

from pipeline import register

import registry_core
from registry_core import ModelRegistry


def test_the_first_model_becomes_the_champion(registry: ModelRegistry) -> None:
    v = register(registry, "churn", {"weights": [1, 2]}, auc=0.81)
    assert registry.get_version("churn", alias="champion").version == v.version
    assert registry.load_model("churn") == {"weights": [1, 2]}


def test_a_worse_model_does_not_take_over(registry: ModelRegistry) -> None:
    register(registry, "churn", "good", auc=0.9)
    register(registry, "churn", "worse", auc=0.7)
    assert (
        registry.load_model("churn", registry.get_version("churn", alias="champion").version)
        == "good"
    )
    assert [v.version for v in registry.list_versions("churn")] == ["1", "2"]


def test_serving_code_finds_the_champion_by_url(registry_url: str, tmp_path: Path) -> None:
    """The URL of the test's own (migrated) database, for code that connects by itself."""
    with registry_core.connect(registry_url, artifacts=tmp_path / "files") as reg:
        register(reg, "churn", "model", auc=0.5)
    with registry_core.connect(registry_url, artifacts=tmp_path / "files") as serving:
        assert serving.load_model("churn") == "model"
