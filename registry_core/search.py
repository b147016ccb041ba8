"""Compiling a parsed filter (`registry_core.filters`) and an ordering into one parameterized
statement, and keyset page tokens.

Tags, metrics and aliases are EXISTS subqueries, which the (key, value) and (name, value)
indexes serve; every value is a parameter. A comparison on an absent tag, metric, alias or
NULL description is false ("!=", NOT IN and NOT LIKE included) and only NOT negates: the SQL
keeps two-valued logic by guarding nullable columns with IS NOT NULL.

Pages are keyset, not OFFSET: the rows are ordered by the chosen keys, then by id, and a page
token carries the last row's keys and id (base64 JSON) with a fingerprint of the filter and
order it belongs to. The next page is the rows strictly after it in that order, so rows that
existed when the first page was read come exactly once, whatever is inserted or deleted
between pages, as long as their sort keys do not change: a row whose key changes (a model's
updated_at, its name on a rename) moves to its new place, before or after the cursor
(docs/searching.md says what a client sees). Rows without the ordering metric come last in
both directions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from registry_core import filters
from registry_core.dialect import Dialect
from registry_core.errors import InvalidInputError
from registry_core.filters import Comparison, Field, Node, Target
from registry_core.session import Session
from registry_core.sql import ALIASES, METRICS, MODEL_TAGS, Queries

MAX_PAGE_SIZE = 1000

#: (SQL of the column, nullable) of the plain fields
_COLUMNS: dict[str, dict[str, tuple[str, bool]]] = {
    "versions": {
        "name": ("m.name", False),
        "description": ("mv.description", True),
        "created_at": ("mv.created_at", False),
    },
    "models": {
        "name": ("m.name", False),
        "description": ("m.description", True),
        "created_at": ("m.created_at", False),
        "updated_at": ("m.updated_at", False),
    },
}
#: the fields `order_by` takes, per target (metrics.KEY too, for versions)
ORDER_FIELDS = {
    "versions": ("name", "version", "created_at"),
    "models": ("name", "created_at", "updated_at"),
}
DEFAULT_ORDER = {"versions": ("name", "version"), "models": ("name",)}
#: one order_by item: a field (a backquoted metric key may hold spaces), then ASC or DESC
_ORDER_ITEM = re.compile(
    r"\s*(?P<field>metrics\.`(?:[^`]|``)+`|[^\s`]+)(?:\s+(?P<dir>ASC|DESC))?\s*", re.IGNORECASE
)


@dataclass(frozen=True)
class SortKey:
    label: str  # "name", "metrics.acc", ...
    sql: str
    descending: bool
    nullable: bool
    join: str = ""  # the LEFT JOIN that brings the key (a metric), if any


class _Params:
    """Numbered parameters :f0, :f1, ... of one statement."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"f{len(self.values)}"
        self.values[name] = value
        return f":{name}"


class Compiler:
    """SQL for one target on one dialect."""

    def __init__(self, target: Target, dialect: Dialect, number: str) -> None:
        self.target, self.d = target, dialect
        #: a version's number as an integer (`Queries.number("mv")`)
        self.number = number
        self.row = "mv.id" if target == "versions" else "m.id"
        #: metric -> the column its ordering join brings: comparisons on it use the column
        #: (same meaning as the EXISTS, and the planner can drive the query from its index)
        self.joined: dict[str, str] = {}

    # -- filters ------------------------------------------------------------------------
    def where(self, node: Node | None, p: _Params) -> str:
        if node is None:
            return "1 = 1"
        if isinstance(node, filters.Not):
            return f"NOT ({self.where(node.operand, p)})"
        if isinstance(node, filters.And):
            return "(" + " AND ".join(self.where(n, p) for n in node.operands) + ")"
        if isinstance(node, filters.Or):
            return "(" + " OR ".join(self.where(n, p) for n in node.operands) + ")"
        return self.comparison(node, p)

    def comparison(self, c: Comparison, p: _Params) -> str:
        f = c.field
        if f.name == "tags":
            table = "mr_model_tags" if self.target == "versions" else "mr_registered_model_tags"
            owner = "model_version_id" if self.target == "versions" else "model_id"
            return self._exists(table, owner, "tag_key", "tag_value", f, c, p)
        if f.name == "metrics" and f.key in self.joined:
            column = self.joined[f.key]
            if c.op == "is null":
                return f"{column} IS NULL"
            return f"({column} IS NOT NULL AND {self._test(column, c, p)})"
        if f.name == "metrics":
            return self._exists(
                "mr_model_metrics", "model_version_id", "metric_name", "metric_value", f, c, p
            )
        if f.name == "alias":
            base = "SELECT 1 FROM mr_model_aliases a WHERE a.model_version_id = mv.id"
            if c.op == "is null":
                return f"NOT EXISTS ({base})"
            return f"EXISTS ({base} AND {self._test('a.alias', c, p)})"
        if f.name == "version":
            number = self.number
            return f"{number} IS NULL" if c.op == "is null" else self._test(number, c, p)
        column, nullable = _COLUMNS[self.target][f.name]
        if c.op == "is null":
            return f"{column} IS NULL"
        compared = self.d.code_point_order(column) if f.name == "description" else column
        test = self._test(compared, c, p)
        return f"({column} IS NOT NULL AND {test})" if nullable else test

    def _exists(
        self, table: str, owner: str, key: str, value: str, f: Field, c: Comparison, p: _Params
    ) -> str:
        base = f"SELECT 1 FROM {table} x WHERE x.{owner} = {self.row} AND x.{key} = {p.add(f.key)}"
        if c.op == "is null":  # absent
            return f"NOT EXISTS ({base})"
        return f"EXISTS ({base} AND {self._test(f'x.{value}', c, p)})"

    def _test(self, expr: str, c: Comparison, p: _Params) -> str:
        if c.op in ("like", "not like"):
            assert isinstance(c.value, str)
            test = self.d.like(expr, p.add(self.d.like_pattern(c.value)))
            return f"NOT ({test})" if c.op == "not like" else test
        if c.op in ("in", "not in"):
            assert isinstance(c.value, tuple)
            listed = ", ".join(p.add(v) for v in c.value)
            return f"{expr} {'NOT IN' if c.op == 'not in' else 'IN'} ({listed})"
        op = "<>" if c.op == "!=" else c.op
        return f"{expr} {op} {p.add(c.value)}"

    # -- ordering -------------------------------------------------------------------------
    def sort_keys(
        self,
        order_by: str | Sequence[str] | None,
        p: _Params,
        present: frozenset[str] = frozenset(),
    ) -> list[SortKey]:
        """The ordering; a metric in `present` (the filter only matches versions that have
        it) is sorted as a plain column, without the absent-last handling, so that the
        database can read it in index order."""
        items = [order_by] if isinstance(order_by, str) else list(order_by or [])
        if not items:
            items = list(DEFAULT_ORDER[self.target])
        keys: list[SortKey] = []
        for item in items:
            if not isinstance(item, str):
                raise InvalidInputError(f"order_by takes field names, not {item!r}")
            m = _ORDER_ITEM.fullmatch(item)
            if m is None:
                raise InvalidInputError(f"order_by item {item!r} is 'FIELD [ASC|DESC]'")
            name, desc = m["field"], (m["dir"] or "").upper() == "DESC"
            key = self._sort_key(name, desc, p, len(keys))
            if key.nullable and key.label[len("metrics.") :] in present:
                key = replace(key, nullable=False)
            keys.append(key)
        labels = [k.label for k in keys]
        if len(set(labels)) != len(labels):
            raise InvalidInputError(f"order_by names a field twice: {labels}")
        return keys

    def _sort_key(self, name: str, desc: bool, p: _Params, n: int) -> SortKey:
        if self.target == "versions" and name.startswith("metrics."):
            metric = name[len("metrics.") :]
            if metric.startswith("`") and metric.endswith("`") and len(metric) > 1:
                metric = metric[1:-1].replace("``", "`")
            if not metric:
                raise InvalidInputError("order_by metrics.KEY needs a key")
            # a LEFT JOIN on the (version, name) key: at most one row, NULL when absent
            join = (
                f"LEFT JOIN mr_model_metrics o{n} ON o{n}.model_version_id = mv.id "
                f"AND o{n}.metric_name = {p.add(metric)}"
            )
            self.joined[metric] = f"o{n}.metric_value"
            return SortKey(f"metrics.{metric}", f"o{n}.metric_value", desc, True, join)
        lowered = name.lower()
        if lowered not in ORDER_FIELDS[self.target]:
            known = ", ".join(ORDER_FIELDS[self.target])
            extra = ", metrics.KEY" if self.target == "versions" else ""
            raise InvalidInputError(
                f"cannot order {self.target} by {name!r}; known: {known}{extra}"
            )
        if lowered == "version":
            return SortKey("version", self.number, desc, False)
        return SortKey(lowered, _COLUMNS[self.target][lowered][0], desc, False)

    def order_sql(self, keys: list[SortKey], row: str | None = None) -> str:
        """ORDER BY `keys`, then the row's id (`row`: another expression of it)."""
        parts = []
        for k in keys:
            if k.nullable:  # absent last, in both directions
                parts.append(f"CASE WHEN {k.sql} IS NULL THEN 1 ELSE 0 END")
            parts.append(f"{k.sql} {'DESC' if k.descending else 'ASC'}")
        parts.append(f"{row or self.row} ASC")
        return ", ".join(parts)

    def after(self, keys: list[SortKey], values: list[Any], last_id: int, p: _Params) -> str:
        """Rows strictly after (values, last_id) in the order of `keys` then id."""
        cond = f"{self.row} > {p.add(last_id)}"
        for k, v in reversed(list(zip(keys, values, strict=True))):
            gt = "<" if k.descending else ">"
            if k.nullable and v is None:
                cond = f"({k.sql} IS NULL AND {cond})"
            elif k.nullable:
                val = p.add(v)
                cond = f"({k.sql} IS NULL OR {k.sql} {gt} {val} OR ({k.sql} = {val} AND {cond}))"
            else:
                # the bound first, as a range of its own: `k <= v AND (k < v OR ...)` says
                # the same as `k < v OR ...`, but a planner reads the range from the key's
                # index instead of an OR of two index lookups whose union it must sort
                # (SQLite's MULTI-INDEX OR: page 2 of a metric order sorted every match)
                val = p.add(v)
                rest = f"({k.sql} {gt} {val} OR ({k.sql} = {val} AND {cond}))"
                cond = f"({k.sql} {gt}= {val} AND {rest})"
        return cond


def required_metrics(node: Node | None) -> frozenset[str]:
    """The metrics every version the filter matches has: those a comparison (other than IS
    NULL) needs on every path through AND and OR."""
    if isinstance(node, Comparison):
        needed = node.field.name == "metrics" and node.op != "is null" and node.field.key
        return frozenset([node.field.key]) if needed and node.field.key else frozenset()
    if isinstance(node, filters.And):
        return frozenset().union(*(required_metrics(n) for n in node.operands))
    if isinstance(node, filters.Or):
        parts = [required_metrics(n) for n in node.operands]
        return frozenset.intersection(*parts) if parts else frozenset()
    return frozenset()  # NOT, or no filter


def fingerprint(target: Target, node: Node | None, keys: list[SortKey]) -> str:
    """What a page token is bound to: the target, the parsed filter and the order."""
    spec = repr((target, node, [(k.label, k.descending) for k in keys]))
    return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:16]


def make_token(bound: str, values: list[Any], last_id: int) -> str:
    raw = json.dumps([bound, values, last_id], separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def read_token(token: str, bound: str, keys: list[SortKey]) -> tuple[list[Any], int]:
    """The keys and id a token carries; InvalidInputError if it is malformed or belongs to
    another filter or order."""
    bad = InvalidInputError(
        "page_token is not a token of this search (it is malformed, or from another filter "
        "or order)"
    )
    if not isinstance(token, str) or len(token) > 20_000:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        fp, values, last_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise bad from None
    if fp != bound or not isinstance(values, list) or len(values) != len(keys):
        raise bad
    if not isinstance(last_id, int) or isinstance(last_id, bool):
        raise bad
    for k, v in zip(keys, values, strict=True):
        number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if k.label.startswith("metrics."):
            ok = number or (k.nullable and v is None)
        elif k.label == "version":
            ok = isinstance(v, int) and not isinstance(v, bool)
        else:
            ok = isinstance(v, str)
        if not ok:
            raise bad
    return values, last_id


def page_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"page_size is a whole number from 1 to {MAX_PAGE_SIZE}")
    return value


def features(
    target: Target, node: Node | None, order_by: str | Sequence[str] | None
) -> list[tuple[int, str]]:
    """(schema level, feature) of the tables a search's filter and order need."""
    needed = []
    if target == "models" and _uses(node, "tags"):
        needed.append((MODEL_TAGS, "model tags"))
    if _uses(node, "alias"):
        needed.append((ALIASES, "aliases"))
    items = [order_by] if isinstance(order_by, str) else list(order_by or [])
    if _uses(node, "metrics") or any(str(o).startswith("metrics.") for o in items):
        needed.append((METRICS, "metrics"))
    return needed


def _uses(node: Node | None, field: str) -> bool:
    """Whether the filter has a comparison on `field` ("tags", "metrics", "alias")."""
    if node is None:
        return False
    if isinstance(node, Comparison):
        return node.field.name == field
    if isinstance(node, filters.Not):
        return _uses(node.operand, field)
    return any(_uses(n, field) for n in node.operands)


class PageQuery:
    """One page of a search as one statement: the filter, keyset and order compiled for the
    dialect, `rows()` to read the page on a session, then `next_token()`.

    A deferred join: the page's ids and sort keys first (index work only), then the records
    of those rows alone. In one SELECT, MySQL and MariaDB build every matching row's JSON
    aggregates before they sort and cut the page (MariaDB, a page of 100 out of 50,000
    matches: 0.9 s, this way 0.14 s; see benchmarks/explain_search.py)."""

    def __init__(
        self,
        target: Target,
        dialect: Dialect,
        q: Queries,
        node: Node | None,
        order_by: str | Sequence[str] | None,
        size: int,
        page_token: str | None,
    ) -> None:
        compiler = Compiler(target, dialect, q.number("mv"))
        params = _Params()
        # first: their joins come before WHERE
        keys = compiler.sort_keys(order_by, params, required_metrics(node))
        where = compiler.where(node, params)
        self._bound = fingerprint(target, node, keys)
        if page_token is not None:
            values, last_id = read_token(page_token, self._bound, keys)
            where = f"{where} AND {compiler.after(keys, values, last_id, params)}"
        base, source = (
            (q.version_select, q.version_from) if target == "versions" else (q.model_select, "")
        )
        joins = "".join(f" {k.join}" for k in keys if k.join)
        picked = ", ".join(f"{k.sql} AS rc_k{i}" for i, k in enumerate(keys))
        page = (
            f"SELECT {compiler.row} AS rc_id, {picked} FROM mr_models m{source}{joins} "
            f"WHERE {where} ORDER BY {compiler.order_sql(keys)} LIMIT {size + 1}"
        )
        outer = [replace(k, sql=f"p.rc_k{i}") for i, k in enumerate(keys)]
        extra = "".join(f", p.rc_k{i}" for i in range(len(keys)))
        self.sql = (
            f"{base.replace('SELECT ', f'SELECT p.rc_id{extra}, ', 1)} "
            f"JOIN ({page}) p ON p.rc_id = {compiler.row} "
            f"ORDER BY {compiler.order_sql(outer, row='p.rc_id')}"
        )
        self.params = params.values
        self._size = size
        self._lead = 1 + len(keys)  # rc_id and the sort keys come first; the record's after
        self._more = False
        self._last: tuple[Any, ...] | None = None

    def rows(self, s: Session) -> list[tuple[Any, ...]]:
        """The page's record rows (without the leading id and sort keys)."""
        found = s.all(self.sql, self.params)
        self._more = len(found) > self._size
        page = found[: self._size]
        self._last = page[-1][: self._lead] if page else None
        return [r[self._lead :] for r in page]

    def next_token(self) -> str | None:
        """The next page's token once `rows` ran; None on the last page."""
        if not self._more or self._last is None:
            return None
        values = [_plain(v) for v in self._last[1:]]
        return make_token(self._bound, values, int(self._last[0]))


def _plain(value: Any) -> Any:
    """A sort key as JSON takes it (Decimal and the like as float or int)."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    number = float(value)
    return int(number) if number.is_integer() and not isinstance(value, float) else number
