"""search_versions and search_models (SPEC section 7) on every engine: the filter language,
ordering, keyset pages, tokens, and the operations that come with it (rename, model tags,
update_version, immutable records)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import TypeVar

import pytest

from registry_core import (
    AlreadyExistsError,
    InvalidInputError,
    Model,
    ModelRegistry,
    ModelVersion,
    NotFoundError,
    Page,
)


@pytest.fixture
def filled(registry: ModelRegistry) -> ModelRegistry:
    """Models b, a, "a " and A with 12 versions between them, tags, metrics and aliases."""
    for i in range(12):
        name = ["b", "a", "a ", "A"][i % 4]
        registry.save_model(
            i,
            name,
            description=None if i % 5 == 0 else f"run {i}",
            tags={"stage": "prod" if i % 3 == 0 else "dev", "team": "Ml" if i % 2 else "ml"},
            metrics={"acc": i / 10, "loss": 1 - i / 10} if i % 4 != 3 else None,
        )
    registry.set_alias("a", "champion", 2)
    registry.set_alias("b", "champion", 1)
    registry.set_tag("b", 2, "note", None)
    registry.set_model_tag("a", "owner", "ann")
    registry.set_model_tag("b", "owner", "bob")
    return registry


def _keys(items: list[ModelVersion]) -> list[tuple[str, str]]:
    return [(v.name, v.version) for v in items]


T = TypeVar("T")


def _all(search: Callable[..., Page[T]], *args: str | None, **kw: object) -> list[T]:
    out: list[T] = []
    token = None
    while True:
        page = search(*args, page_token=token, **kw)
        out += list(page)
        token = page.next_page_token
        if token is None:
            return out


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags", "search")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'a'", [("a", "1"), ("a", "2"), ("a", "3")]),
        ("name = 'a '", [("a ", "1"), ("a ", "2"), ("a ", "3")]),
        (
            "name LIKE 'a%'",
            [("a", "1"), ("a", "2"), ("a", "3"), ("a ", "1"), ("a ", "2"), ("a ", "3")],
        ),
        ("name LIKE 'A%'", [("A", "1"), ("A", "2"), ("A", "3")]),
        ("version > 2 AND name = 'b'", [("b", "3")]),
        ("version >= 10", []),
        ("tags.stage = 'prod' AND tags.team = 'ml'", [("a ", "2"), ("b", "1")]),
        ("tags.team IN ('Ml') AND name IN ('A', 'b')", [("A", "1"), ("A", "2"), ("A", "3")]),
        ("tags.note IS NOT NULL", [("b", "2")]),
        ("tags.note = 'x' OR tags.note != 'x'", []),  # present but NULL: neither
        ("metrics.acc > 0.85", [("a", "3"), ("a ", "3")]),
        ("metrics.acc IS NULL", [("A", "1"), ("A", "2"), ("A", "3")]),
        (
            "NOT metrics.acc <= 0.85",
            [("A", "1"), ("A", "2"), ("A", "3"), ("a", "3"), ("a ", "3")],
        ),
        (
            "metrics.acc NOT IN (0.0, 0.1)",
            [("a", "2"), ("a", "3"), ("a ", "1"), ("a ", "2"), ("a ", "3"), ("b", "2"), ("b", "3")],
        ),
        ("alias = 'champion'", [("a", "2"), ("b", "1")]),
        ("alias IS NULL AND name = 'b'", [("b", "2"), ("b", "3")]),
        ("description IS NULL", [("a", "2"), ("a ", "3"), ("b", "1")]),
        (
            "description != 'run 1'",
            [
                ("A", "1"),
                ("A", "2"),
                ("A", "3"),
                ("a", "3"),
                ("a ", "1"),
                ("a ", "2"),
                ("b", "2"),
                ("b", "3"),
            ],
        ),
        ("description NOT LIKE 'run 1%' AND name = 'a'", [("a", "3")]),
        ("NOT (description LIKE 'run 1%') AND name = 'a'", [("a", "2"), ("a", "3")]),
        (
            "name = 'b' AND (version = 1 OR version = 3) OR name = 'A' AND version = 3",
            [("A", "3"), ("b", "1"), ("b", "3")],
        ),
        (
            "created_at > '2000-01-01' AND created_at < '2100-01-01T00:00:00+05:00' AND name = 'A'",
            [("A", "1"), ("A", "2"), ("A", "3")],
        ),
        ("created_at < '2000-01-01'", []),
        ("tags.`team` = 'ml' and TAGS.stage = 'dev' and name = 'b'", [("b", "2"), ("b", "3")]),
    ],
)
def test_filters(filled: ModelRegistry, text: str, expected: list[tuple[str, str]]) -> None:
    assert _keys(_all(filled.search_versions, text)) == expected


@pytest.mark.registry_capabilities("search")
def test_descriptions_compare_in_code_point_order_whatever_the_database_locale(
    registry: ModelRegistry,
) -> None:
    """Descriptions are free text: `<` and `>` compare code points on every engine, as names
    do, not the server's locale (a PostgreSQL database in en_US put 'a', 'x!y' and 'ß' before
    'Z', which code points put after it)."""
    for name, text in [("m1", "B"), ("m2", "a"), ("m3", "x!y"), ("m4", "ß"), ("m5", "Z")]:
        registry.save_model(0, name, description=text)
        registry.update_model(name, description=text)
    below = [v.name for v in registry.search_versions("description < 'Z'")]
    assert below == ["m1"]
    above = [m.name for m in registry.search_models("description > 'Z'")]
    assert above == ["m2", "m3", "m4"]


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags", "search")
def test_search_brings_tags_metrics_and_aliases(filled: ModelRegistry) -> None:
    (v,) = filled.search_versions("alias = 'champion' AND name = 'a'")
    assert v == filled.get_version("a", 2)
    assert v.aliases == ("champion",) and v.metrics == {"acc": 0.5, "loss": 0.5}
    assert v.tags == {"stage": "dev", "team": "Ml"}
    everything = _all(filled.search_versions, None)
    assert len(everything) == 12
    assert everything == [v for m in filled.list_models() for v in filled.list_versions(m.name)]


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags", "search")
@pytest.mark.registry_pooled  # also through a pooler (registry-core's run: PgBouncer)
def test_order_by_and_stable_ties(filled: ModelRegistry) -> None:
    by_acc = filled.search_versions(None, order_by="metrics.acc DESC")
    accs = [v.metrics.get("acc") for v in by_acc]
    assert accs[:9] == sorted([a for a in accs if a is not None], reverse=True)
    assert accs[9:] == [None, None, None]  # without the metric: last, in both directions
    up = [v.metrics.get("acc") for v in filled.search_versions(None, order_by="metrics.acc")]
    assert up[:9] == sorted(a for a in up if a is not None) and up[9:] == [None] * 3
    by_version = filled.search_versions(None, order_by=["version DESC", "name"])
    assert _keys(list(by_version))[:4] == [("A", "3"), ("a", "3"), ("a ", "3"), ("b", "3")]
    created = [v.created_at for v in filled.search_versions(None, order_by="created_at")]
    assert created == sorted(created)


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags", "search")
@pytest.mark.parametrize(
    "order", [None, "metrics.acc DESC", ["version DESC", "name"], "created_at"]
)
def test_pages_return_each_row_once_whatever_happens_between_them(
    filled: ModelRegistry, order: object
) -> None:
    before = _keys(_all(filled.search_versions, None, order_by=order))
    first = filled.search_versions(None, order_by=order, page_size=5)  # type: ignore[arg-type]
    assert len(first) == 5 and first.next_page_token
    seen = _keys(first.items)
    # between pages: a version deleted, others saved (after and before the cursor)
    filled.delete_version(*seen[-1])
    filled.delete_version("b", 3)
    filled.save_model(0, "0-new", metrics={"acc": 0.55})
    filled.save_model(0, "z-new", metrics={"acc": 0.05})
    token: str | None = first.next_page_token
    while token:
        page = filled.search_versions(
            None,
            order_by=order,  # type: ignore[arg-type]
            page_size=5,
            page_token=token,
        )
        seen += _keys(page.items)
        token = page.next_page_token
    assert len(seen) == len(set(seen))  # none twice
    originals = [k for k in seen if not k[0].endswith("-new")]
    # every row that existed at the first page, once, but ("b", "3"), deleted before its page
    assert sorted(originals) == sorted(k for k in before if k != ("b", "3") or k in seen[:5])


@pytest.mark.registry_capabilities("search")
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
def test_pages_over_updated_at_move_what_changes(registry: ModelRegistry, direction: str) -> None:
    """updated_at changes, so no order over it can hold each row once (README, "Searching"):
    the models that do not change between pages come exactly once; one that changes moves to
    its new place, where ascending pages find it (again, if they had shown it), and which
    descending pages have passed already (not shown, if they had not reached it)."""
    for i in range(12):
        registry.save_model(i, f"m{i:02d}")
    order = f"updated_at {direction}"
    first = registry.search_models(order_by=order, page_size=4)
    names = [m.name for m in first]
    done = names[0]  # seen, then changed
    ahead = "m05" if direction == "ASC" else "m02"  # changed before its page
    registry.update_model(done, description="changed")
    registry.update_model(ahead, description="changed")
    token: str | None = first.next_page_token
    while token:
        page = registry.search_models(order_by=order, page_size=4, page_token=token)
        names += [m.name for m in page]
        token = page.next_page_token
    unchanged = {f"m{i:02d}" for i in range(12)} - {done, ahead}
    assert sorted(n for n in names if n in unchanged) == sorted(unchanged)
    if direction == "ASC":
        assert names.count(done) == 2 and names[-2:] == [done, ahead]
    else:
        assert names.count(done) == 1 and ahead not in names


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags", "search")
@pytest.mark.registry_pooled  # also through a pooler (registry-core's run: PgBouncer)
def test_pages_of_a_metric_range_ordered_by_the_metric(filled: ModelRegistry) -> None:
    text = "metrics.acc > 0.05 AND metrics.loss < 0.95"
    pages = _all(filled.search_versions, text, order_by="metrics.acc DESC", page_size=2)
    accs = [v.metrics["acc"] for v in pages]
    assert accs == sorted(accs, reverse=True) and len(accs) == len(set(_keys(pages)))
    assert all(a > 0.05 for a in accs) and len(accs) == 8


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags", "search")
def test_tokens_are_bound_to_their_search(filled: ModelRegistry) -> None:
    page = filled.search_versions("version > 0", page_size=2)
    token = page.next_page_token
    assert token
    assert filled.search_versions("version > 0", page_size=2, page_token=token).items
    for other in (
        lambda: filled.search_versions("version > 1", page_token=token),
        lambda: filled.search_versions("version > 0", order_by="created_at", page_token=token),
        lambda: filled.search_models(None, page_token=token),
        lambda: filled.search_versions("version > 0", page_token=token[:-3] + "abc"),
        lambda: filled.search_versions("version > 0", page_token="not a token"),
    ):
        with pytest.raises(InvalidInputError, match="page_token"):
            other()
    for size in (0, 1001, "5", True):
        with pytest.raises(InvalidInputError, match="page_size"):
            filled.search_versions(None, page_size=size)  # type: ignore[arg-type]
    assert len(filled.search_versions(None, page_size=1000)) == 12


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags", "search")
@pytest.mark.parametrize(
    "bad",
    [
        "name =",
        "nope = 'x'",
        "metrics.acc = 'high'",
        "tags.stage = 1",
        "version = 'one'",
        "version > 1.5",
        "created_at > 'last week'",
        "(name = 'a'",
        "name = 'a' AND",
        "name = 'a' garbage",
        "name LIKE 5",
        "alias > 3",
        "updated_at > '2020-01-01'",  # a field of models, not of versions
        "'unclosed",
        "name = 'a' ; DROP TABLE mr_models",
        "tags. = 'x'",
        "NOT " * 40 + "name = 'a'",
        " OR ".join(["name = 'a'"] * 101),
        "x" * 10_001,
    ],
)
def test_bad_filters_name_the_position(filled: ModelRegistry, bad: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        filled.search_versions(bad)
    assert "at character" in str(info.value) or "at most" in str(info.value)
    assert filled.list_models()  # nothing happened to the data


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags", "search")
@pytest.mark.registry_pooled  # also through a pooler (registry-core's run: PgBouncer)
def test_search_models(filled: ModelRegistry) -> None:
    models = filled.search_models("tags.owner IS NOT NULL")
    assert [m.name for m in models] == ["a", "b"]
    assert models.items[0].tags == {"owner": "ann"}
    assert [m.name for m in filled.search_models("name LIKE 'a%' OR name = 'A'")] == [
        "A",
        "a",
        "a ",
    ]
    newest = filled.search_models(None, order_by="updated_at DESC", page_size=1)
    assert newest.next_page_token is not None
    names = [m.name for m in _all(filled.search_models, None, order_by="created_at")]
    assert sorted(names) == sorted(m.name for m in filled.list_models())
    with pytest.raises(InvalidInputError, match="at character"):
        filled.search_models("version = 1")
    with pytest.raises(InvalidInputError, match="order"):
        filled.search_models(None, order_by="metrics.acc")


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_rename_model_keeps_everything(filled: ModelRegistry) -> None:
    before = filled.list_versions("a")
    renamed = filled.rename_model("a", "a-renamed")
    assert renamed.name == "a-renamed" and renamed.tags == {"owner": "ann"}
    after = filled.list_versions("a-renamed")
    assert [(v.version, v.tags, v.metrics, v.aliases) for v in after] == [
        (v.version, v.tags, v.metrics, v.aliases) for v in before
    ]
    assert filled.load_model("a-renamed", alias="champion") == 5
    with pytest.raises(NotFoundError):
        filled.get_model("a")
    with pytest.raises(AlreadyExistsError):
        filled.rename_model("a-renamed", "b")
    with pytest.raises(NotFoundError):
        filled.rename_model("nope", "x")
    assert filled.save_model(0, "a-renamed").version == "4"  # the counter went with it
    assert filled.save_model(0, "a").version == "1"  # the old name is free


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_model_tags_and_update_version(filled: ModelRegistry) -> None:
    filled.set_model_tag("a", "owner", "carl")
    filled.set_model_tag("a", "Owner", None)
    assert filled.get_model("a").tags == {"Owner": None, "owner": "carl"}
    filled.delete_model_tag("a", "Owner")
    assert filled.get_model("a").tags == {"owner": "carl"}
    with pytest.raises(NotFoundError, match="Owner"):
        filled.delete_model_tag("a", "Owner")
    with pytest.raises(NotFoundError):
        filled.set_model_tag("nope", "k", "v")
    v = filled.update_version("a", 2, description="retrained")
    assert v.description == "retrained" and v.aliases == ("champion",)
    assert filled.get_version("a", 2).description == "retrained"
    with pytest.raises(NotFoundError):
        filled.update_version("a", 9, description="x")


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_records_are_immutable(filled: ModelRegistry) -> None:
    v = filled.get_version("a", 2)
    m = filled.get_model("a")
    for mapping in (v.tags, v.metrics, m.tags):
        with pytest.raises(TypeError):
            mapping["x"] = 1  # type: ignore[index]
        with pytest.raises((TypeError, AttributeError)):
            mapping.update({"x": 1})  # type: ignore[union-attr]
    assert pickle.loads(pickle.dumps(v)) == v
    assert isinstance(m, Model) and dict(v.tags) == {"stage": "dev", "team": "Ml"}
