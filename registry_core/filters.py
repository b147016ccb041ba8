"""The filter language of `search_versions` and `search_models` (SPEC section 7): a small
hand-written tokenizer and recursive-descent parser into a tree of `Comparison`, `Not`, `And`
and `Or` nodes, checked against the fields of what is searched. The SQL compiler is
`registry_core.search`; no value ever enters SQL text.

    filter     := or
    or         := and ("OR" and)*
    and        := not ("AND" not)*
    not        := "NOT" not | "(" or ")" | comparison
    comparison := field op literal | field ["NOT"] "LIKE" string
                | field ["NOT"] "IN" "(" literal ("," literal)* ")" | field "IS" ["NOT"] "NULL"
    field      := name | version | description | created_at | updated_at | alias
                | tags.KEY | metrics.KEY          KEY: [A-Za-z_][A-Za-z0-9_.-]* or `quoted`
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal    := 'string' ('' inside) | number

Keywords are case-insensitive. Every error is an InvalidInputError naming the position (1-based
character) and what was expected there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal, TypeAlias

from registry_core.errors import InvalidInputError

#: limits on one filter, so that a filter cannot make a statement the database refuses
MAX_LENGTH = 10_000  # characters
MAX_COMPARISONS = 100
MAX_DEPTH = 32  # nesting of parentheses and NOT
MAX_IN = 1000  # values in one IN list
#: version literals are clamped to +-2**62: no stored version comes near it, so every
#: comparison keeps its answer, and every driver binds it as a 64-bit integer
VERSION_BOUND = 2**62

Target = Literal["versions", "models"]
#: field kinds: text, number (a metric), integer (version), timestamp, alias (text, several)
FIELDS: dict[str, dict[str, str]] = {
    "versions": {
        "name": "text",
        "version": "integer",
        "description": "text",
        "created_at": "timestamp",
        "alias": "alias",
    },
    "models": {
        "name": "text",
        "description": "text",
        "created_at": "timestamp",
        "updated_at": "timestamp",
    },
}
#: per target, the prefixed fields: tags.KEY (text) and metrics.KEY (number)
PREFIXED: dict[str, dict[str, str]] = {
    "versions": {"tags": "text", "metrics": "number"},
    "models": {"tags": "text"},
}
OPERATORS = ("=", "!=", "<", "<=", ">", ">=")

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<field>(?:tags|metrics)\.(?:`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_.\-]*)
              |[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE | re.IGNORECASE,
)
_KEYWORDS = {"AND", "OR", "NOT", "LIKE", "IN", "IS", "NULL"}


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, word, field, op, punct, end
    text: str
    pos: int  # 0-based offset


@dataclass(frozen=True)
class Field:
    """A field of the target: `name`, or `key` of tags/metrics."""

    name: str  # "name", "version", ..., "tags", "metrics"
    key: str | None
    kind: str  # text, number, integer, timestamp, alias

    def label(self) -> str:
        return self.name if self.key is None else f"{self.name}.{self.key}"


Value: TypeAlias = "str | float | int"


@dataclass(frozen=True)
class Comparison:
    """`field op value`; op is one of OPERATORS, "like", "not like", "in", "not in" or
    "is null". A comparison on an absent tag, metric, alias or description is false, the
    negative ones included; only `Not` negates. A timestamp's value is its stored text form, a
    version's an int, a metric's a float."""

    field: Field
    op: str
    value: Value | tuple[Value, ...] | None


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node: TypeAlias = "Comparison | Not | And | Or"


def _error(text: str, pos: int, message: str) -> InvalidInputError:
    shown = text[max(0, pos - 20) : pos + 20].replace("\n", " ")
    return InvalidInputError(f"filter, at character {pos + 1}: {message} (near {shown!r})")


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an "end" token; InvalidInputError on a character
    that starts no token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos] == "'":
                raise _error(text, pos, "a string that is never closed")
            if text[pos] == "`":
                raise _error(text, pos, "a backquoted key needs tags. or metrics. before it")
            raise _error(text, pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "space":
            value = m.group()
            if kind == "field" and "." not in value and value.upper() in _KEYWORDS:
                kind = "word"
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def timestamp_literal(text: str) -> str | None:
    """An ISO-8601 date or time as the stored text (UTC, fixed width), None if it is not one;
    a date alone is midnight UTC, a time without an offset is UTC."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            value = datetime.fromisoformat(text + "T00:00:00")
        else:
            cleaned = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            value = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        value = value.astimezone(timezone.utc)
    except OverflowError:  # an offset that moves it before year 1 or after 9999
        return None
    # isoformat, not strftime: glibc's %Y writes year 500 as "500", which breaks the fixed width
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _kind_word(kind: str) -> str:
    return {
        "text": "text",
        "alias": "text",
        "number": "a number",
        "integer": "a whole number",
        "timestamp": "a time (an ISO-8601 string)",
    }[kind]


class _Parser:
    def __init__(self, text: str, target: Target) -> None:
        self.text, self.target = text, target
        self.tokens = tokenize(text)
        self.i = 0
        self.comparisons = 0

    # -- tokens ---------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: Token | None = None) -> InvalidInputError:
        return _error(self.text, (tok or self.tok).pos, message)

    def expected(self, what: str) -> InvalidInputError:
        got = "the end of the filter" if self.tok.kind == "end" else repr(self.tok.text)
        return self.error(f"expected {what}, found {got}")

    def keyword(self, *words: str) -> bool:
        if self.tok.kind == "word" and self.tok.text.upper() in words:
            self.i += 1
            return True
        return False

    def punct(self, ch: str) -> bool:
        if self.tok.kind == "punct" and self.tok.text == ch:
            self.i += 1
            return True
        return False

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.or_(0)
        if self.tok.kind != "end":
            raise self.expected("AND, OR or the end of the filter")
        return node

    def or_(self, depth: int) -> Node:
        parts = [self.and_(depth)]
        while self.keyword("OR"):
            parts.append(self.and_(depth))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_(self, depth: int) -> Node:
        parts = [self.not_(depth)]
        while self.keyword("AND"):
            parts.append(self.not_(depth))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_(self, depth: int) -> Node:
        if depth >= MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} deep")
        if self.keyword("NOT"):
            return Not(self.not_(depth + 1))
        if self.punct("("):
            node = self.or_(depth + 1)
            if not self.punct(")"):
                raise self.expected("')'")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        field_tok = self.tok
        if field_tok.kind != "field":
            raise self.expected("a field (such as name, version, tags.KEY) or '('")
        field = self.field(field_tok)
        self.i += 1
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(f"more than {MAX_COMPARISONS} comparisons", field_tok)
        op_tok = self.tok
        node: Node
        if self.keyword("IS"):
            negated = self.keyword("NOT")
            if not self.keyword("NULL"):
                raise self.expected("NULL")
            node = Comparison(field, "is null", None)
            return Not(node) if negated else node
        negated = self.keyword("NOT")
        if self.keyword("LIKE"):
            if field.kind not in ("text", "alias"):
                raise self.error(f"LIKE needs a text field; {field.label()} is not", op_tok)
            if self.tok.kind != "string":
                raise self.expected("a 'pattern' after LIKE")
            # "NOT LIKE" is a comparison of its own: false for an absent tag, as "!=" is
            return Comparison(field, "not like" if negated else "like", self.literal(field))
        if self.keyword("IN"):
            if not self.punct("("):
                raise self.expected("'(' after IN")
            values = [self.literal(field)]
            while self.punct(","):
                values.append(self.literal(field))
                if len(values) > MAX_IN:
                    raise self.error(f"more than {MAX_IN} values in one IN list")
            if not self.punct(")"):
                raise self.expected("',' or ')'")
            return Comparison(field, "not in" if negated else "in", tuple(values))
        if negated:
            raise self.expected("LIKE or IN after NOT")
        if op_tok.kind != "op":
            raise self.expected("an operator (= != < <= > >= LIKE IN IS)")
        op = "!=" if op_tok.text == "<>" else op_tok.text
        self.i += 1
        return Comparison(field, op, self.literal(field))

    def field(self, tok: Token) -> Field:
        prefix, dot, rest = tok.text.partition(".")
        if dot:
            kinds = PREFIXED[self.target]
            if prefix.lower() not in kinds:
                raise self.error(f"{self.target} have no {prefix}.KEY fields", tok)
            key = rest[1:-1].replace("``", "`") if rest.startswith("`") else rest
            if not key:
                raise self.error("an empty key", tok)
            return Field(prefix.lower(), key, kinds[prefix.lower()])
        kinds = FIELDS[self.target]
        name = tok.text.lower()
        if name not in kinds:
            known = ", ".join([*kinds, *(f"{p}.KEY" for p in PREFIXED[self.target])])
            raise self.error(f"unknown field {tok.text!r} for {self.target} (known: {known})", tok)
        return Field(name, None, kinds[name])

    def literal(self, field: Field) -> Value:
        tok = self.tok
        if tok.kind == "string":
            text = tok.text[1:-1].replace("''", "'")
            self.i += 1
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise self.error("a string that is not valid Unicode", tok) from None
            if field.kind in ("text", "alias"):
                return text
            if field.kind == "timestamp":
                stored = timestamp_literal(text)
                if stored is None:
                    raise self.error(f"{text!r} is not an ISO-8601 date or time", tok)
                return stored
            raise self.error(f"{field.label()} is {_kind_word(field.kind)}, not text", tok)
        if tok.kind == "number":
            self.i += 1
            if field.kind == "number":
                value = float(tok.text)
                if not math.isfinite(value):
                    raise self.error("a number too large for a double", tok)
                return value + 0.0
            if field.kind == "integer":
                if not re.fullmatch(r"[+-]?\d+", tok.text):
                    raise self.error("a version is a whole number", tok)
                return max(-VERSION_BOUND, min(VERSION_BOUND, int(tok.text)))
            raise self.error(
                f"{field.label()} is {_kind_word(field.kind)}: quote the value ('...')", tok
            )
        raise self.expected("a value ('text' or a number)")


def parse(text: str | None, target: Target) -> Node | None:
    """The filter `text` parsed for `target` ("versions" or "models"); None for no filter.
    InvalidInputError (with the position) for anything else than a valid filter."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInputError(f"a filter is a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise InvalidInputError(f"a filter is at most {MAX_LENGTH} characters ({len(text)} given)")
    if "\x00" in text:
        raise InvalidInputError("a filter must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: no database can store or bind them
        raise _error(text, exc.start, "a character that is not valid Unicode") from None
    if not text.strip():
        return None
    return _Parser(text, target).parse()
