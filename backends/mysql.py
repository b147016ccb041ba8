"""Oracle's MySQL (8.0.20 and newer) and MariaDB through mysql-connector-python, with
registry-core's own pool. One backend, one `mysql://` (or `mariadb://`) scheme; the dialect is
chosen from the server the pool finds (`ServerInfo`), and every SQL difference between the two
servers is one attribute of `MySQLDialect`:

- collation of our tables: a binary NO PAD one, so that names compare byte-exactly with trailing
  spaces significant, as on SQLite and PostgreSQL. MariaDB's `utf8mb4_bin` pads, its
  `utf8mb4_nopad_bin` does not; MySQL 8+ calls its own `utf8mb4_0900_bin`.
- upsert: MySQL deprecates `VALUES(c)` in ON DUPLICATE KEY UPDATE since 8.0.20 (warning 1287)
  for the row alias `INSERT ... AS new ... UPDATE c = new.c`, which MariaDB rejects.
- session setup: MySQL caches information_schema table sizes for a day unless
  `information_schema_stats_expiry = 0` (MariaDB has no such variable).

The connection uses charset utf8mb4 with `utf8mb4_bin`, a collation both servers know (the
driver's default, `utf8mb4_0900_ai_ci`, is unknown to MariaDB before 11.4). Sessions run READ
COMMITTED (as PostgreSQL does) with a strict sql_mode, and `FOUND_ROWS` makes UPDATE report
matched rows. Nothing here uses SQL that MySQL 8.4 or 9.x removed or deprecates (MD5() is gone
in 9.x: the migration lock's name is computed in Python).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from registry_core import forksafe
from registry_core.dialect import Dialect, ErrorKind, insert_statement
from registry_core.errors import BackendUnavailableError, InvalidInputError, MissingDriverError
from registry_core.pool import ConnectionPool, socket_has_news
from registry_core.session import Session, TimedOut
from registry_core.sqlbackend import SQLMetadataBackend
from registry_core.transactions import CommitLost
from registry_core.urls import POOL_OPTIONS, scrub, take_options

SQL_MODE = (
    "STRICT_ALL_TABLES,ONLY_FULL_GROUP_BY,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
MIGRATION_LOCK_WAIT = 600  # seconds


@functools.cache
def _cursor_classes() -> tuple[Any, Any, Any]:
    """(pure cursor, C connection or None, C cursor or None), imported once: a C extension
    that cannot load would otherwise be tried again on every cursor."""
    from mysql.connector.cursor import MySQLCursor

    try:
        from mysql.connector.connection_cext import CMySQLConnection
        from mysql.connector.cursor_cext import CMySQLCursor
    except ImportError:  # not built for this platform, or its OpenSSL cannot load
        return MySQLCursor, None, None
    return MySQLCursor, CMySQLConnection, CMySQLCursor


def migration_lock_name(database: str) -> str:
    """GET_LOCK name of the migration runner, scoped to one database: user-level locks are
    server-wide and their names at most 64 characters (MySQL error 4163)."""
    return "registry_core.migrate." + hashlib.sha256(database.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class ServerInfo:
    """Which server the backend talks to: product ("MySQL" or "MariaDB") and version."""

    product: str
    version: tuple[int, int, int]

    @classmethod
    def parse(cls, version_string: str) -> ServerInfo:
        """From `SELECT VERSION()`: '9.7.4-2', '8.4.3', '11.8.9-MariaDB-0+deb13u1 from Debian'."""
        # MariaDB before 11 prefixes its handshake version with "5.5.5-" for old clients
        text = re.sub(r"^5\.5\.5-(?=\d+\.\d+\.\d+-MariaDB)", "", version_string.strip())
        m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
        numbers = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)
        product = "MariaDB" if "mariadb" in text.lower() else "MySQL"
        return cls(product, numbers)

    @property
    def is_mariadb(self) -> bool:
        return self.product == "MariaDB"

    def __str__(self) -> str:
        return f"{self.product} {'.'.join(map(str, self.version))}"


#: mysql.connector.connect arguments a URL may set, with their types
DRIVER_OPTIONS: dict[str, type] = {
    "connection_timeout": int,
    "ssl_ca": str,
    "ssl_cert": str,
    "ssl_key": str,
    "ssl_disabled": bool,
    "ssl_verify_cert": bool,
    "ssl_verify_identity": bool,
    "auth_plugin": str,
    "unix_socket": str,
    "use_pure": bool,
    "compress": bool,
}

_UNIQUE = {1062, 1586}  # ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
_RETRY = {1213}  # ER_LOCK_DEADLOCK
# the connection is gone or cannot be made: server shutdown, killed (1927 MariaDB), can't
# connect, gone away, lost during query, lost (2055), idle disconnect (4031 MySQL 8.4+)
_LOST = {1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055, 4031}
# the server refused the work: too many connections, access denied (login), unknown database,
# lock wait timeout
_UNAVAILABLE = {1040, 1045, 1049, 1205}
# read-only: --read-only/super_read_only (1290), a READ ONLY transaction (1792), read-only mode
# (1836), a schema made READ ONLY (3989, MySQL 8.0.22+)
_READ_ONLY = {1290, 1792, 1836, 3989}
# a missing privilege: database (1044), table (1142), column (1143), global (1227), routine
# (1370)
_PERMISSION = {1044, 1142, 1143, 1227, 1370}


class MySQLDialect(Dialect):
    name: ClassVar[str] = "mysql"
    placeholder: ClassVar[str] = "%s"
    escape_percent: ClassVar[bool] = False  # the driver only substitutes %s; it never reads %%
    int_cast_type: ClassVar[str] = "SIGNED"
    begin_write: ClassVar[str] = "START TRANSACTION"
    begin_read: ClassVar[str] = "START TRANSACTION READ ONLY"
    # sessions run READ COMMITTED: the next transaction alone reads one snapshot
    begin_snapshot: ClassVar[tuple[str, ...]] = (
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    )
    analyze_table: ClassVar[str] = "ANALYZE TABLE {table}"
    json_object_agg: ClassVar[str] = "JSON_OBJECTAGG"
    json_array_agg: ClassVar[str] = "JSON_ARRAYAGG"
    transactional_ddl: ClassVar[bool] = False
    multi_statements: ClassVar[bool] = True
    table_exists_sql: ClassVar[str] = (
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = :name"
    )
    index_exists_sql: ClassVar[str] = (
        "SELECT index_name FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND index_name = :name LIMIT 1"
    )
    database_size_sql: ClassVar[str | None] = (
        "SELECT SUM(data_length + index_length) FROM information_schema.tables "
        "WHERE table_schema = DATABASE()"
    )

    def __init__(self, server: ServerInfo) -> None:
        super().__init__()
        self.server = server
        #: the byte-exact NO PAD utf8mb4 collation of this server
        self.collation = "utf8mb4_nopad_bin" if server.is_mariadb else "utf8mb4_0900_bin"
        #: `INSERT ... AS new ON DUPLICATE KEY UPDATE c = new.c` (MySQL >= 8.0.20) rather than
        #: `c = VALUES(c)` (MariaDB; deprecated on MySQL, warning 1287)
        self.row_alias_upsert = not server.is_mariadb and server.version >= (8, 0, 20)
        #: statements each new connection runs after the common session setup
        self.session_setup: tuple[str, ...] = (
            ()
            if server.is_mariadb
            # MySQL caches table sizes in information_schema for a day by default
            else ("SET SESSION information_schema_stats_expiry = 0",)
        )

    def insert_if_absent(self, table: str, columns: Any, conflict: Any) -> str:
        # Not INSERT IGNORE: that also turns truncation and other errors into warnings.
        key = conflict[0]
        return f"{insert_statement(table, columns)} ON DUPLICATE KEY UPDATE {key} = {key}"

    update_returning: ClassVar[bool] = False

    def bump_counter(self, table: str, counter: str, key: str, touch: str) -> str:
        # LAST_INSERT_ID(expr) hands the new value back in the OK packet: no SELECT after
        return (
            f"UPDATE {table} SET {counter} = LAST_INSERT_ID({counter} + 1), {touch} = :now "
            f"WHERE {key} = :key"
        )

    def counter_value(self, cursor: Any) -> tuple[bool, int | None]:
        matched = bool(cursor.rowcount)  # FOUND_ROWS: matched, not changed
        return matched, (int(cursor.lastrowid) if matched else None)

    def upsert(self, table: str, columns: Any, conflict: Any, update: Any) -> str:
        if self.row_alias_upsert:
            sets = ", ".join(f"{c} = new.{c}" for c in update)
            return f"{insert_statement(table, columns)} AS new ON DUPLICATE KEY UPDATE {sets}"
        sets = ", ".join(f"{c} = VALUES({c})" for c in update)
        return f"{insert_statement(table, columns)} ON DUPLICATE KEY UPDATE {sets}"

    def index_table(self, table: str) -> str:
        return f" ON {table}"

    def if_absent_clause(self, key: str) -> str:
        return f"ON DUPLICATE KEY UPDATE {key} = {key}"

    def type_names(self) -> dict[str, str]:
        return {
            "id_pk": "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
            "id_ref": "BIGINT",
            "name": "VARCHAR(255)",
            "tag_value": "VARCHAR(500)",
            "version": "VARCHAR(32)",
            "text": "MEDIUMTEXT",
            "timestamp": "VARCHAR(32)",
            "checksum": "VARCHAR(80)",
            "double": "DOUBLE",
            "table_options": (f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={self.collation}"),
            "new_uuid": "UUID()",
            # computed when read, kept in its index (adding it rebuilds no table)
            "version_number": "BIGINT GENERATED ALWAYS AS (CAST(version AS SIGNED)) VIRTUAL",
            "uid": "VARCHAR(64)",
            "path_key": "storage_path(255)",  # a TEXT column is indexed by a prefix
        }

    def new_cursor(self, conn: Any) -> Any:
        # Not conn.cursor(): that pings the server first (COM_PING, a round trip, and on a
        # hung server a wait of its own) every time. The cursor classes take the connection.
        pure, cext, cext_cursor = _cursor_classes()
        if cext is not None and isinstance(conn, cext):
            return cext_cursor(conn)
        return pure(conn)

    def server_warnings(self, conn: Any, cursor: Any) -> list[tuple[Any, ...]]:
        # The OK/EOF packet carries the count, so this costs a round trip only when a
        # statement did warn. (The driver's own `get_warnings` would also warnings.warn them.)
        if not getattr(cursor, "warning_count", 0):
            return []
        cur = self.new_cursor(conn)
        try:
            cur.execute("SHOW WARNINGS")
            return [tuple(row) for row in cur.fetchall()]
        finally:
            cur.close()

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        from mysql.connector import errors

        return (errors.Error,)

    def classify(self, exc: BaseException) -> ErrorKind:
        from mysql.connector import errors

        errno = getattr(exc, "errno", None)
        cause = exc.__cause__
        # the driver wraps what failed while it prepared parameters (a lost connection
        # included) in "Failed processing format-parameters", a ProgrammingError
        wrapped = isinstance(exc, errors.ProgrammingError) and errno in (None, -1)
        if wrapped and isinstance(cause, errors.Error) and cause is not exc:
            return self.classify(cause)
        if isinstance(exc, errors.ConnectionTimeoutError):
            return ErrorKind.CONNECT_TIMEOUT  # connection_timeout
        if isinstance(exc, (errors.ReadTimeoutError, errors.WriteTimeoutError)):
            return ErrorKind.TIMEOUT  # read_timeout/write_timeout, set from call_timeout
        if errno in _UNIQUE:
            return ErrorKind.UNIQUE
        if errno in _RETRY:
            return ErrorKind.RETRY
        if errno == 1146:  # ER_NO_SUCH_TABLE
            return ErrorKind.MISSING_TABLE
        if errno in _LOST or isinstance(exc, errors.InterfaceError):
            return ErrorKind.LOST
        if errno in _UNAVAILABLE:
            return ErrorKind.UNAVAILABLE
        if errno in _READ_ONLY:
            return ErrorKind.READ_ONLY
        if errno in _PERMISSION:
            return ErrorKind.PERMISSION
        if isinstance(exc, errors.OperationalError) and (errno is None or errno < 0):
            # the driver's own "MySQL Connection not available" (errno -1) on a dead socket
            return ErrorKind.LOST
        return ErrorKind.OTHER


class MySQLMetadataBackend(SQLMetadataBackend):
    """`mysql://user:pw@host:3306/db` (also `mariadb://`): MySQL 8.0+ and MariaDB 10.5+,
    the dialect chosen from the server's handshake.

    URL options: `pool_size` (default 10), `pool_timeout` (default 30 s), `call_timeout`
    (seconds to wait for the server's answer, default 60), and the `mysql.connector.connect`
    arguments in DRIVER_OPTIONS (connection_timeout, ssl_ca, ...). Constructing one connects
    to the server. Raises MissingDriverError (extra `mysql` not installed), InvalidInputError
    (an unknown option, a list of hosts) and BackendUnavailableError (the server cannot be
    reached, or is older than MySQL 8.0 / MariaDB 10.5).
    """

    name = "mysql"

    def _open(self) -> Dialect:
        try:
            import mysql.connector
            from mysql.connector.constants import ClientFlag
        except ImportError as exc:
            raise MissingDriverError("MySQL", "mysql", "mysql-connector-python") from exc
        if len(self.url.hosts) > 1:
            raise InvalidInputError(
                "a mysql URL names one host (a list of hosts is libpq's, for PostgreSQL); "
                "put a proxy or a virtual IP in front of a MySQL cluster"
            )
        options = dict(self.url.options)
        pool = take_options(options, POOL_OPTIONS, backend="mysql")
        driver = take_options(options, DRIVER_OPTIONS, backend="mysql")
        if options:
            raise InvalidInputError(
                f"unknown mysql URL options: {', '.join(sorted(options))}; known: "
                f"{', '.join(sorted([*POOL_OPTIONS, *DRIVER_OPTIONS]))}"
            )
        # The options cannot override what the backend relies on (transactions, charset,
        # FOUND_ROWS): those keys are not in DRIVER_OPTIONS.
        self.call_timeout = pool.get("call_timeout", self.call_timeout)
        if self.call_timeout <= 0:
            raise InvalidInputError("mysql URL option call_timeout must be above 0")
        wait = max(1, math.ceil(self.call_timeout))  # the driver takes whole seconds
        self.connect_timeout = (
            float(driver.get("connection_timeout", max(2, min(10, wait)))),
            "connection_timeout",
        )
        kwargs: dict[str, Any] = {
            "connection_timeout": max(2, min(10, wait)),
            "read_timeout": wait,
            "write_timeout": wait,
            **driver,
            "host": self.url.host or "localhost",
            "port": self.url.port or 3306,
            "user": self.url.username,
            "password": self.url.password or "",
            "database": self.url.database,
            "charset": "utf8mb4",
            "collation": "utf8mb4_bin",
            # autocommit between transactions: a read of one statement is one round trip
            # and holds no metadata lock afterwards; transactions say START TRANSACTION
            "autocommit": True,
            "client_flags": [ClientFlag.FOUND_ROWS],
        }

        dialects: dict[ServerInfo, MySQLDialect] = {}

        def connect() -> Any:
            conn: Any = mysql.connector.connect(**kwargs)
            # the handshake names the server: no round trip to ask which one it is
            server = ServerInfo.parse(str(conn.server_info))
            dialect = dialects.setdefault(server, MySQLDialect(server))
            session = Session(conn, dialect, self.statements)
            for statement in (
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                *dialect.session_setup,
            ):
                session.control(statement)
            session.close()
            # through the driver, which keeps the value: else the first statement with
            # parameters asks the server for it (SELECT @@session.sql_mode, a hidden round trip
            # per connection, whose failure the driver reports as a ProgrammingError)
            conn.sql_mode = SQL_MODE
            self.statements.add()
            return conn

        self._pool: ConnectionPool[Any] = ConnectionPool(
            connect,
            close=lambda c: c.close(),
            reset=lambda c: c.rollback(),
            forget=_forget,
            stale=_stale,
            abort=lambda c: getattr(c, "shutdown", c.close)(),  # no COM_QUIT: socket closed
            dead=lambda exc: isinstance(exc, (TimedOut, CommitLost)) or _ENDED.ended(exc),
            max_size=max(1, pool.get("pool_size", 10)),
            timeout=pool.get("pool_timeout", 30.0),
        )
        try:
            with self._pool.checkout() as conn:
                kind = "C extension" if type(conn).__name__.startswith("CMySQL") else "pure Python"
                self.driver = f"mysql-connector-python {mysql.connector.__version__} ({kind})"
        except mysql.connector.Error as exc:
            self._pool.close()
            raise BackendUnavailableError(
                f"cannot connect to {self.url.masked()}: "
                f"{scrub(str(exc).strip(), self.url.secrets())}"
            ) from exc
        (dialect,) = dialects.values()
        self.server = str(dialect.server)
        oldest = (10, 5, 0) if dialect.server.is_mariadb else (8, 0, 0)
        if dialect.server.version < oldest:
            self._pool.close()
            raise BackendUnavailableError(
                f"{self.url.masked()} runs {self.server}; registry-core needs MySQL 8.0 or "
                "MariaDB 10.5 or newer (recursive queries, JSON aggregates, NO PAD collations)"
            )
        self._lock_name = migration_lock_name(self.url.database)
        return dialect

    @contextmanager
    def _checkout(self) -> Iterator[Any]:
        with self._pool.checkout() as conn:
            yield conn

    @contextmanager
    def _migration_lock(self, session: Session) -> Iterator[None]:
        lock = {"name": self._lock_name, "wait": MIGRATION_LOCK_WAIT}
        got = session.scalar("SELECT GET_LOCK(:name, :wait)", lock)
        if got != 1:
            raise BackendUnavailableError(
                f"another process has held the migration lock for {MIGRATION_LOCK_WAIT} s"
            )
        try:
            yield
        finally:
            session.scalar("SELECT RELEASE_LOCK(:name)", {"name": self._lock_name})

    def _drop_idle(self) -> None:
        self._pool.drop_idle()

    def _session_id(self, conn: Any) -> int | None:
        return int(conn.connection_id) if conn.connection_id else None

    def _end_session(self, s: Session, session_id: int) -> bool:
        from mysql.connector import errors

        try:
            s.rowcount("KILL :id", {"id": session_id})  # (KILL waits for nothing)
        except errors.DatabaseError as exc:
            if getattr(exc, "errno", None) == 1094:  # ER_NO_SUCH_THREAD: it has ended
                return True
            raise
        return False

    def _close(self) -> None:
        self._pool.close()


#: classifies exceptions for the pool before the server's dialect is known (classify does not
#: depend on the server)
_ENDED = MySQLDialect(ServerInfo("MySQL", (8, 0, 20)))


def _stale(conn: Any) -> bool:
    """Whether the server ended an idle connection (no round trip: see socket_has_news). The
    C extension does not expose its socket: its connections are not checked."""
    sock = getattr(getattr(conn, "_socket", None), "sock", None)
    if sock is None:
        return False
    try:
        return socket_has_news(sock.fileno())
    except (OSError, ValueError):
        return True


def _forget(conn: Any) -> None:
    """In a forked child: the parent's connection is never used nor closed here (closing sends
    COM_QUIT on the shared socket). The pure-Python driver's socket is pointed at /dev/null;
    the C extension does not expose its socket, so its connection is only kept, unused."""
    forksafe.keep(conn)
    sock = getattr(getattr(conn, "_socket", None), "sock", None)
    if sock is not None and sock.fileno() >= 0:
        forksafe.detach_socket(sock.fileno())
