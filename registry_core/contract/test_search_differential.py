"""A differential test of the filter language (SPEC section 7) on every engine: hypothesis
builds random filters, renders them to filter text, and search_versions / search_models must
return exactly the rows, in exactly the order, that a plain Python evaluator of the same filter
finds in the same data as read back through the public API (list_models, list_versions).

The evaluator below is written from the semantics that registry_core/filters.py documents, not
from the SQL compiler (registry_core/search.py), which this file neither imports nor calls:

- a comparison on an absent tag or metric, on `alias` when the version has none, or on a NULL
  description is false, the negative ones ("!=", NOT IN, NOT LIKE) included; only NOT negates;
- a tag present with a None value is present (IS NOT NULL) but every comparison on it is false;
- `alias` comparisons hold if ANY of the version's aliases satisfies them;
- text compares by code point (Python str comparison), `version` numerically, metrics as
  floats, timestamps as instants (a date alone is midnight UTC; no offset means UTC);
- LIKE is case-sensitive, `%` any run and `_` one character, `\\%`, `\\_` and `\\\\` literal.

The data (five models whose names differ in case, trailing spaces and LIKE wildcards, fifteen
versions with tags, metrics, descriptions and aliases, model tags and descriptions) comes from
a fixed seed, the same on every engine; hypothesis picks the filters over it, and also the
order and the page size, so that keyset paging runs under every filter. A fuzz test passes
random text and random sequences of filter tokens (NUL and lone surrogates included): each
search returns a Page or raises InvalidInputError, and the data stays as it was.

REGISTRY_TEST_DIFFERENTIAL_EXAMPLES sets the number of examples of each test per engine;
REGISTRY_TEST_DIFFERENTIAL_SEED the seed of the data.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Generic, TypeAlias, TypeVar

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from registry_core import (
    InvalidInputError,
    Model,
    ModelRegistry,
    ModelVersion,
    Page,
    RegistryStats,
)

T = TypeVar("T")
UTC = timezone.utc

EXAMPLES = int(os.environ.get("REGISTRY_TEST_DIFFERENTIAL_EXAMPLES", "150"))
SEED = int(os.environ.get("REGISTRY_TEST_DIFFERENTIAL_SEED", "20260509"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

# -- the value sets the data and the filters draw from -------------------------------------
#: code point order: "A" < "_x" < "a" < "a " < "b%" (a case-insensitive or linguistic order,
#: or one that pads trailing spaces, puts them otherwise)
MODEL_NAMES = ("a", "A", "a ", "b%", "_x")
#: saves per model; "a" reaches 11 so that 9 < 10 only numerically, then DELETED leaves gaps
SAVES = {"a": 11, "A": 4, "a ": 2, "b%": 3, "_x": 2}
DELETED = (("a", 3), ("a", 4), ("a", 5), ("a", 6), ("a", 7), ("a", 8), ("A", 2))
TAG_KEYS = ("stage", "Stage", "team", "k.x-y", "my key", "we`ird", "é")
#: keys no row has: "stage " differs from "stage" by a trailing space only
ABSENT_TAG_KEYS = ("nope", "stage ", "STAGE")
TAG_VALUES: tuple[str | None, ...] = (
    None,
    "",
    "prod",
    "Prod",
    "prod ",
    "50%",
    "a_b",
    "x!y",
    "back\\slash",
    "it's",
    'say "hi"',
    "é",
    "ß",
    "Ä",
    "10",
    "9",
    "a*b?[c]",
    "%",
    "_",
)
METRIC_KEYS = ("acc", "Acc", "loss", "x y")
ABSENT_METRIC_KEYS = ("nope", "ACC")
METRIC_VALUES = (-1e300, -1.5, 0.0, 1e-300, 0.1, 0.25, 1 / 3, 0.5, 1.0, 2.0, 12345.678, 1e300)
DESCRIPTIONS: tuple[str | None, ...] = (
    None,
    "",
    "run 1",
    "Run 1",
    "run 10",
    "run 1 ",
    "50% off",
    "a_b",
    "it's",
    "back\\slash",
    "x!y",
    "é",
    "ß",
    "Ä",
)
ALIASES = ("champion", "Champion", "champion ", "b%", "é_1")
#: text literals: every text of the data, and some that fall between them
TEXT_POOL = tuple(
    sorted(
        {
            *(v for v in TAG_VALUES if v is not None),
            *(d for d in DESCRIPTIONS if d is not None),
            *MODEL_NAMES,
            *ALIASES,
            *("a", "b", "B", "Z", "z", "run", "prod  ", "champio", " ", "~", "ÿ", "\u00a0"),
        }
    )
)
TEXT_CHARS = "aAbpr _%'\\!é1 "
#: characters of LIKE patterns besides the wildcards (GLOB's *, ? and [ included)
LIKE_CHARS = tuple("aAbprodn 1é ßÄ!'\"*?[]x")
LIKE_SPECIAL = ("%", "_", "\\%", "\\_", "\\\\")


# -- building the data ---------------------------------------------------------------------
class Deck(Generic[T]):
    """Draws from `items` without repeats until all are used, then reshuffles: every value of
    a set appears once the draws outnumber it."""

    def __init__(self, rng: random.Random, items: Sequence[T]) -> None:
        self.rng, self.items, self.pile = rng, list(items), list[T]()

    def draw(self) -> T:
        if not self.pile:
            self.pile = list(self.items)
            self.rng.shuffle(self.pile)
        return self.pile.pop()


@dataclass
class Written:
    """What the builder wrote of one version (checked against what the API reads back)."""

    description: str | None
    tags: dict[str, str | None]
    metrics: dict[str, float]


@dataclass
class Plan:
    """What the builder wrote, per version and per model."""

    versions: dict[tuple[str, int], Written] = field(default_factory=dict)
    aliases: dict[str, dict[str, int]] = field(default_factory=dict)  # model -> alias -> number
    model_descriptions: dict[str, str | None] = field(default_factory=dict)
    model_tags: dict[str, dict[str, str | None]] = field(default_factory=dict)


def build(reg: ModelRegistry, seed: int) -> Plan:
    """Fills an empty registry from `seed`; returns what it wrote."""
    rng = random.Random(seed)
    values, metric_values = Deck(rng, TAG_VALUES), Deck(rng, METRIC_VALUES)
    descriptions = Deck(rng, DESCRIPTIONS)
    plan = Plan()
    saves = [name for name, n in SAVES.items() for _ in range(n)]
    rng.shuffle(saves)  # the models' creation times interleave
    for name in saves:
        tags = {k: values.draw() for k in rng.sample(TAG_KEYS, rng.randint(0, 3))}
        metrics = {k: metric_values.draw() for k in rng.sample(METRIC_KEYS, rng.randint(0, 3))}
        description = descriptions.draw()
        mv = reg.save_model(0, name, description=description, tags=tags, metrics=metrics)
        plan.versions[(name, int(mv.version))] = Written(description, tags, metrics)
        plan.model_descriptions.setdefault(name, description)  # the first save's
    for name, number in DELETED:
        reg.delete_version(name, number)
        del plan.versions[(name, number)]
    kept = sorted(plan.versions)

    def set_tag(name: str, number: int, key: str, value: str | None) -> None:
        reg.set_tag(name, number, key, value)
        plan.versions[(name, number)].tags[key] = value

    def update_version(name: str, number: int, description: str | None) -> None:
        reg.update_version(name, number, description=description)
        plan.versions[(name, number)].description = description

    def set_alias(name: str, alias: str, number: int) -> None:
        reg.set_alias(name, alias, number)
        plan.aliases.setdefault(name, {})[alias] = number

    for _ in range(6):
        name, number = rng.choice(kept)
        set_tag(name, number, rng.choice(TAG_KEYS), values.draw())
    for _ in range(4):
        name, number = rng.choice(kept)
        update_version(name, number, descriptions.draw())
    for name in MODEL_NAMES:
        numbers = [n for m, n in kept if m == name]
        for alias in ALIASES:
            if rng.random() < 0.3:
                set_alias(name, alias, rng.choice(numbers))
        for key in rng.sample(TAG_KEYS, rng.randint(0, 3)):
            value = values.draw()
            reg.set_model_tag(name, key, value)
            plan.model_tags.setdefault(name, {})[key] = value
        if rng.random() < 0.7:
            description = descriptions.draw()
            reg.update_model(name, description=description)
            plan.model_descriptions[name] = description
    # whatever the seed: a tag present with a None value, case and trailing-space twins, two
    # aliases on one version, a description that is NULL and one that is empty
    set_tag("a", 10, "stage", None)
    set_tag("a", 9, "stage", "prod ")
    set_tag("A", 1, "stage", "Prod")
    set_tag("b%", 2, "my key", "it's")
    set_tag("_x", 2, "we`ird", "50%")
    update_version("a", 11, None)
    update_version("a ", 1, "")
    set_alias("a", "champion", 10)
    set_alias("a", "Champion", 10)
    set_alias("b%", "b%", 1)
    reg.set_model_tag("a", "stage", None)
    plan.model_tags.setdefault("a", {})["stage"] = None
    return plan


@dataclass(frozen=True)
class World:
    """The registry of one test and its data as the API reads it back."""

    engine: str
    registry: ModelRegistry
    models: list[Model]
    versions: list[ModelVersion]

    def version_times(self) -> list[datetime]:
        return [v.created_at for v in self.versions]

    def model_times(self) -> list[datetime]:
        return [t for m in self.models for t in (m.created_at, m.updated_at)]


def read_back(reg: ModelRegistry) -> tuple[list[Model], list[ModelVersion]]:
    models = reg.list_models()
    return models, [v for m in models for v in reg.list_versions(m.name)]


@pytest.fixture
def world(registry: ModelRegistry, engine: str) -> World:
    """The test's registry filled from SEED, checked to hold what was written."""
    plan = build(registry, SEED)
    models, versions = read_back(registry)
    assert [m.name for m in models] == sorted(MODEL_NAMES)
    for m in models:
        assert (m.description, dict(m.tags)) == (
            plan.model_descriptions[m.name],
            plan.model_tags.get(m.name, {}),
        ), m
    assert [(v.name, int(v.version)) for v in versions] == sorted(plan.versions)
    for v in versions:
        w = plan.versions[(v.name, int(v.version))]
        aliases = sorted(a for a, n in plan.aliases.get(v.name, {}).items() if n == int(v.version))
        assert (v.description, dict(v.tags), dict(v.metrics), sorted(v.aliases)) == (
            w.description,
            w.tags,
            w.metrics,
            aliases,
        ), v
    return World(engine, registry, models, versions)


# -- filters: a tree of our own, rendered to filter text -----------------------------------
Scalar: TypeAlias = "str | int | float | datetime"


@dataclass(frozen=True)
class Lit:
    """A literal: as written in the filter, and the value it stands for."""

    text: str
    value: Scalar


@dataclass(frozen=True)
class Cmp:
    """`field[.key] op literal(s)`; op: = != < <= > >= like, not like, in, not in, is null,
    is not null."""

    field: str
    key: str | None
    op: str
    lits: tuple[Lit, ...]


@dataclass(frozen=True)
class FNot:
    node: FNode


@dataclass(frozen=True)
class FAnd:
    nodes: tuple[FNode, ...]


@dataclass(frozen=True)
class FOr:
    nodes: tuple[FNode, ...]


@dataclass(frozen=True)
class FGroup:
    """Parentheses the filter does not need."""

    node: FNode


FNode: TypeAlias = "Cmp | FNot | FAnd | FOr | FGroup"


@dataclass(frozen=True)
class Case:
    """A generated filter: its text and its tree."""

    text: str
    node: FNode = field(repr=False)


#: (field, key, kind) of each target; kind: text, integer, number, timestamp
Fields = list[tuple[str, str | None, str]]
VERSION_FIELDS: Fields = [
    ("name", None, "text"),
    ("version", None, "integer"),
    ("description", None, "text"),
    ("created_at", None, "timestamp"),
    ("alias", None, "text"),
    *(("tags", k, "text") for k in (*TAG_KEYS, *ABSENT_TAG_KEYS)),
    *(("metrics", k, "number") for k in (*METRIC_KEYS, *ABSENT_METRIC_KEYS)),
]
MODEL_FIELDS: Fields = [
    ("name", None, "text"),
    ("description", None, "text"),
    ("created_at", None, "timestamp"),
    ("updated_at", None, "timestamp"),
    *(("tags", k, "text") for k in (*TAG_KEYS, *ABSENT_TAG_KEYS)),
]
COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=")
SET_OPS = ("in", "not in", "is null", "is not null")
TEXT_OPS = (*COMPARE_OPS, "like", "not like", *SET_OPS)
ORDERED_OPS = (*COMPARE_OPS, *SET_OPS)


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def like_escape(text: str) -> str:
    """`text` as a LIKE pattern that matches only itself."""
    return "".join("\\" + ch if ch in "%_\\" else ch for ch in text)


@st.composite
def text_lits(draw: st.DrawFn) -> Lit:
    value = draw(st.sampled_from(TEXT_POOL) | st.text(alphabet=TEXT_CHARS, max_size=3))
    return Lit(quote(value), value)


@st.composite
def like_lits(draw: st.DrawFn) -> Lit:
    """Patterns of wildcards, escapes and characters, or a value of the data with some of its
    characters made wildcards (so that patterns do match)."""
    if draw(st.booleans()):
        pieces = draw(st.lists(st.sampled_from(LIKE_SPECIAL) | st.sampled_from(LIKE_CHARS)))
        pattern = "".join(pieces)
    else:
        out = []
        for ch in draw(st.sampled_from(TEXT_POOL)):
            action = draw(st.sampled_from(("keep", "keep", "keep", "one", "any", "drop")))
            if action == "one":
                out.append("_")
            elif action == "any":
                out.append("%")
            elif action == "keep":
                out.append(like_escape(ch))
        prefix = draw(st.sampled_from(("", "", "%", "_")))
        suffix = draw(st.sampled_from(("", "", "%", "_")))
        pattern = prefix + "".join(out) + suffix
    return Lit(quote(pattern), pattern)


@st.composite
def integer_lits(draw: st.DrawFn) -> Lit:
    # beyond 32 and 64 bits too: a version is compared as a number, whatever its size
    n = draw(st.sampled_from((*range(-1, 13), 2**31, 2**63, 10**20)))
    form = draw(st.sampled_from(("plain", "plain", "plus", "zero")))
    text = str(n)
    if form == "plus" and n >= 0:
        text = f"+{n}"
    elif form == "zero" and n >= 0:
        text = f"0{n}"
    return Lit(text, int(text))


@st.composite
def number_lits(draw: st.DrawFn) -> Lit:
    v = draw(st.sampled_from((*METRIC_VALUES, -1.0, 3.0, 0.3, 1e308, -2.5)))
    form = draw(st.sampled_from(("repr", "repr", "g", "E", "int", "plus", "dot")))
    text = repr(v)
    if form == "g":
        text = f"{v:.3g}"
    elif form == "E":
        text = f"{v:.6E}"
    elif form == "int" and v.is_integer() and abs(v) < 1e15:
        text = str(int(v)) + draw(st.sampled_from(("", ".", ".0")))
    elif form == "plus" and v >= 0:
        text = "+" + repr(v)
    elif form == "dot" and 0 < v < 1 and repr(v).startswith("0."):
        text = repr(v)[1:]
    return Lit(text, float(text))


def parse_instant(text: str) -> datetime:
    """An ISO-8601 literal as an instant: a date alone is midnight UTC, no offset is UTC."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


DELTAS = tuple(
    timedelta(**{unit: sign * n})
    for unit, n in (
        ("microseconds", 1),
        ("milliseconds", 1),
        ("seconds", 1),
        ("minutes", 1),
        ("hours", 1),
        ("days", 1),
        ("days", 400),
    )
    for sign in (1, -1)
)
TIME_STYLES = (
    "Z",
    "z",
    "+00:00",
    "+05:30",
    "-08:00",
    "naive",
    "space",
    "seconds",
    "millis",
    "minutes",
    "date",
)
#: literals far from the data, at the ends of what ISO-8601 writes (years before 1000 too)
FAR_TIMES = (
    "0001-01-01",
    "0500-06-15T12:00:00",
    "0999-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2000-02-29",
    "9999-12-31",
    "9999-12-31T23:59:59.999999",
)


def render_time(dt: datetime, style: str) -> str:
    """The aware UTC `dt` written in one of the ISO-8601 forms a filter takes."""
    if style in ("Z", "z"):
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + style
    if style == "+00:00":
        return dt.isoformat()
    if style in ("+05:30", "-08:00"):
        hours, minutes = int(style[:3]), int(style[0] + style[4:])
        return dt.astimezone(timezone(timedelta(hours=hours, minutes=minutes))).isoformat()
    naive = dt.replace(tzinfo=None)
    if style == "naive":
        return naive.isoformat()
    if style == "space":
        return naive.isoformat(sep=" ")
    if style == "seconds":
        return dt.isoformat(timespec="seconds")
    if style == "millis":
        return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if style == "minutes":
        return naive.isoformat(timespec="minutes")
    return dt.date().isoformat()


def time_lits(anchors: Sequence[datetime]) -> st.SearchStrategy[Lit]:
    """Times at, just beside, and around the data's own times (and a few far from them)."""

    @st.composite
    def lits(draw: st.DrawFn) -> Lit:
        if draw(st.integers(0, 5)) == 0:
            text = draw(st.sampled_from(FAR_TIMES))
        else:
            anchor = draw(st.sampled_from(anchors))
            delta = draw(st.sampled_from((timedelta(0),) * 4 + DELTAS))
            text = render_time(anchor + delta, draw(st.sampled_from(TIME_STYLES)))
        return Lit(quote(text), parse_instant(text))

    return lits()


def comparisons(fields: Fields, times: Sequence[datetime]) -> st.SearchStrategy[Cmp]:
    lit_of: dict[str, st.SearchStrategy[Lit]] = {
        "text": text_lits(),
        "integer": integer_lits(),
        "number": number_lits(),
        "timestamp": time_lits(times),
    }

    @st.composite
    def comparison(draw: st.DrawFn) -> Cmp:
        name, key, kind = draw(st.sampled_from(fields))
        op = draw(st.sampled_from(TEXT_OPS if kind == "text" else ORDERED_OPS))
        lits: tuple[Lit, ...] = ()
        if op in ("like", "not like"):
            lits = (draw(like_lits()),)
        elif op in ("in", "not in"):
            lits = tuple(draw(st.lists(lit_of[kind], min_size=1, max_size=4)))
        elif op in COMPARE_OPS:
            lits = (draw(lit_of[kind]),)
        return Cmp(name, key, op, lits)

    return comparison()


def trees(fields: Fields, times: Sequence[datetime]) -> st.SearchStrategy[FNode]:
    def extend(kids: st.SearchStrategy[FNode]) -> st.SearchStrategy[FNode]:
        several = st.lists(kids, min_size=2, max_size=3).map(tuple)
        return st.one_of(kids.map(FNot), several.map(FAnd), several.map(FOr), kids.map(FGroup))

    return st.recursive(comparisons(fields, times), extend, max_leaves=6)


class Renderer:
    """Filter text of a tree; every choice of spelling (keyword case, spaces, `!=` or `<>`,
    a key bare or backquoted) is drawn, so hypothesis varies and shrinks it."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def sep(self) -> str:
        return self.draw(st.sampled_from((" ", " ", "  ", "\n", "\t", " \r\n ")))

    def tight(self) -> str:
        """A separator where none is needed (around operators, inside parentheses)."""
        return self.draw(st.sampled_from(("", " ", "  ")))

    def word(self, word: str) -> str:
        style = self.draw(st.sampled_from(("upper", "lower", "title", "mixed")))
        if style == "lower":
            return word.lower()
        if style == "title":
            return word.title()
        if style == "mixed":
            return "".join(c.lower() if i % 2 else c.upper() for i, c in enumerate(word))
        return word.upper()

    def field(self, c: Cmp) -> str:
        if c.key is None:
            return self.word(c.field)
        key = c.key
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", key) or self.draw(st.booleans()):
            key = "`" + key.replace("`", "``") + "`"
        return f"{self.word(c.field)}.{key}"

    def comparison(self, c: Cmp) -> str:
        f = self.field(c)
        if c.op == "is null":
            return f"{f}{self.sep()}{self.word('IS')}{self.sep()}{self.word('NULL')}"
        if c.op == "is not null":
            words = [self.word(w) for w in ("IS", "NOT", "NULL")]
            return f + "".join(self.sep() + w for w in words)
        if c.op in ("like", "not like"):
            words = [self.word(w) for w in c.op.upper().split()]
            return f + "".join(self.sep() + w for w in words) + self.sep() + c.lits[0].text
        if c.op in ("in", "not in"):
            words = [self.word(w) for w in c.op.upper().split()]
            items = [self.tight() + lit.text + self.tight() for lit in c.lits]
            listed = self.tight() + "(" + ",".join(items) + ")"
            return f + "".join(self.sep() + w for w in words) + listed
        op = self.draw(st.sampled_from(("!=", "<>"))) if c.op == "!=" else c.op
        return f"{f}{self.tight()}{op}{self.tight()}{c.lits[0].text}"

    def paren(self, node: FNode) -> str:
        return f"({self.tight()}{self.render(node)}{self.tight()})"

    def render(self, node: FNode) -> str:
        if isinstance(node, Cmp):
            return self.comparison(node)
        if isinstance(node, FGroup):
            return self.paren(node.node)
        if isinstance(node, FNot):  # NOT binds tighter than AND and OR
            inner = node.node
            if isinstance(inner, (FAnd, FOr)):
                return self.word("NOT") + self.tight() + self.paren(inner)
            return self.word("NOT") + self.sep() + self.render(inner)
        word = "AND" if isinstance(node, FAnd) else "OR"
        parts = [
            self.paren(n) if isinstance(node, FAnd) and isinstance(n, FOr) else self.render(n)
            for n in node.nodes
        ]
        out = parts[0]
        for part in parts[1:]:
            out += self.sep() + self.word(word) + self.sep() + part
        return out


def filters(world: World, target: str) -> st.SearchStrategy[Case]:
    """Filters over the fields of `target`, with times around those of the data."""
    if target == "versions":
        fields, times = VERSION_FIELDS, world.version_times()
    else:
        fields, times = MODEL_FIELDS, world.model_times()
    tree = trees(fields, times)

    @st.composite
    def case(draw: st.DrawFn) -> Case:
        node = draw(tree)
        text = Renderer(draw).render(node)
        return Case(padded(draw, text), node)

    return case()


def padded(draw: st.DrawFn, text: str) -> str:
    """Spaces around the whole filter, sometimes."""
    return draw(st.sampled_from(("", "", " ", "\n"))) + text + draw(st.sampled_from(("", " ")))


# -- the evaluator -------------------------------------------------------------------------
Row: TypeAlias = "ModelVersion | Model"


def candidates(row: Row, c: Cmp) -> tuple[bool, list[Scalar]]:
    """(whether the field is present, the values a comparison may hold for). A NULL
    description, an absent tag or metric and no alias are absent; a tag present with a None
    value is present but has no value to compare."""
    if c.field == "tags":
        assert c.key is not None
        if c.key not in row.tags:
            return False, []
        value = row.tags[c.key]
        return True, [] if value is None else [value]
    if c.field == "metrics":
        assert isinstance(row, ModelVersion) and c.key is not None
        if c.key not in row.metrics:
            return False, []
        return True, [row.metrics[c.key]]
    if c.field == "alias":
        assert isinstance(row, ModelVersion)
        return bool(row.aliases), list(row.aliases)
    if c.field == "version":
        assert isinstance(row, ModelVersion)
        return True, [int(row.version)]
    value = getattr(row, c.field)
    return (False, []) if value is None else (True, [value])


def like(pattern: str, text: str) -> bool:
    """SQL LIKE, case-sensitive: % any run, _ one character, a backslash makes the next
    character literal (a backslash at the very end is itself)."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(re.escape(pattern[i + 1] if i + 1 < len(pattern) else "\\"))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), text, re.DOTALL) is not None


def holds(op: str, value: Any, lits: tuple[Lit, ...]) -> bool:
    wanted = [lit.value for lit in lits]
    if op == "like":
        return like(str(wanted[0]), value)
    if op == "not like":
        return not like(str(wanted[0]), value)
    if op == "in":
        return value in wanted
    if op == "not in":
        return value not in wanted
    other: Any = wanted[0]
    return bool(
        {
            "=": value == other,
            "!=": value != other,
            "<": value < other,
            "<=": value <= other,
            ">": value > other,
            ">=": value >= other,
        }[op]
    )


def evaluate(node: FNode, row: Row) -> bool:
    if isinstance(node, FGroup):
        return evaluate(node.node, row)
    if isinstance(node, FNot):
        return not evaluate(node.node, row)
    if isinstance(node, FAnd):
        return all(evaluate(n, row) for n in node.nodes)
    if isinstance(node, FOr):
        return any(evaluate(n, row) for n in node.nodes)
    present, values = candidates(row, node)
    if node.op == "is null":
        return not present
    if node.op == "is not null":
        return present
    return any(holds(node.op, v, node.lits) for v in values)


# -- orders ----------------------------------------------------------------------------------
#: (order_by, [(field, descending)]) for the API and for sorting the evaluator's rows
Order = tuple[Any, list[tuple[str, bool]]]
DEFAULT_VERSION_ORDER = [("name", False), ("version", False)]
VERSION_ORDERS: list[Order] = [
    *[(None, DEFAULT_VERSION_ORDER)] * 6,
    (["name", "version"], DEFAULT_VERSION_ORDER),
    (["name DESC", "version desc"], [("name", True), ("version", True)]),
    (["version DESC", "name"], [("version", True), ("name", False)]),
    (["metrics.acc DESC", "name", "version"], [("metrics.acc", True), *DEFAULT_VERSION_ORDER]),
    (["metrics.`x y`", "name", "version"], [("metrics.x y", False), *DEFAULT_VERSION_ORDER]),
    (["created_at DESC", "name", "version"], [("created_at", True), *DEFAULT_VERSION_ORDER]),
]
MODEL_ORDERS: list[Order] = [
    *[(None, [("name", False)])] * 4,
    ("name", [("name", False)]),
    ("name DESC", [("name", True)]),
    (["updated_at DESC", "name"], [("updated_at", True), ("name", False)]),
    (["created_at", "name"], [("created_at", False), ("name", False)]),
]
PAGE_SIZES = st.sampled_from((1, 2, 3, 3, 5, 100, 100, 1000))


def sort_rows(rows: list[T], keys: list[tuple[str, bool]]) -> list[T]:
    """`rows` in the order of `keys`; rows without an ordering metric last in both
    directions. Stable sorts from the last key to the first."""
    out = list(rows)
    for label, descending in reversed(keys):

        def value(row: Any, label: str = label) -> Any:
            if label.startswith("metrics."):
                return row.metrics.get(label[len("metrics.") :])
            return int(row.version) if label == "version" else getattr(row, label)

        present = [r for r in out if value(r) is not None]
        absent = [r for r in out if value(r) is None]
        present.sort(key=value, reverse=descending)
        out = present + absent
    return out


def every_page(
    search: Callable[..., Page[T]], text: str | None, order_by: Any, size: int
) -> list[T]:
    """All the rows of a search, following the page tokens."""
    out: list[T] = []
    token: str | None = None
    for _ in range(200):
        page = search(text, order_by=order_by, page_size=size, page_token=token)
        assert isinstance(page, Page) and len(page.items) <= size
        out += page.items
        token = page.next_page_token
        if token is None:
            return out
    raise AssertionError(f"more than 200 pages of {size} for {text!r}")


def describe(row: Row) -> str:
    if isinstance(row, ModelVersion):
        return (
            f"{row.name!r} v{row.version}: description={row.description!r} "
            f"tags={dict(row.tags)!r} metrics={dict(row.metrics)!r} "
            f"aliases={row.aliases!r} created_at={row.created_at.isoformat()}"
        )
    return (
        f"{row.name!r}: description={row.description!r} tags={dict(row.tags)!r} "
        f"created_at={row.created_at.isoformat()} updated_at={row.updated_at.isoformat()}"
    )


def key_of(row: Row) -> tuple[str, str] | str:
    return (row.name, row.version) if isinstance(row, ModelVersion) else row.name


def check_search(
    world: World,
    search: Callable[..., Page[Any]],
    rows: Sequence[Row],
    case: Case,
    order: Order,
    size: int,
) -> None:
    note(f"engine {world.engine}: filter {case.text!r}, order_by {order[0]!r}, page_size {size}")
    got = [key_of(r) for r in every_page(search, case.text, order[0], size)]
    expected_rows = sort_rows([r for r in rows if evaluate(case.node, r)], order[1])
    expected = [key_of(r) for r in expected_rows]
    if got != expected:
        differ = {*got} ^ {*expected}
        shown = "\n  ".join(describe(r) for r in rows if key_of(r) in differ)
        raise AssertionError(
            f"{world.engine}: {case.text!r} (order_by={order[0]!r}, page_size={size})\n"
            f"search:    {got}\nevaluator: {expected}\nrows in one only:\n  {shown}"
        )


@pytest.mark.registry_capabilities("aliases", "search")
def test_search_versions_matches_the_evaluator(world: World) -> None:
    @SETTINGS
    @given(
        case=filters(world, "versions"),
        order=st.sampled_from(VERSION_ORDERS),
        size=PAGE_SIZES,
    )
    def check(case: Case, order: Order, size: int) -> None:
        check_search(world, world.registry.search_versions, world.versions, case, order, size)

    check()


@pytest.mark.registry_capabilities("aliases", "search")
def test_search_models_matches_the_evaluator(world: World) -> None:
    @SETTINGS
    @given(case=filters(world, "models"), order=st.sampled_from(MODEL_ORDERS), size=PAGE_SIZES)
    def check(case: Case, order: Order, size: int) -> None:
        check_search(world, world.registry.search_models, world.models, case, order, size)

    check()


# -- fuzz: any text is a Page or an InvalidInputError ------------------------------------------
FUZZ_TOKENS = (
    *("AND", "and", "Or", "NOT", "not", "LIKE", "In", "IS", "NULL", "null", "IS NOT NULL"),
    *("name", "NAME", "version", "description", "created_at", "updated_at", "alias"),
    *("tags.stage", "TAGS.Stage", "tags.`my key`", "tags.`we``ird`", "tags.``", "tags.`"),
    *("tags.", "metrics.acc", "metrics.`x y`", "metrics.", "tags.k.x-y", "nope", "tags.`é`"),
    *("tags.`\ud800`", "metrics.`\udfff`", "tags.`\x00`", "tags.a.", "metrics.-"),
    *("=", "!=", "<>", "<", "<=", ">", ">=", "==", "!", "=<", "=>"),
    *("'", "''", "'a'", "'it''s'", "'é'", "'\\'", "'%'", "'\\%'", "'\\'", "'\ud800'", "'\x00'"),
    *("'2026-05-09'", "'2026-13-01'", "'0999-01-01'", "'9999-12-31T23:59:59-01:00'"),
    *("'0001-01-01T00:00:00+01:00'", "'2026-05-09T25:00'", "'20260509'", "'now'", "'Z'"),
    *("(", ")", ",", "`", "``", ";", "%", "_", "\\", '"', "*", "?", "[", "--", "/*"),
    *("0", "1", "-1", "+1", "1.5", ".5", "1.", "1e300", "1e400", "-1e400", "1e-400", "1e"),
    *("99999999999999999999", "2147483648", "9223372036854775808", "-9223372036854775809"),
    *("0x10", "NaN", "inf", "-", "+", ".", "e5"),
    *("é", "ß", "Ä", "\u0663", "\u00a0", "\u2028", "\x00", "\ud800", "\udfff", "\U0001f600"),
    *("DROP TABLE mr_models", "1=1", "' OR '1'='1"),
)
FUZZ_CHARS = st.characters() | st.sampled_from(
    (*"'`()\\%_,=<>!;\"-+.eE0123456789 \n\t", "\x00", "\ud800", "\udfff", "\u0663")
)
GAPS = st.sampled_from(("", " ", " ", "  ", "\n"))


@st.composite
def token_texts(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(st.sampled_from(FUZZ_TOKENS), max_size=12))
    return "".join(draw(GAPS) + t for t in tokens)


#: per kind of field, field tokens and literal tokens at the edges of what each takes
FUZZ_FIELDS = {
    "text": ("name", "NAME", "description", "alias", "tags.stage", "tags.`my key`", "tags.`é`"),
    "odd key": ("tags.`\ud800`", "tags.`a\udfffb`", "metrics.`\ud800`", "tags.`\x00`"),
    "integer": ("version", "Version"),
    "number": ("metrics.acc", "metrics.`x y`", "METRICS.ACC"),
    "timestamp": ("created_at", "updated_at", "CREATED_AT"),
}
FUZZ_LITERALS = {
    "text": ("'a'", "''", "'it''s'", "'é'", "'\\'", "'%'", "'\\%'", "'\ud800'", "'a\udfffb'"),
    "odd key": ("'x'", "1"),
    "integer": ("0", "-1", "+1", "007", "2147483648", "9223372036854775808", "10" * 15, "1.5"),
    "number": ("1e308", "1.7976931348623157e308", "1e309", "-1e400", "1e-400", "4.9e-324", "-0"),
    "timestamp": (
        *("'2026-05-09'", "'2026-13-01'", "'0999-01-01'", "'0001-01-01'", "'20260509'"),
        *("'9999-12-31T23:59:59-01:00'", "'0001-01-01T00:00:00+01:00'", "'9999-12-31'"),
        *("'2026-05-09T25:00'", "'now'", "'2026-05-09T10:00+24:00'", "'2026-05-09T10:00:00.5Z'"),
    ),
}


@st.composite
def near_comparisons(draw: st.DrawFn) -> str:
    """`field op literal` joined by AND/OR: mostly well formed, with literals at the edges of
    what the field takes (and sometimes of another kind), keys no database can store."""
    ops = [*COMPARE_OPS, "<>", "LIKE", "NOT LIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]
    kinds = sorted(FUZZ_FIELDS)
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(kinds))
        f, op = draw(st.sampled_from(FUZZ_FIELDS[kind])), draw(st.sampled_from(ops))
        if draw(st.integers(0, 3)) == 0:
            kind = draw(st.sampled_from(kinds))
        literals = st.sampled_from(FUZZ_LITERALS[kind])
        if op.endswith("NULL"):
            parts.append(f"{f} {op}")
        elif op.endswith("IN"):
            items = draw(st.lists(literals, min_size=1, max_size=3))
            parts.append(f"{f} {op} ({', '.join(items)})")
        else:
            parts.append(f"{f} {op} {draw(literals)}")
    return f" {draw(st.sampled_from(('AND', 'OR')))} ".join(parts)


def mutations(world: World) -> st.SearchStrategy[str]:
    """Valid filters with a few characters or tokens inserted, deleted or replaced."""
    valid = st.sampled_from(("versions", "models")).flatmap(lambda t: filters(world, t))

    @st.composite
    def mutated(draw: st.DrawFn) -> str:
        text = draw(valid).text
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(("insert", "delete", "replace", "truncate")))
            i = draw(st.integers(0, len(text)))
            if kind == "insert":
                text = text[:i] + draw(st.sampled_from(FUZZ_TOKENS)) + text[i:]
            elif kind == "delete":
                text = text[:i] + text[draw(st.integers(i, min(len(text), i + 6))) :]
            elif kind == "replace":
                text = text[:i] + draw(FUZZ_CHARS) + text[i + 1 :]
            else:
                text = text[:i]
        return text

    return mutated()


Snapshot = tuple[list[Model], list[ModelVersion], RegistryStats]


def snapshot(reg: ModelRegistry) -> Snapshot:
    models, versions = read_back(reg)
    return models, versions, reg.stats()


@pytest.mark.registry_capabilities("aliases", "search")
def test_fuzzed_filters_give_a_page_or_invalid_input(world: World) -> None:
    reg = world.registry
    before = snapshot(reg)
    texts = st.one_of(
        st.text(FUZZ_CHARS, max_size=40),
        token_texts(),
        near_comparisons(),
        near_comparisons(),
        mutations(world),
    )

    @SETTINGS
    @given(text=texts)
    def check(text: str) -> None:
        note(f"engine {world.engine}: filter {text!r}")
        for search in (reg.search_versions, reg.search_models):
            try:
                page = search(text, page_size=3)
            except InvalidInputError:
                continue
            assert isinstance(page, Page)
            assert all(isinstance(r, (ModelVersion, Model)) for r in page)
        assert reg.stats() == before[2]

    check()
    assert snapshot(reg) == before


def test_the_evaluator_itself() -> None:
    """The evaluator's LIKE and times, on cases whose answers are known."""
    assert like("a%", "a ") and like("a_b", "a_b") and like("a_b", "axb")
    assert not like("a\\_b", "axb") and like("a\\_b", "a_b") and like("50\\%", "50%")
    assert like("back\\\\slash", "back\\slash") and not like("A%", "a")
    assert like("%", "") and not like("_", "") and like("_", "é") and not like("a", "a ")
    assert parse_instant("2026-01-02") == datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_instant("2026-01-02T05:30:00+05:30") == datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_instant("2026-01-02T00:00:00") == parse_instant("2026-01-02T00:00:00Z")
    tag_none = Model("m", None, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    tag_none = Model("m", None, tag_none.created_at, tag_none.updated_at, {"k": None})
    for op in ("=", "!=", "like", "not like", "in", "not in"):
        lit = Lit("'x'", "x")
        assert not evaluate(Cmp("tags", "k", op, (lit,)), tag_none)
        assert not evaluate(Cmp("tags", "absent", op, (lit,)), tag_none)
        assert not evaluate(Cmp("description", None, op, (lit,)), tag_none)
    assert evaluate(Cmp("tags", "k", "is not null", ()), tag_none)
    assert evaluate(Cmp("tags", "absent", "is null", ()), tag_none)
    assert evaluate(FNot(Cmp("tags", "k", "=", (Lit("'x'", "x"),))), tag_none)
