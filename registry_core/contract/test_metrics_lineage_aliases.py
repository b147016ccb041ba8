"""Metrics (002), lineage (003) and aliases (004) through the public API."""

from __future__ import annotations

import pytest

from registry_core import InvalidInputError, ModelRegistry, NotFoundError
from registry_core.contract.stores import local_files


@pytest.mark.registry_capabilities("metrics")
def test_metrics_round_trip_and_best_version(registry: ModelRegistry) -> None:
    registry.save_model(0, "m", metrics={"accuracy": 0.80, "f1_score": 0.7, "loss": 0.5})
    registry.save_model(1, "m", metrics={"accuracy": 0.93, "loss": 0.9})
    registry.save_model(2, "m", metrics={"accuracy": 0.93, "loss": 0.2})
    registry.save_model(3, "m")
    assert registry.get_version("m", 1).metrics == {"accuracy": 0.8, "f1_score": 0.7, "loss": 0.5}
    assert registry.get_version("m", 4).metrics == {}
    assert registry.best_version("m", "accuracy").version == "3"  # tie: the newest
    assert registry.best_version("m", "loss", higher_is_better=False).version == "3"
    assert registry.best_version("m", "f1_score").version == "1"
    assert [v.metrics.get("loss") for v in registry.list_versions("m")] == [0.5, 0.9, 0.2, None]
    with pytest.raises(NotFoundError, match="precision"):
        registry.best_version("m", "precision")
    with pytest.raises(NotFoundError):
        registry.best_version("nope", "accuracy")


@pytest.mark.registry_capabilities("metrics")
def test_metrics_are_exact_doubles(registry: ModelRegistry) -> None:
    values = {"tiny": 1e-300, "big": 1.7976931348623157e308, "neg": -2.5, "third": 1 / 3}
    registry.save_model(0, "m", metrics=values)
    assert registry.get_version("m").metrics == values
    assert registry.load_model("m") == 0


@pytest.mark.registry_capabilities("metrics")
@pytest.mark.parametrize(
    "bad", [{"x": float("nan")}, {"x": float("inf")}, {"x": "0.9"}, {"x": True}, {"": 1.0}]
)
def test_bad_metrics_are_refused(registry: ModelRegistry, bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        registry.save_model(0, "m", metrics=bad)  # type: ignore[arg-type]
    assert registry.list_models() == []


@pytest.mark.registry_capabilities("metrics", "sql")
def test_deleting_a_version_drops_its_metrics(registry: ModelRegistry) -> None:
    registry.save_model(0, "m", metrics={"a": 1.0})
    registry.save_model(0, "m", metrics={"a": 0.5})
    registry.delete_version("m", 1)
    assert registry.best_version("m", "a").version == "2"
    assert registry.backend.query("SELECT COUNT(*) FROM mr_model_metrics") == [(1,)]  # type: ignore[attr-defined]


@pytest.mark.registry_capabilities("lineage")
def test_lineage_both_directions_across_models(registry: ModelRegistry) -> None:
    registry.save_model(0, "data")  # data:1
    registry.save_model(0, "base", parents=[("data", 1)])  # base:1
    registry.save_model(0, "base", parents=[("base", 1)])  # base:2
    registry.save_model(0, "tuned", parents=[("base", 2), ("data", "1")])  # tuned:1
    registry.save_model(0, "distilled", parents=[("tuned", 1)])  # distilled:1

    up = registry.lineage("distilled", 1)
    assert [(v.name, v.version) for v in up] == [
        ("tuned", "1"),
        ("base", "2"),
        ("data", "1"),
        ("base", "1"),
    ]
    down = registry.lineage("data", 1, direction="descendants")
    assert [(v.name, v.version) for v in down] == [
        ("base", "1"),
        ("tuned", "1"),
        ("base", "2"),
        ("distilled", "1"),
    ]
    assert registry.lineage("data", 1) == []
    with pytest.raises(InvalidInputError):
        registry.lineage("data", 1, direction="sideways")  # type: ignore[arg-type]


@pytest.mark.registry_capabilities("lineage", "sql")
def test_lineage_of_a_long_chain_is_one_query(registry: ModelRegistry) -> None:
    registry.save_model(0, "chain")
    for i in range(1, 60):
        registry.save_model(i, "chain", parents=[("chain", i)])
    backend = registry.backend
    before = backend.statements.value  # type: ignore[attr-defined]
    chain = registry.lineage("chain", 60)
    assert [v.version for v in chain] == [str(i) for i in range(59, 0, -1)]
    # BEGIN/COMMIT, the start version, the recursive query, the attributes of the chain
    assert backend.statements.value - before <= 5  # type: ignore[attr-defined]


@pytest.mark.registry_capabilities("lineage", "metrics", "sql")
def test_a_missing_parent_fails_the_whole_save(registry: ModelRegistry) -> None:
    registry.save_model(0, "m")
    staging = local_files(registry).root / ".staging"
    with pytest.raises(NotFoundError, match="'ghost' version 3"):
        registry.save_model(
            1, "m", tags={"a": "b"}, metrics={"x": 1.0}, parents=[("m", 1), ("ghost", 3)]
        )
    # the version row, its tags, metrics, lineage and file are all gone; the number is free
    q = registry.backend.query  # type: ignore[attr-defined]
    assert q("SELECT COUNT(*) FROM mr_model_versions") == [(1,)]
    assert q("SELECT COUNT(*) FROM mr_model_tags") == [(0,)]
    assert q("SELECT COUNT(*) FROM mr_model_metrics") == [(0,)]
    assert q("SELECT COUNT(*) FROM mr_model_lineage") == [(0,)]
    assert list(staging.iterdir()) == []
    assert len(list((local_files(registry).root / "models").rglob("*.pkl"))) == 1
    assert registry.save_model(2, "m", parents=[("m", 1)]).version == "2"


@pytest.mark.registry_capabilities("aliases")
def test_aliases_point_move_and_load(registry: ModelRegistry) -> None:
    for i in range(3):
        registry.save_model(f"model-{i}", "m")
    registry.set_alias("m", "champion", 2)
    registry.set_alias("m", "challenger", 3)
    assert registry.get_version("m", alias="champion").version == "2"
    assert registry.load_model("m", alias="champion") == "model-1"
    assert registry.get_version("m", 2).aliases == ("champion",)
    registry.set_alias("m", "champion", 3)  # a move: one upsert
    assert registry.get_version("m", 3).aliases == ("challenger", "champion")
    assert registry.get_version("m", 2).aliases == ()
    registry.delete_alias("m", "challenger")
    assert registry.get_version("m", alias="champion").aliases == ("champion",)
    with pytest.raises(NotFoundError, match="challenger"):
        registry.get_version("m", alias="challenger")
    with pytest.raises(NotFoundError):
        registry.delete_alias("m", "challenger")
    with pytest.raises(InvalidInputError):
        registry.get_version("m", 1, alias="champion")
    with pytest.raises(InvalidInputError):
        registry.set_alias("m", "7", 1)  # would read as a version number


@pytest.mark.registry_capabilities("aliases")
def test_alias_names_are_per_model_and_exact(registry: ModelRegistry) -> None:
    registry.save_model(0, "a")
    registry.save_model(0, "b")
    registry.set_alias("a", "Prod", 1)
    registry.set_alias("b", "prod", 1)
    assert registry.get_version("a", alias="Prod").name == "a"
    with pytest.raises(NotFoundError):
        registry.get_version("a", alias="prod")
    with pytest.raises(NotFoundError):
        registry.set_alias("a", "x", 9)


@pytest.mark.registry_capabilities("aliases", "sql")
def test_deleting_a_version_drops_its_aliases(registry: ModelRegistry) -> None:
    registry.save_model(0, "m")
    registry.save_model(0, "m")
    registry.set_alias("m", "champion", 2)
    registry.delete_version("m", 2)
    with pytest.raises(NotFoundError):
        registry.get_version("m", alias="champion")
    registry.set_alias("m", "champion", 1)
    assert registry.get_version("m", alias="champion").version == "1"
    registry.delete_model("m")
    assert registry.backend.query("SELECT COUNT(*) FROM mr_model_aliases") == [(0,)]  # type: ignore[attr-defined]
