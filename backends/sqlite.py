"""SQLite through the standard library: one connection per backend, guarded by a lock.

Foreign keys are switched on per connection (SQLite leaves them off), files use WAL with a busy
timeout, and writers start with BEGIN IMMEDIATE so that two writers never both read first and
then deadlock on the upgrade to a write lock (https://sqlite.org/lang_transaction.html).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import ClassVar

from registry_core import forksafe
from registry_core.dialect import Dialect, ErrorKind
from registry_core.errors import BackendUnavailableError, InvalidInputError
from registry_core.session import Session
from registry_core.sqlbackend import SQLMetadataBackend
from registry_core.urls import take_options


class SQLiteDialect(Dialect):
    name: ClassVar[str] = "sqlite"
    placeholder: ClassVar[str] = "?"
    commit_outcome_known: ClassVar[bool] = True  # a local file: a failed COMMIT did not commit
    # writers take the write lock at BEGIN: two that read first would deadlock on upgrading
    begin_write: ClassVar[str] = "BEGIN IMMEDIATE"
    serial_writes: ClassVar[bool] = True  # every writer holds the database's lock
    reuses_ids: ClassVar[bool] = True  # INTEGER PRIMARY KEY without AUTOINCREMENT
    json_object_agg: ClassVar[str] = "json_group_object"
    json_array_agg: ClassVar[str] = "json_group_array"
    exact_json_doubles: ClassVar[bool] = False
    update_returning: ClassVar[bool] = sqlite3.sqlite_version_info >= (3, 35, 0)
    adopts_seed_schema: ClassVar[bool] = True
    table_exists_sql: ClassVar[str] = (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = :name"
    )
    index_exists_sql: ClassVar[str] = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name = :name"
    )
    database_size_sql: ClassVar[str | None] = (
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
    )

    def like(self, expr: str, pattern: str) -> str:
        # SQLite's LIKE ignores ASCII case; GLOB is case-sensitive (https://sqlite.org/lang_expr.html#like)
        return f"{expr} GLOB {pattern}"

    def like_pattern(self, pattern: str) -> str:
        """The LIKE pattern as a GLOB: % -> *, _ -> ?, and GLOB's own *, ? and [ quoted in []."""
        out = []
        chars = iter(pattern)
        for ch in chars:
            if ch == "\\":
                nxt = next(chars, "\\")
                out.append({"*": "[*]", "?": "[?]", "[": "[[]"}.get(nxt, nxt))
            elif ch == "%":
                out.append("*")
            elif ch == "_":
                out.append("?")
            else:
                out.append({"*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch))
        return "".join(out)

    def type_names(self) -> dict[str, str]:
        # INTEGER PRIMARY KEY is the rowid; every other text type is plain TEXT, which
        # compares with the BINARY collation (byte-exact, code point order).
        return {
            "id_pk": "INTEGER PRIMARY KEY",
            "id_ref": "INTEGER",
            "name": "TEXT",
            "tag_value": "TEXT",
            "version": "TEXT",
            "text": "TEXT",
            "timestamp": "TEXT",
            "checksum": "TEXT",
            "double": "REAL",
            "table_options": "",
            # a random (version 4) UUID: SQLite has no function for one
            "new_uuid": (
                "(SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || "
                "substr(h, 14, 3) || '-' || substr('89ab', 1 + abs(random()) % 4, 1) || "
                "substr(h, 18, 3) || '-' || substr(h, 21, 12)) "
                "FROM (SELECT hex(randomblob(16)) AS h))"
            ),
            # VIRTUAL: ALTER TABLE ADD COLUMN takes no STORED column (SQLite 3.31 and newer)
            "version_number": "INTEGER GENERATED ALWAYS AS (CAST(version AS INTEGER)) VIRTUAL",
            "uid": "TEXT",
            "path_key": "storage_path",
        }

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def classify(self, exc: BaseException) -> ErrorKind:
        if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
            return ErrorKind.UNIQUE
        if isinstance(exc, sqlite3.OperationalError):
            text = str(exc)
            if "locked" in text or "busy" in text or "unable to open" in text:
                return ErrorKind.UNAVAILABLE
            if "no such table" in text:
                return ErrorKind.MISSING_TABLE
            if "readonly database" in text:  # a read-only file or PRAGMA query_only
                return ErrorKind.READ_ONLY
        return ErrorKind.OTHER


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switches a database file to WAL (a setting the file keeps). The switch needs an
    exclusive lock, and SQLite answers SQLITE_BUSY at once instead of waiting for it (to avoid
    a deadlock), so several processes opening a new file at once retry here for up to
    `timeout` seconds (https://sqlite.org/wal.html#the_wal_journaling_mode)."""
    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return  # the usual case: no lock needed to find out
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.002, 0.02))


class SQLiteMetadataBackend(SQLMetadataBackend):
    """`sqlite:///relative.db`, `sqlite:////abs/path.db` or `sqlite://:memory:`.

    URL option: `timeout` (seconds a writer waits for another's lock, default 30).
    Constructing one opens the file (creating it and its folder if absent) with foreign
    keys on (WAL for a file); raises InvalidInputError (an unknown option) and
    BackendUnavailableError (the file cannot be opened).
    """

    name = "sqlite"
    _conn: sqlite3.Connection | None = None

    def _open(self) -> Dialect:
        options = dict(self.url.options)
        timeout = take_options(options, {"timeout": float}, backend="sqlite").get("timeout", 30.0)
        if options:
            raise InvalidInputError(f"unknown sqlite URL options: {', '.join(sorted(options))}")
        self._timeout = timeout
        self._conn = self._connect()
        self.server = f"SQLite {sqlite3.sqlite_version}"
        self.driver = "sqlite3 (Python standard library)"
        self._lock = threading.RLock()
        self._pid = os.getpid()
        forksafe.register(self)
        return SQLiteDialect()

    def _connect(self) -> sqlite3.Connection:
        path, timeout = self.url.database, self._timeout
        try:
            if not self.url.is_memory:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if not self.url.is_memory:
                _use_wal(conn, timeout)
        except (sqlite3.Error, OSError) as exc:
            raise BackendUnavailableError(f"cannot open SQLite database {path!r}: {exc}") from exc
        self.statements.add(3)
        return conn

    def _after_fork(self) -> None:
        """In a forked child: SQLite's file handles and locks must not be carried across a
        fork (https://sqlite.org/howtocorrupt.html#_carrying_an_open_database_connection_across_a_fork_).
        The parent's connection is kept, never used nor closed; the child opens its own file
        connection on first use. An in-memory database is the child's own copy: it keeps it."""
        self._lock = threading.RLock()
        self._pid = os.getpid()
        if not self.url.is_memory and self._conn is not None:
            forksafe.keep(self._conn)
            self._conn = None

    @contextmanager
    def _checkout(self) -> Iterator[sqlite3.Connection]:
        if self._pid != os.getpid():  # forked without Python's fork hooks
            self._after_fork()
        with self._lock:
            if self._conn is None:
                self._conn = self._connect()
            yield self._conn

    def _migration_lock(self, session: Session) -> AbstractContextManager[None]:
        # Each migration runs in its own BEGIN IMMEDIATE transaction, which is the lock.
        return nullcontext()

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
