"""One connection in one transaction: runs the shared SQL layer's statements on a driver.

Every statement goes through `Session.execute`, which renders `:name` parameters for the
dialect, counts the statement on its backend's `StatementCounter` (transaction control
included) and lets driver exceptions through for the backend to classify.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from typing import Any

from registry_core.dialect import Dialect
from registry_core.urls import scrub

#: where warnings the database server sends about our statements are logged (WARNING)
server_log = logging.getLogger("registry_core.server")


def utc_now() -> str:
    """The current time as fixed-width ISO-8601 UTC text, e.g. 2026-11-26T06:18:17.123456Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StatementCounter:
    """Counts the SQL statements a backend sends, for tests and benchmarks (exact in one
    thread; several threads may lose an increment now and then, as it takes no lock)."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, n: int = 1) -> None:
        self.value += n


def log_server_warnings(
    dialect: Dialect, sql: str, warnings: list[tuple[Any, ...]], values: Sequence[Any] = ()
) -> None:
    """One record per server warning: its level, code and text, with the statement's
    parameter values masked (a warning may quote the value it is about). Warnings and errors
    are logged as WARNING, MySQL's notes (IF NOT EXISTS found it existed...) as DEBUG."""
    secrets = tuple(str(v) for v in values if isinstance(v, str) and v)
    head = " ".join(sql.split()[:4])
    for warning in warnings:
        level, code, message = (*tuple(warning), None, None, None)[:3]
        server_log.log(
            logging.DEBUG if str(level).lower() == "note" else logging.WARNING,
            "%s server %s %s on '%s ...': %s",
            dialect.name,
            str(level).lower() if level else "warning",
            code,
            head,
            scrub(str(message), secrets),
        )


class TimedOut(Exception):
    """The server sent no answer within the backend's call_timeout; the driver's exception (the
    interrupted wait) is the `__cause__`."""


#: the attribute of a driver connection that keeps its cursor
_CURSOR = "_registry_core_cursor"

#: arms a deadline around one wait on the server (`registry_core.watchdog`), or None
GuardFactory = Callable[[Any], AbstractContextManager[Any]]


class Session:
    """A DB-API connection inside one transaction, speaking the shared SQL layer.

    `completed` counts the statements the server answered, so that a caller can tell a
    connection that was dead before the call did anything (safe to retry on a new one).
    """

    def __init__(
        self,
        conn: Any,
        dialect: Dialect,
        counter: StatementCounter,
        guard: GuardFactory | None = None,
    ) -> None:
        self.conn = conn
        self.dialect = dialect
        self._counter = counter
        self._guard = guard
        self.completed = 0
        self._last: tuple[str, tuple[Any, ...]] = ("", ())
        self._cur: Any = None
        self._own = False

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        """Around a driver call that waits for the server: the call_timeout deadline."""
        if self._guard is None:
            yield
            return
        with self._guard(self.conn) as g:
            try:
                yield
            except Exception as exc:
                if g.fired:
                    raise TimedOut(str(exc)) from exc
                raise

    @property
    def cursor(self) -> Any:
        """The connection's cursor, made once per connection where the driver lets us keep
        it on the connection (a cursor is cheap in C, not in mysql-connector's pure Python),
        else once per unit of work (`Dialect.new_cursor`)."""
        if self._cur is None:
            cur = getattr(self.conn, _CURSOR, None)
            if cur is None:
                cur = self.dialect.new_cursor(self.conn)
                try:
                    setattr(self.conn, _CURSOR, cur)
                except AttributeError:  # sqlite3.Connection takes no attributes
                    self._own = True
            self._cur = cur
        return self._cur

    def close(self) -> None:
        """Closes a cursor made for this unit of work (the connection stays open)."""
        cur, self._cur = self._cur, None
        if cur is not None and self._own:
            with contextlib.suppress(Exception):  # a dead connection's cursor
                cur.close()

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None, *, replan: bool = False
    ) -> Any:
        """Runs one statement; returns the cursor (rows not yet fetched). Callers that read
        the rows call `_check(cur)` afterwards, when the server has said whether it warned.
        `replan`: planned for its values each time (`Dialect.replan_options`)."""
        rendered = self.dialect.render(sql)
        bound = rendered.bind(params or {})
        cur = self.cursor
        self._counter.add()
        options = self.dialect.replan_options if replan else {}
        if self._guard is None:  # (no context manager on the hot path when there is no guard)
            if bound is None:
                cur.execute(rendered.text, **options)
            else:
                cur.execute(rendered.text, bound, **options)
        else:
            with self._waiting():
                if bound is None:
                    cur.execute(rendered.text, **options)
                else:
                    cur.execute(rendered.text, bound, **options)
        self.completed += 1
        self._last = (rendered.text, bound or ())
        return cur

    def _check(self, cur: Any) -> None:
        """Logs the warnings the last statement left on the server, if any."""
        warnings = self.dialect.server_warnings(self.conn, cur)
        if warnings:
            self._counter.add()
            log_server_warnings(self.dialect, self._last[0], warnings, self._last[1])

    def all(
        self, sql: str, params: Mapping[str, Any] | None = None, *, replan: bool = False
    ) -> list[tuple[Any, ...]]:
        """Every row of a query (`replan`: see `execute`)."""
        cur = self.execute(sql, params, replan=replan)
        rows = cur.fetchall()
        self._check(cur)
        return rows if not rows or type(rows[0]) is tuple else [tuple(r) for r in rows]

    def committing(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Runs a write of one statement that commits by itself (autocommit): its first row.
        Where a transaction ends in `commit()`, such a write ends here."""
        return self.one(sql, params)

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = self.one(sql, params)
        return None if row is None else row[0]

    def columns(self, table: str) -> set[str]:
        """The column names of one of our tables (lower case), from the cursor description."""
        cur = self.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        cur.fetchall()
        return {str(d[0]).lower() for d in cur.description}

    def discard(self, sql: str) -> None:
        """Runs a statement whose answer, rows or none, is of no use (ANALYZE)."""
        cur = self.execute(sql)
        if cur.description is not None:
            cur.fetchall()
        self._check(cur)

    def rowcount(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Runs a write; returns the number of rows it matched."""
        cur = self.execute(sql, params)
        self._check(cur)
        return int(cur.rowcount)

    def insert(self, sql: str, params: Mapping[str, Any]) -> int:
        """Runs an INSERT built with `Dialect.returning_id`; returns the new row's id."""
        cur = self.execute(sql, params)
        if self.dialect.supports_returning:
            row = cur.fetchone()
            return int(row[0])
        self._check(cur)
        return int(cur.lastrowid)

    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        per: int,
    ) -> None:
        """Multi-row INSERTs of `rows` into `columns` of one of our tables (names from
        registry-core, never from input), `per` rows a statement: parameters :<letter><row>,
        the letters a, b, c... standing for the columns in order."""
        letters = "abcdefgh"[: len(columns)]
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            values = ", ".join(
                "(" + ", ".join(f":{x}{i}" for x in letters) + ")" for i in range(len(chunk))
            )
            params = {f"{letters[c]}{i}": v for i, r in enumerate(chunk) for c, v in enumerate(r)}
            self.rowcount(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", params)

    def batch(self, statements: Sequence[str], params: Mapping[str, Any]) -> None:
        """Runs writes that belong together (an event's bump and INSERT): in one call where
        the driver takes several statements at once (`Dialect.multi_statements`), else one
        by one."""
        if len(statements) > 1 and self.dialect.multi_statements:
            cur = self.execute(";\n".join(statements), params)
            while cur.nextset():  # the answers of the later statements: already sent
                pass
            self._check(cur)
            return
        for sql in statements:
            self.rowcount(sql, params)

    def control(self, sql: str) -> None:
        """Sends a transaction-control or session statement (BEGIN, SET ...)."""
        cur = self.cursor
        self._counter.add()
        options = self.dialect.control_options
        if self._guard is None:
            cur.execute(sql, **options)
        else:
            with self._waiting():
                cur.execute(sql, **options)
        self.completed += 1
        self._last = (sql, ())
        self._check(cur)

    def begin(self, *, write: bool) -> None:
        """Starts a transaction (connections are in autocommit mode between transactions)."""
        self.control(self.dialect.begin_write if write else self.dialect.begin_read)

    def commit(self) -> None:
        self.control("COMMIT")

    def rollback(self) -> None:
        self.control("ROLLBACK")
