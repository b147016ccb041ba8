"""Models: create, read, list, update, delete, and how names compare on every database."""

from __future__ import annotations

from datetime import timezone

import pytest

from registry_core import (
    InvalidInputError,
    ModelRegistry,
    NotFoundError,
)
from registry_core.contract.stores import Store, local_files


def test_first_save_creates_the_model(registry: ModelRegistry) -> None:
    v = registry.save_model([1, 2, 3], "churn", description="first")
    assert v.name == "churn" and v.version == "1"
    model = registry.get_model("churn")
    assert model.name == "churn"
    assert model.description == "first"
    assert model.created_at.tzinfo == timezone.utc
    assert model.created_at <= model.updated_at


def test_get_missing_model_raises_not_found(registry: ModelRegistry) -> None:
    with pytest.raises(NotFoundError, match="nope") as info:
        registry.get_model("nope")
    assert isinstance(info.value, LookupError)


def test_list_models_orders_by_code_point(registry: ModelRegistry) -> None:
    names = ["b", "B", "aa", "Ab", "Z", "zürich", "_x", "a b", "a"]
    for n in names:
        registry.save_model(0, n)
    assert [m.name for m in registry.list_models()] == sorted(names)


def test_update_model_sets_description_and_updated_at(registry: ModelRegistry) -> None:
    registry.save_model(0, "m")
    before = registry.get_model("m")
    after = registry.update_model("m", description="new text")
    assert after.description == "new text"
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at
    assert registry.get_model("m") == after
    with pytest.raises(NotFoundError):
        registry.update_model("missing", description="x")


def test_names_are_case_sensitive_and_keep_trailing_spaces(registry: ModelRegistry) -> None:
    guarantee = (
        "guarantee: names compare case-sensitively and byte-exactly, trailing spaces "
        "included (SPEC section 4)"
    )
    for n in ["Model", "model", "model ", "MODEL"]:
        assert registry.save_model(n, n).version == "1", f"{guarantee}: saving {n!r}"
    assert len(registry.list_models()) == 4, guarantee
    assert registry.load_model("model ") == "model "
    assert registry.load_model("Model") == "Model"
    with pytest.raises(NotFoundError):
        registry.get_model("mOdel")


@pytest.mark.parametrize(
    "name",
    [
        "模型-🚀-ünïcödé",
        "Robert'); DROP TABLE mr_models;--",
        "50% off %s %(name)s",
        "colon :name ::int ?",
        'quote " and \\ backslash',
        "tab\tand\nnewline",
    ],
)
def test_unusual_names_round_trip(registry: ModelRegistry, name: str) -> None:
    v = registry.save_model({"k": name}, name, description=name, tags={name: name})
    assert v.name == name
    got = registry.get_version(name)
    assert (got.name, got.description, got.tags) == (name, name, {name: name})
    assert registry.get_model(name).description == name
    assert registry.load_model(name) == {"k": name}
    assert [m.name for m in registry.list_models()] == [name]
    assert [x.name for x in registry.find_by_tag(name, name)] == [name]


@pytest.mark.parametrize("bad", ["", "x" * 256, "nul\x00byte", "\ud800", 42, None])
def test_bad_names_are_refused_the_same_everywhere(registry: ModelRegistry, bad: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        registry.save_model(0, bad)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert registry.list_models() == []


def test_longest_allowed_values_fit(registry: ModelRegistry) -> None:
    name, key, value = "n" * 255, "k" * 255, "v" * 500
    registry.save_model(0, name, tags={key: value}, description="d" * 65_535)
    assert registry.get_version(name).tags == {key: value}
    with pytest.raises(InvalidInputError):
        registry.save_model(0, "other", tags={key: "v" * 501})


@pytest.mark.registry_capabilities("sql")
@pytest.mark.stores
def test_delete_model_cascades_to_versions_tags_and_files(
    registry: ModelRegistry, store: Store
) -> None:
    keep = registry.save_model(0, "keep", tags={"a": "1"})
    for i in range(3):
        registry.save_model(i, "gone", tags={"a": str(i), "b": "x"})
    paths = [v.storage_path for v in registry.list_versions("gone")]
    assert all(store.exists(p) for p in paths)

    registry.delete_model("gone")

    with pytest.raises(NotFoundError):
        registry.get_model("gone")
    q = registry.backend.query  # type: ignore[attr-defined]
    assert q("SELECT COUNT(*) FROM mr_models") == [(1,)]
    assert q("SELECT COUNT(*) FROM mr_model_versions") == [(1,)]
    assert q("SELECT COUNT(*) FROM mr_model_tags") == [(1,)]
    assert not any(store.exists(p) for p in paths)
    assert store.files() == {keep.storage_path}
    assert registry.get_version("keep") == keep
    with pytest.raises(NotFoundError):
        registry.delete_model("gone")


def test_model_name_cannot_escape_the_artifact_root(registry: ModelRegistry) -> None:
    for name in ["../../etc/passwd", "/abs/path", "..", "a/../../b"]:
        v = registry.save_model(name, name)
        path = local_files(registry).absolute(v.storage_path)
        assert path.is_relative_to(local_files(registry).root.resolve())
        assert registry.load_model(name) == name
