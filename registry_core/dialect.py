"""What differs between databases, as data plus a few hooks; queries never branch on it.

A backend module declares one Dialect subclass. The shared SQL layer (`registry_core.sql`)
asks it to render `:name` parameters, upserts and insert-if-absent, the integer cast, the
type names migrations expand to, and how a driver exception maps to registry-core's errors.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from registry_core.errors import (
    BackendUnavailableError,
    InvalidInputError,
    PermissionDeniedError,
    ReadOnlyError,
    RegistryError,
    SchemaOutOfDateError,
)

# A single-quoted literal, a double-quoted identifier, a `--` comment, a `::` cast, a
# `:name` parameter, or a lone `%`: the tokens that matter when rendering placeholders.
_TOKEN = re.compile(
    r"'(?:[^']|'')*'"
    r'|"(?:[^"]|"")*"'
    r"|--[^\n]*"
    r"|::"
    r"|:(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|%"
)


#: how many rendered statements a dialect keeps
_CACHE_SIZE = 256


class ErrorKind(enum.Enum):
    """How the shared layer treats a driver exception."""

    UNIQUE = "unique"  # a unique constraint refused a row -> AlreadyExistsError
    RETRY = "retry"  # deadlock or serialization failure -> retry the whole transaction
    LOST = "lost"  # the connection died or was refused -> BackendUnavailable (retried if dead
    #               before the call did anything; settled if it died at COMMIT)
    TIMEOUT = "timeout"  # the server did not answer within call_timeout -> BackendUnavailable
    UNAVAILABLE = "unavailable"  # the server refused the work (too many connections, lock
    #                              timeout, access denied) -> BackendUnavailable
    MISSING_TABLE = "missing table"  # the schema changed under us (another process migrated)
    #                                  -> re-read the level once, then SchemaOutOfDateError
    CONNECT_TIMEOUT = "connect timeout"  # no connection within the connect timeout
    #                                      -> BackendUnavailableError naming that option
    READ_ONLY = "read only"  # a standby or read-only server/session refused a write
    #                          -> ReadOnlyError (a BackendUnavailableError)
    PERMISSION = "permission"  # the user lacks a privilege -> PermissionDeniedError
    OTHER = "other"  # anything else -> RegistryError


def refusal(
    kind: ErrorKind, where: str, detail: str, connect_timeout: tuple[float, str]
) -> RegistryError | None:
    """The typed error for a refusal users handle (a read-only server, a missing privilege,
    a schema that went away, no connection in time), else None. `where` names the backend
    and its masked URL, `detail` is the driver's message without secrets."""
    if kind is ErrorKind.READ_ONLY:
        return ReadOnlyError(
            f"{where} accepts only reads (a standby, or a read-only server, role or "
            f"session); nothing was changed: {detail}"
        )
    if kind is ErrorKind.PERMISSION:
        return PermissionDeniedError(
            f"{where}: the database user lacks a privilege this call needs (a read-only "
            f"role?); nothing was changed: {detail}"
        )
    if kind is ErrorKind.MISSING_TABLE:
        return SchemaOutOfDateError(
            f"{where}: a table of the registry is missing (another process downgraded the "
            f"schema?); run `registry-core migrate`: {detail}"
        )
    if kind is ErrorKind.CONNECT_TIMEOUT:
        seconds, option = connect_timeout
        return BackendUnavailableError(
            f"{where} could not be connected to within {seconds:g} s (URL option {option}): "
            f"{detail}"
        )
    return None


@dataclass(frozen=True)
class Rendered:
    """A statement in the driver's parameter style and the parameter names in order."""

    text: str
    names: tuple[str, ...]

    def bind(self, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The positional parameters for `params`; None when the statement takes none."""
        if not self.names:
            return None
        try:
            return tuple(params[n] for n in self.names)
        except KeyError as exc:  # a programming error in registry-core, not user input
            raise KeyError(f"statement parameter {exc} not supplied") from None


class Dialect:
    """Base class: SQL spelling shared by most databases; subclasses override what differs."""

    name: ClassVar[str] = "sql"
    #: the driver's positional placeholder: "?" (sqlite3) or "%s" (psycopg, mysql-connector)
    placeholder: ClassVar[str] = "?"
    #: whether a literal % must be doubled in statements that carry parameters
    escape_percent: ClassVar[bool] = False
    #: INSERT ... RETURNING id (else the cursor's lastrowid)
    supports_returning: ClassVar[bool] = False
    #: the target type of a numeric cast: CAST(x AS INTEGER) vs CAST(x AS SIGNED)
    int_cast_type: ClassVar[str] = "INTEGER"
    #: whether DDL joins the surrounding transaction (False: MySQL commits it implicitly)
    transactional_ddl: ClassVar[bool] = True
    #: how a write transaction and a read transaction (several statements, one snapshot)
    #: start; connections are in autocommit mode, so a read of one statement needs neither
    begin_write: ClassVar[str] = "BEGIN"
    begin_read: ClassVar[str] = "BEGIN"
    #: how a read that must see one consistent snapshot over many statements starts (an
    #: export): SQLite's deferred BEGIN holds one snapshot from its first read on
    begin_snapshot: ClassVar[tuple[str, ...]] = ("BEGIN",)
    #: has the database recompute its planner statistics of one table
    analyze_table: ClassVar[str] = "ANALYZE {table}"
    #: JSON aggregates that bring a version's tags, metrics and aliases with its row
    json_object_agg: ClassVar[str] = "json_object_agg"
    json_array_agg: ClassVar[str] = "json_agg"
    #: whether the server writes doubles into JSON exactly (else metrics come as columns
    #: from a second statement: SQLite writes 15 significant digits)
    exact_json_doubles: ClassVar[bool] = True
    #: keyword arguments of the driver's `execute` for a statement whose best plan depends
    #: on its values (a page of one model's events): never a plan made for any value
    replan_options: ClassVar[dict[str, Any]] = {}
    #: keyword arguments of the driver's `execute` for transaction control (BEGIN, COMMIT)
    control_options: ClassVar[dict[str, Any]] = {}
    #: whether the driver takes several statements in one call, sent in one round trip
    #: (MySQL): an event's two statements then cost one
    multi_statements: ClassVar[bool] = False
    #: whether one write transaction at a time holds the whole database (SQLite's BEGIN
    #: IMMEDIATE): events are then numbered from the highest id, without the feed's counter
    serial_writes: ClassVar[bool] = False
    #: whether a deleted row's id can be given to a new row (SQLite's rowids): a model's
    #: history then starts after the last `model.deleted` event of its row's id
    reuses_ids: ClassVar[bool] = False
    #: data-modifying WITH clauses (PostgreSQL): a save is then one statement
    writable_ctes: ClassVar[bool] = False
    #: whether a COMMIT that raised surely did not commit (SQLite: a local file, no answer to
    #: lose); False: a lost connection at COMMIT leaves the outcome to be found out
    commit_outcome_known: ClassVar[bool] = False
    #: whether a schema made by hand from the seed document's SQL can be adopted (that SQL
    #: is SQLite's: PostgreSQL would lack auto-increment keys, MySQL refuses it)
    adopts_seed_schema: ClassVar[bool] = False
    #: one row if table :name exists in the connected database/schema
    table_exists_sql: ClassVar[str] = (
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = :name"
    )
    #: one row if index :name exists in the connected database/schema
    index_exists_sql: ClassVar[str] = (
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :name"
    )
    #: one row, one column: the database's size in bytes (None: ask the backend)
    database_size_sql: ClassVar[str | None] = None

    def __init__(self) -> None:
        self._cache: dict[str, Rendered] = {}

    # -- placeholders -----------------------------------------------------------------
    def render(self, sql: str) -> Rendered:
        """`sql` with `:name` parameters turned into the driver's placeholders (cached)."""
        hit = self._cache.get(sql)
        if hit is not None:
            return hit
        names = tuple(m.group("name") for m in _TOKEN.finditer(sql) if m.group("name"))
        double_percent = self.escape_percent and bool(names)

        def sub(m: re.Match[str]) -> str:
            if m.group("name"):
                return self.placeholder
            # %-style drivers scan the whole text, literals and comments included
            return m.group(0).replace("%", "%%") if double_percent else m.group(0)

        rendered = Rendered(_TOKEN.sub(sub, sql), names)
        if len(self._cache) >= _CACHE_SIZE:
            # multi-row INSERTs differ by row count: keep the cache bounded in long-lived
            # processes (dicts keep insertion order, so this drops the oldest entry)
            del self._cache[next(iter(self._cache))]
        self._cache[sql] = rendered
        return rendered

    # -- SQL spelling hooks -------------------------------------------------------------
    def int_cast(self, expr: str) -> str:
        """`expr` cast to an integer, for numeric ordering of version strings."""
        return f"CAST({expr} AS {self.int_cast_type})"

    def insert_if_absent(self, table: str, columns: Sequence[str], conflict: Sequence[str]) -> str:
        """INSERT that does nothing when a row with the same `conflict` key exists."""
        return f"{insert_statement(table, columns)} ON CONFLICT ({', '.join(conflict)}) DO NOTHING"

    def upsert(
        self, table: str, columns: Sequence[str], conflict: Sequence[str], update: Sequence[str]
    ) -> str:
        """INSERT that overwrites `update` columns when a row with the `conflict` key exists."""
        sets = ", ".join(f"{c} = excluded.{c}" for c in update)
        keys = ", ".join(conflict)
        return f"{insert_statement(table, columns)} ON CONFLICT ({keys}) DO UPDATE SET {sets}"

    #: UPDATE ... RETURNING (PostgreSQL; SQLite from 3.35)
    update_returning: ClassVar[bool] = True

    def bump_counter(self, table: str, counter: str, key: str, touch: str) -> str:
        """UPDATE adding 1 to `counter` of the row whose `key` is :key, setting `touch` to
        :now, that hands the new value back (`counter_value` reads it)."""
        sql = f"UPDATE {table} SET {counter} = {counter} + 1, {touch} = :now WHERE {key} = :key"
        return f"{sql} RETURNING {counter}" if self.update_returning else sql

    def counter_value(self, cursor: Any) -> tuple[bool, int | None]:
        """After `bump_counter`: (a row matched, its new value if the cursor has it)."""
        if self.update_returning:
            row = cursor.fetchone()
            return (True, int(row[0])) if row else (False, None)
        return bool(cursor.rowcount), None

    def code_point_order(self, expr: str) -> str:
        """`expr`, a free-text column (a description), compared in code point order. Names,
        versions and tag values have exact columns on every engine, descriptions are plain
        text, which PostgreSQL compares by the database's locale (en_US: 'a' < 'Z' and
        'ß' < 'Z'); MySQL's tables are binary and SQLite compares bytes."""
        return expr

    def like(self, expr: str, pattern: str) -> str:
        """A case-sensitive LIKE of `expr` and the parameter `pattern` (made by like_pattern).
        PostgreSQL's LIKE is case-sensitive on our COLLATE "C" columns, MySQL's on their
        binary collations."""
        return f"{expr} LIKE {pattern} ESCAPE '!'"

    def like_pattern(self, pattern: str) -> str:
        """A filter's LIKE pattern (% and _ wildcards; \\%, \\_ and \\\\ literal) for `like`."""
        out = []
        chars = iter(pattern)
        for ch in chars:
            if ch == "\\":
                nxt = next(chars, "\\")
                out.append("!" + nxt if nxt in "%_" else ("!!" if nxt == "!" else nxt))
            elif ch == "!":
                out.append("!!")
            else:
                out.append(ch)
        return "".join(out)

    def returning_id(self, insert_sql: str) -> str:
        """The INSERT as sent when the new row's id is wanted."""
        return f"{insert_sql} RETURNING id" if self.supports_returning else insert_sql

    # -- migrations -----------------------------------------------------------------------
    def type_names(self) -> dict[str, str]:
        """What each `{{token}}` of a migration file expands to on this database."""
        raise NotImplementedError

    def expand(self, sql: str) -> str:
        """A shared migration file with its `{{tokens}}` replaced by this dialect's SQL;
        `{{on:TABLE}}` after DROP INDEX names the table where the dialect needs it, and
        `{{if_absent:KEY}}` ends an INSERT that keeps a row already there."""
        names = {"int": self.int_cast_type, **self.type_names()}

        def sub(m: re.Match[str]) -> str:
            key, arg = m.group(1), m.group(2)
            if key == "on" and arg:
                return self.index_table(arg)
            if key == "if_absent" and arg:
                return self.if_absent_clause(arg)
            if key not in names or arg:
                raise InvalidInputError(f"migration uses unknown token {m.group(0)}")
            return names[key]

        return re.sub(r"\{\{\s*([a-z_]+)(?::([a-z_]+))?\s*\}\}", sub, sql)

    def if_absent_clause(self, key: str) -> str:
        """What ends an INSERT of a migration that must do nothing when a row with the same
        `key` exists (`{{if_absent:KEY}}`): so that a migration resumed on MySQL, where the
        DDL before it committed, can run it again."""
        return f"ON CONFLICT ({key}) DO NOTHING"

    def index_table(self, table: str) -> str:
        """What follows `DROP INDEX name`: MySQL names the table (" ON t"), others nothing."""
        return ""

    # -- cursors and server warnings ------------------------------------------------------
    def new_cursor(self, conn: Any) -> Any:
        """A cursor on `conn`; a Session makes one per unit of work."""
        return conn.cursor()

    def server_warnings(self, conn: Any, cursor: Any) -> list[tuple[Any, ...]]:
        """(level, code, message) of each warning the statement just run on `cursor` left
        (its result already read); none where the server only reports them another way."""
        return []

    # -- errors ---------------------------------------------------------------------------
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception classes; anything else passes through unwrapped."""
        return ()

    def classify(self, exc: BaseException) -> ErrorKind:
        """How a driver exception is treated."""
        return ErrorKind.OTHER

    def ended(self, exc: BaseException) -> bool:
        """Whether a driver error raised while a connection was in use means the connection
        is gone or its wait on the server timed out (LOST or TIMEOUT): it is then closed,
        never rolled back or reused."""
        return isinstance(exc, self.driver_errors()) and self.classify(exc) in (
            ErrorKind.LOST,
            ErrorKind.TIMEOUT,
        )


def insert_statement(table: str, columns: Sequence[str]) -> str:
    cols = ", ".join(columns)
    values = ", ".join(f":{c}" for c in columns)
    return f"INSERT INTO {table} ({cols}) VALUES ({values})"


def split_statements(script: str) -> list[str]:
    """A migration file split at `;` outside quotes and comments; empty statements dropped."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if ch in ("'", '"'):
            j = i + 1
            while j < n:
                if script[j] == ch:
                    if j + 1 < n and script[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            buf.append(script[i : j + 1])
            i = j + 1
        elif script.startswith("--", i):
            j = script.find("\n", i)
            i = n if j < 0 else j
        elif ch == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
            i += 1
        else:
            buf.append(ch)
            i += 1
    stmt = "".join(buf).strip()
    if stmt:
        out.append(stmt)
    return out
