"""Hostile input on every engine: refused with InvalidInputError, nothing saved and no file left
behind; or, at the documented limits (registry_core/validate.py), stored and read back exactly.
Also: the artifact store stays inside its root, and bad URLs never echo their password."""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import registry_core
from registry_core import (
    BackendUnavailableError,
    InvalidInputError,
    ModelRegistry,
    NotFoundError,
    RegistryError,
)
from registry_core.contract.stores import local_files
from registry_core.entrypoints import parse_backend_url
from registry_core.stores import MODELS, STAGING
from registry_core.testing.databases import ENGINES
from registry_core.validate import (
    DESCRIPTION_MAX,
    MAX_ITEMS,
    NAME_MAX,
    TAG_KEY_MAX,
    TAG_VALUE_MAX,
)

# -- helpers ------------------------------------------------------------------------------


def _entries(root: Path) -> list[str]:
    """Every file and folder under <root>/models and <root>/.staging (relative, sorted)."""
    return sorted(
        p.relative_to(root).as_posix()
        for top in (root / MODELS, root / STAGING)
        if top.exists()
        for p in top.rglob("*")
    )


def _refused(what: str, call: Callable[[], object]) -> InvalidInputError:
    """Runs `call`, which must raise InvalidInputError (exactly that family, nothing else)."""
    try:
        call()
    except InvalidInputError as exc:
        assert isinstance(exc, ValueError)
        return exc
    except Exception as exc:  # any other error is a contract failure: say which
        pytest.fail(f"{what}: raised {type(exc).__name__}: {exc!r}, not InvalidInputError")
    pytest.fail(f"{what}: was accepted, not refused with InvalidInputError")


def _assert_nothing_saved(registry: ModelRegistry, what: str) -> None:
    assert registry.list_models() == [], f"{what}: a model was saved"
    assert _entries(local_files(registry).root) == [], f"{what}: files were left behind"


def _text(n: int) -> str:
    """`n` characters mixing 1-, 2-, 3- and 4-byte UTF-8 (the limits count characters)."""
    return ("a\u00e9\u20ac\U0001f600" * (n // 4 + 1))[:n]


def _model_file(tmp_path: Path) -> Path:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x00weights\xff")
    return path


# -- metrics --------------------------------------------------------------------------------

BAD_METRICS: list[tuple[str, Any]] = [
    ("10**400", 10**400),
    ("10**5000", 10**5000),  # repr() of this int raises ValueError (4300-digit limit)
    ("Fraction(10**400)", Fraction(10**400)),
    ("nan", float("nan")),
    ("inf", float("inf")),
    ("-inf", -float("inf")),
    ("True", True),
    ("False", False),
    ("'1.0'", "1.0"),
    ("None", None),
    ("[1.0]", [1.0]),
    ("b'1'", b"1"),
    ("1j", 1j),
]

BAD_METRIC_NAMES: list[tuple[str, Any]] = [
    ("empty", ""),
    ("NUL", "a\x00b"),
    ("lone surrogate", "\ud800"),
    ("too long", "k" * (TAG_KEY_MAX + 1)),
    ("int", 1),
    ("None", None),
]


@pytest.mark.registry_capabilities("metrics")
def test_hostile_metric_values_are_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    source = _model_file(tmp_path)
    for label, value in BAD_METRICS:
        for how in ("save_model", "save_model_file"):
            what = f"{how} with metrics={{'x': {label}}}"

            metrics: dict[str, Any] = {"x": value}
            if how == "save_model":
                save = partial(registry.save_model, 0, "m", metrics=metrics)
            else:
                save = partial(registry.save_model_file, source, "m", metrics=metrics)
            exc = _refused(what, save)
            # the message exists and is short, even for an int too big to repr()
            text, shown = str(exc), repr(exc)
            assert text and shown, what
            assert len(text) < 300, f"{what}: message of {len(text)} characters"
            assert "'x'" in text, f"{what}: the message does not name the metric: {text}"
            _assert_nothing_saved(registry, what)


@pytest.mark.registry_capabilities("metrics")
def test_hostile_metric_names_and_containers_are_refused(registry: ModelRegistry) -> None:
    for label, key in BAD_METRIC_NAMES:
        what = f"metric name {label}"
        _refused(what, partial(registry.save_model, 0, "m", metrics={key: 1.0}))
        _assert_nothing_saved(registry, what)
    containers: list[tuple[str, Any]] = [
        ("a list", [("x", 1.0)]),
        ("a str", "x=1"),
        ("a float", 1.0),
    ]
    for label, metrics in containers:
        what = f"metrics given as {label}"
        _refused(what, partial(registry.save_model, 0, "m", metrics=metrics))
        _assert_nothing_saved(registry, what)
    too_many = {f"m{i}": float(i) for i in range(MAX_ITEMS + 1)}
    _refused("1001 metrics", partial(registry.save_model, 0, "m", metrics=too_many))
    _assert_nothing_saved(registry, "1001 metrics")


EXTREMES = {
    "max": 1.7976931348623157e308,
    "min_subnormal": 5e-324,
    "neg_min_normal": -2.2250738585072014e-308,
    "neg_max": -1.7976931348623157e308,
    "third": Fraction(1, 3),
}


@pytest.mark.registry_capabilities("metrics")
def test_negative_zero_fractions_and_extreme_doubles(registry: ModelRegistry) -> None:
    metrics: dict[str, Any] = {"zero": -0.0, **EXTREMES}
    saved = registry.save_model(0, "m", metrics=metrics, tags={"t": "1"})
    expected = {k: float(v) for k, v in metrics.items()}
    expected["zero"] = 0.0
    reads = {
        "save_model's result": saved,
        "get_version": registry.get_version("m", 1),
        "list_versions": registry.list_versions("m")[0],
        "latest_versions": registry.latest_versions()[0],
        "find_by_tag": registry.find_by_tag("t", "1")[0],
        "best_version": registry.best_version("m", "zero"),
    }
    for where, mv in reads.items():
        got = mv.metrics
        assert sorted(got) == sorted(expected), where
        for key, want in expected.items():
            # float.hex is exact: it tells 5e-324 from 0.0 and -0.0 from 0.0
            assert isinstance(got[key], float), f"{where}: {key} is {type(got[key]).__name__}"
            assert got[key].hex() == want.hex(), f"{where}: {key} read back as {got[key]!r}"
        assert math.copysign(1, got["zero"]) == 1, f"{where}: -0.0 kept its sign"
        assert got["third"] == 1 / 3, where
    assert registry.best_version("m", "min_subnormal", higher_is_better=False).version == "1"


# -- lineage: a refused save leaves no file and no folder ----------------------------------------


@pytest.mark.registry_capabilities("lineage")
def test_save_with_a_missing_parent_leaves_nothing(registry: ModelRegistry) -> None:
    root = local_files(registry).root
    with pytest.raises(NotFoundError, match="ghost"):
        registry.save_model(0, "child", parents=[("ghost", 1)])
    assert registry.list_models() == []
    assert _entries(root) == []

    base = registry.save_model(0, "base")
    before = _entries(root)
    with pytest.raises(NotFoundError):
        registry.save_model(1, "base", parents=[("base", 1), ("base", 7)])
    with pytest.raises(NotFoundError):
        registry.save_model(2, "child", parents=[("base", 1), ("ghost", "1")])
    assert _entries(root) == before  # not even an empty version folder
    assert [m.name for m in registry.list_models()] == ["base"]
    assert [v.version for v in registry.list_versions("base")] == ["1"]
    assert registry.load_model("base", base.version) == 0


# -- text: limits, NUL, lone surrogates, other types ------------------------------------------


@pytest.mark.registry_capabilities("aliases")
def test_text_at_the_limits_round_trips(registry: ModelRegistry) -> None:
    name = _text(NAME_MAX)
    description = _text(DESCRIPTION_MAX)
    tags: dict[str, str | None] = {
        _text(TAG_KEY_MAX): _text(TAG_VALUE_MAX),
        "empty": "",
        "none": None,
        "K": "case",
        "k": "differs",
    }
    tags.update({f"t{i:04d}": str(i) for i in range(MAX_ITEMS - len(tags))})
    assert len(tags) == MAX_ITEMS
    alias = _text(NAME_MAX)

    saved = registry.save_model(0, name, description=description, tags=tags)
    registry.set_alias(name, alias, saved.version)
    mv = registry.get_version(name, alias=alias)
    assert mv.name == name and mv.version == "1"
    assert mv.description == description
    assert mv.tags == tags
    assert mv.aliases == (alias,)
    assert registry.get_model(name).description == description
    assert [m.name for m in registry.list_models()] == [name]
    key = _text(TAG_KEY_MAX)
    assert [v.name for v in registry.find_by_tag(key, _text(TAG_VALUE_MAX))] == [name]
    assert registry.find_by_tag("empty", "")[0].tags["empty"] == ""
    assert registry.load_model(name, alias=alias) == 0

    registry.update_model(name, description="")
    assert registry.get_model(name).description == ""
    registry.set_tag(name, 1, key, _text(TAG_VALUE_MAX - 1) + "\U0001f600")
    assert registry.get_version(name, 1).tags[key] == _text(TAG_VALUE_MAX - 1) + "\U0001f600"


def _hostile_text(limit: int, *, may_be_empty: bool) -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = [
        (f"{limit + 1} characters", "x" * (limit + 1)),
        (f"{limit + 1} 4-byte characters", "\U0001f600" * (limit + 1)),
        ("a NUL character", "ab\x00cd"),
        ("only a NUL character", "\x00"),
        ("a lone high surrogate", "\ud800"),
        ("a lone low surrogate at the end", "abc\udfff"),
        ("an int", 7),
        ("bytes", b"name"),
        ("a list", ["a"]),
    ]
    if not may_be_empty:
        cases.append(("empty", ""))
    return cases


@pytest.mark.registry_capabilities("lineage")
def test_hostile_names_descriptions_and_tags_refuse_the_save(registry: ModelRegistry) -> None:
    saves: list[tuple[str, Callable[[], object]]] = []
    for label, bad in [*_hostile_text(NAME_MAX, may_be_empty=False), ("None", None)]:
        saves.append((f"name {label}", partial(registry.save_model, 0, bad)))
    for label, bad in _hostile_text(DESCRIPTION_MAX, may_be_empty=True):
        saves.append(
            (f"description {label}", partial(registry.save_model, 0, "m", description=bad))
        )
    for label, bad in [*_hostile_text(TAG_KEY_MAX, may_be_empty=False), ("None", None)]:
        if isinstance(bad, list):
            continue  # not hashable: cannot be a dict key
        saves.append((f"tag key {label}", partial(registry.save_model, 0, "m", tags={bad: "v"})))
    for label, bad in _hostile_text(TAG_VALUE_MAX, may_be_empty=True):
        saves.append((f"tag value {label}", partial(registry.save_model, 0, "m", tags={"k": bad})))
    saves.append(
        (
            f"{MAX_ITEMS + 1} tags",
            partial(registry.save_model, 0, "m", tags={f"t{i}": "v" for i in range(MAX_ITEMS + 1)}),
        )
    )
    pairs: Any = [("k", "v")]
    saves.append(("tags given as a list", partial(registry.save_model, 0, "m", tags=pairs)))
    saves.append(
        ("parent name with NUL", partial(registry.save_model, 0, "m", parents=[("p\x00", 1)]))
    )
    saves.append(("parent version 0", partial(registry.save_model, 0, "m", parents=[("p", 0)])))
    saves.append(
        ("parent version True", partial(registry.save_model, 0, "m", parents=[("p", True)]))
    )
    for what, save in saves:
        _refused(what, save)
        _assert_nothing_saved(registry, what)


@pytest.mark.registry_capabilities("aliases")
def test_hostile_updates_and_aliases_change_nothing(registry: ModelRegistry) -> None:
    registry.save_model(0, "m", description="kept", tags={"k": "v"})
    calls: list[tuple[str, Callable[[], object]]] = []
    for label, bad in [*_hostile_text(NAME_MAX, may_be_empty=False), ("None", None)]:
        calls.append((f"alias {label}", partial(registry.set_alias, "m", bad, 1)))
    calls.append(("an all-digit alias", partial(registry.set_alias, "m", "12", 1)))
    for label, bad in _hostile_text(DESCRIPTION_MAX, may_be_empty=True):
        calls.append(
            (
                f"updated description {label}",
                partial(registry.update_model, "m", description=bad),
            )
        )
    for label, bad in _hostile_text(TAG_KEY_MAX, may_be_empty=False):
        calls.append((f"set_tag key {label}", partial(registry.set_tag, "m", 1, bad, "v")))
    for label, bad in _hostile_text(TAG_VALUE_MAX, may_be_empty=True):
        calls.append((f"set_tag value {label}", partial(registry.set_tag, "m", 1, "k", bad)))
    for what, call in calls:
        _refused(what, call)
    mv = registry.get_version("m")
    assert (mv.description, mv.tags, mv.aliases) == ("kept", {"k": "v"}, ())
    assert registry.get_model("m").description == "kept"
    assert len(registry.list_versions("m")) == 1


@pytest.mark.registry_capabilities("aliases", "metrics")
def test_hostile_lookups_are_refused_not_passed_to_the_database(registry: ModelRegistry) -> None:
    registry.save_model(0, "m", tags={"k": "v"})
    bad_names: list[tuple[str, Any]] = [
        ("NUL", "m\x00"),
        ("lone surrogate", "\ud800"),
        ("too long", "m" * (NAME_MAX + 1)),
        ("an int", 3),
    ]
    for label, bad in bad_names:
        lookups: list[tuple[str, Callable[[], object]]] = [
            ("get_model", partial(registry.get_model, bad)),
            ("get_version", partial(registry.get_version, bad)),
            ("load_model", partial(registry.load_model, bad)),
            ("list_versions", partial(registry.list_versions, bad)),
            ("get_version by alias", partial(registry.get_version, "m", alias=bad)),
            ("find_by_tag", partial(registry.find_by_tag, bad)),
            ("best_version", partial(registry.best_version, "m", bad)),
            ("delete_model", partial(registry.delete_model, bad)),
        ]
        if label != "too long":  # a 256-character tag value is fine (limit 500)
            lookups.append(("find_by_tag value", partial(registry.find_by_tag, "k", bad)))
        for what, call in lookups:
            _refused(f"{what} with {label}", call)
    long_value = "v" * (TAG_VALUE_MAX + 1)
    _refused("find_by_tag value too long", partial(registry.find_by_tag, "k", long_value))
    for bad_version in ("0", "-1", "1.0", "\u0661", "one", True, 0):
        _refused(f"version {bad_version!r}", partial(registry.get_version, "m", bad_version))
    assert [m.name for m in registry.list_models()] == ["m"]


# -- confinement: nothing is written outside the artifact root ---------------------------------


@pytest.mark.registry_capabilities("lineage")
def test_staging_symlink_out_of_the_root_is_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    root = local_files(registry).root
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir(parents=True)
    (root / STAGING).symlink_to(outside, target_is_directory=True)
    source = _model_file(tmp_path)
    with pytest.raises(RegistryError, match="outside"):
        registry.save_model({"w": 1}, "m")
    with pytest.raises(RegistryError, match="outside"):
        registry.save_model_file(source, "m")
    assert list(outside.iterdir()) == []
    assert registry.list_models() == []
    assert not (root / MODELS).exists() or list((root / MODELS).rglob("*")) == []


@pytest.mark.registry_capabilities("lineage")
def test_models_symlink_out_of_the_root_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    root = local_files(registry).root
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir(parents=True)
    (root / MODELS).symlink_to(outside, target_is_directory=True)
    with pytest.raises(RegistryError):
        registry.save_model({"w": 1}, "m")
    assert list(outside.rglob("*")) == []
    assert registry.list_models() == []
    assert not (root / STAGING).exists() or list((root / STAGING).iterdir()) == []


# -- URLs ------------------------------------------------------------------------------------

SECRET = "Sup3r"  # every password below contains it, raw or percent-encoded

MALFORMED_URLS: dict[str, list[str]] = {
    "sqlite": [
        "sqlite://u:Sup3rSecret@h/db",
        "sqlite:/u:Sup3rSecret@h/db",
    ],
    "postgresql": [
        "postgresql://u:Sup3rSecret@h:notaport/db",
        "postgres://u:Sup3rSecret@h:99999/db",
        "postgresql://u:Sup3rSecret@[::1/db",
        "postgresql://u:Sup3r%2FSecret@h:-1/db",
        "postgresql://u:Sup3r/Secret@h:5432/db",
        "postgresql://u:Sup3r#Secret@h:5432/db",
        "postgresql://u:Sup3r?Secret@h:5432/db",
    ],
    "mysql": [
        "mysql://u:Sup3rSecret@h:99999/db",
        "mariadb://u:Sup3rSecret@h:notaport/db",
        "mysql://u:Sup3rSecret@h]:3306/db",
        "mysql://u:Sup3r/Secret@h:3306/db",
        "mysql://u:Sup3r#Secret@h:3306/db",
        "mysql://u:Sup3r?Secret@h/db",
    ],
}
MALFORMED_URLS["mariadb"] = MALFORMED_URLS["mysql"]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception reachable through __cause__ and __context__."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [x for x in (e.__cause__, e.__context__) if x is not None]


def _leaks(exc: BaseException, secret: str, what: str) -> list[str]:
    """Where `secret` shows in `exc` or its chain: str, repr, args, the traceback's last line."""
    found = []
    for e in _chain(exc):
        texts = [str(e), repr(e), *map(repr, e.args), *traceback.format_exception_only(e)]
        found += [f"{what}: {type(e).__name__} shows it: {t.strip()}" for t in texts if secret in t]
    return found


def _assert_secret_free(exc: BaseException, secret: str, what: str) -> None:
    leaks = _leaks(exc, secret, what)
    assert not leaks, "the password shows:\n" + "\n".join(leaks)


@pytest.mark.registry_engines(*ENGINES)  # the built-in URL forms
def test_malformed_urls_never_show_the_password(engine: str, tmp_path: Path) -> None:
    leaks: list[str] = []
    for url in MALFORMED_URLS[engine]:
        opened: list[tuple[str, Callable[[], object]]] = [
            ("open_backend", partial(registry_core.open_backend, url)),
            ("connect", partial(registry_core.connect, url, artifacts=tmp_path / "artifacts")),
        ]
        for how, call in opened:
            what = f"{how}({url!r})"
            leaks += _leaks(_refused(what, call), SECRET, what)
    assert not leaks, "the password shows:\n" + "\n".join(leaks)
    assert not (tmp_path / "artifacts").exists()


def _with_option(url: str, option: str) -> str:
    return url + ("&" if "?" in url else "?") + option


@pytest.mark.registry_engines(*ENGINES)  # the built-in URL options
def test_unknown_or_bad_url_options_are_invalid_input(
    db_url: str, engine: str, tmp_path: Path
) -> None:
    password = parse_backend_url(db_url).password
    bad_value = "timeout=soon" if engine == "sqlite" else "pool_size=lots"
    for option in ("no_such_option=1", bad_value, "password_hint=Sup3rSecret"):
        url = _with_option(db_url, option)
        for how, call in (
            ("open_backend", partial(registry_core.open_backend, url)),
            ("connect", partial(registry_core.connect, url, artifacts=tmp_path / "artifacts")),
        ):
            what = f"{how} with ?{option} on {engine}"
            try:
                call()
            except BackendUnavailableError as exc:
                pytest.fail(f"{what}: BackendUnavailableError ({exc}), not InvalidInputError")
            except InvalidInputError as exc:
                if option.startswith("no_such"):
                    assert "no_such_option" in str(exc), f"{what}: {exc}"
                _assert_secret_free(exc, SECRET, what)
                if password:
                    _assert_secret_free(exc, password, what)
            else:
                pytest.fail(f"{what}: accepted")
