"""MySQL 8 and MariaDB through mysql-connector-python, with registry-core's own pool.

Tables default to a binary NO PAD collation so that names compare byte-exactly with trailing
spaces significant, as on SQLite and PostgreSQL: MariaDB's `utf8mb4_bin` pads, its
`utf8mb4_nopad_bin` does not; MySQL 8 calls its own `utf8mb4_0900_bin`. The connection uses
charset utf8mb4 with `utf8mb4_bin`, a collation both servers know (the driver's default,
`utf8mb4_0900_ai_ci`, is unknown to MariaDB before 11.4). Sessions run READ COMMITTED (as
PostgreSQL does) with a strict sql_mode, and `FOUND_ROWS` makes UPDATE report matched rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from registry_core.dialect import Dialect, ErrorKind, insert_statement
from registry_core.errors import BackendUnavailableError, InvalidInputError, MissingDriverError
from registry_core.pool import ConnectionPool
from registry_core.session import Session
from registry_core.sqlbackend import SQLMetadataBackend
from registry_core.urls import POOL_OPTIONS, scrub, take_options

SQL_MODE = (
    "STRICT_ALL_TABLES,ONLY_FULL_GROUP_BY,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
#: GET_LOCK name of the migration runner, scoped to the current database (names <= 64 chars)
MIGRATION_LOCK = "CONCAT('registry_core.migrate.', MD5(DATABASE()))"
MIGRATION_LOCK_WAIT = 600  # seconds

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
# too many connections, access denied, unknown database, lock wait timeout, connection
# errors and losses (MySQL 8.4 4031 inactivity disconnect, MariaDB 1927 connection killed)
_UNAVAILABLE = {1040, 1044, 1045, 1049, 1205, 1927, 2002, 2003, 2005, 2006, 2013, 2055, 4031}


class MySQLDialect(Dialect):
    name: ClassVar[str] = "mysql"
    placeholder: ClassVar[str] = "%s"
    escape_percent: ClassVar[bool] = False  # the driver only substitutes %s; it never reads %%
    int_cast_type: ClassVar[str] = "SIGNED"
    transactional_ddl: ClassVar[bool] = False
    table_exists_sql: ClassVar[str] = (
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = :name"
    )
    server_version_sql: ClassVar[str] = "SELECT VERSION()"
    database_size_sql: ClassVar[str | None] = (
        "SELECT SUM(data_length + index_length) FROM information_schema.tables "
        "WHERE table_schema = DATABASE()"
    )

    def __init__(self, collation: str) -> None:
        super().__init__()
        self.collation = collation

    def insert_if_absent(self, table: str, columns: Any, conflict: Any) -> str:
        # Not INSERT IGNORE: that also turns truncation and other errors into warnings.
        key = conflict[0]
        return f"{insert_statement(table, columns)} ON DUPLICATE KEY UPDATE {key} = {key}"

    def upsert(self, table: str, columns: Any, conflict: Any, update: Any) -> str:
        # VALUES(c), not MySQL 8's row alias `AS new`, which MariaDB rejects.
        sets = ", ".join(f"{c} = VALUES({c})" for c in update)
        return f"{insert_statement(table, columns)} ON DUPLICATE KEY UPDATE {sets}"

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
        }

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        from mysql.connector import errors

        return (errors.Error,)

    def classify(self, exc: BaseException) -> ErrorKind:
        from mysql.connector import errors

        errno = getattr(exc, "errno", None)
        if errno in _UNIQUE:
            return ErrorKind.UNIQUE
        if errno in _RETRY:
            return ErrorKind.RETRY
        if errno == 1146:  # ER_NO_SUCH_TABLE
            return ErrorKind.MISSING_TABLE
        if errno in _UNAVAILABLE or isinstance(exc, (errors.InterfaceError, errors.PoolError)):
            return ErrorKind.UNAVAILABLE
        return ErrorKind.OTHER


def binary_nopad_collation(server_version: str) -> str:
    """The byte-exact NO PAD utf8mb4 collation of this server."""
    return "utf8mb4_nopad_bin" if "mariadb" in server_version.lower() else "utf8mb4_0900_bin"


class MySQLMetadataBackend(SQLMetadataBackend):
    """`mysql://user:pw@host:3306/db`.

    URL options: `pool_size` (default 10), `pool_timeout` (default 30 s), and the
    `mysql.connector.connect` arguments in DRIVER_OPTIONS (connection_timeout, ssl_ca, ...).
    """

    name = "mysql"

    def _open(self) -> Dialect:
        try:
            import mysql.connector
            from mysql.connector.constants import ClientFlag
        except ImportError as exc:
            raise MissingDriverError("MySQL", "mysql", "mysql-connector-python") from exc
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
        kwargs: dict[str, Any] = {
            "connection_timeout": 10,
            **driver,
            "host": self.url.host or "localhost",
            "port": self.url.port or 3306,
            "user": self.url.username,
            "password": self.url.password or "",
            "database": self.url.database,
            "charset": "utf8mb4",
            "collation": "utf8mb4_bin",
            "autocommit": False,
            "client_flags": [ClientFlag.FOUND_ROWS],
        }

        def connect() -> Any:
            conn = mysql.connector.connect(**kwargs)
            cur = conn.cursor()
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cur.execute(f"SET SESSION sql_mode = '{SQL_MODE}'")
            self.statements.add(2)
            if "mariadb" not in str(conn.server_info).lower():
                # MySQL 8 caches table sizes in information_schema for a day by default
                cur.execute("SET SESSION information_schema_stats_expiry = 0")
                self.statements.add()
            cur.close()
            return conn

        self._pool: ConnectionPool[Any] = ConnectionPool(
            connect,
            close=lambda c: c.close(),
            reset=lambda c: c.rollback(),
            is_alive=lambda c: bool(c.is_connected()),
            max_size=max(1, pool.get("pool_size", 10)),
            timeout=pool.get("pool_timeout", 30.0),
        )
        try:
            with self._pool.checkout() as conn:
                cur = conn.cursor()
                cur.execute("SELECT VERSION()")
                self.server_version = str(cur.fetchone()[0])
                cur.close()
                conn.rollback()
        except mysql.connector.Error as exc:
            self._pool.close()
            raise BackendUnavailableError(
                f"cannot connect to {self.url.masked()}: "
                f"{scrub(str(exc).strip(), self.url.secrets())}"
            ) from exc
        return MySQLDialect(binary_nopad_collation(self.server_version))

    @contextmanager
    def _checkout(self) -> Iterator[Any]:
        with self._pool.checkout() as conn:
            yield conn

    @contextmanager
    def _migration_lock(self, session: Session) -> Iterator[None]:
        got = session.scalar(f"SELECT GET_LOCK({MIGRATION_LOCK}, {MIGRATION_LOCK_WAIT})")
        session.commit()
        if got != 1:
            raise BackendUnavailableError(
                f"another process has held the migration lock for {MIGRATION_LOCK_WAIT} s"
            )
        try:
            yield
        finally:
            session.scalar(f"SELECT RELEASE_LOCK({MIGRATION_LOCK})")
            session.commit()

    def _close(self) -> None:
        self._pool.close()
