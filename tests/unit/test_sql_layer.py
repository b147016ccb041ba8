"""The shared SQL layer's mechanics, independent of any server: placeholder rendering, script
splitting, migration expansion, URL handling and the connection pool."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from registry_core import InvalidInputError, MissingDriverError
from registry_core.backends.mysql import (
    DRIVER_OPTIONS,
    MySQLDialect,
    ServerInfo,
    migration_lock_name,
)
from registry_core.backends.postgresql import PostgreSQLDialect
from registry_core.backends.sqlite import SQLiteDialect
from registry_core.dialect import split_statements
from registry_core.errors import BackendUnavailableError
from registry_core.migrator import load_migrations
from registry_core.pool import ConnectionPool
from registry_core.urls import POOL_OPTIONS, parse_url, scrub, take_options


def test_render_qmark_and_format_styles() -> None:
    sql = "SELECT ':skip', x::text FROM t WHERE a = :a AND b LIKE '50%' AND c = :a -- :no"
    r = SQLiteDialect().render(sql)
    assert r.text == "SELECT ':skip', x::text FROM t WHERE a = ? AND b LIKE '50%' AND c = ? -- :no"
    assert r.bind({"a": 1}) == (1, 1)
    p = PostgreSQLDialect().render(sql)
    assert p.text == (
        "SELECT ':skip', x::text FROM t WHERE a = %s AND b LIKE '50%%' AND c = %s -- :no"
    )
    # without parameters the driver does no % substitution, so nothing is doubled
    assert PostgreSQLDialect().render("SELECT '50%'").text == "SELECT '50%'"
    assert PostgreSQLDialect().render("SELECT '50%'").bind({}) is None


def test_upserts_per_dialect() -> None:
    cols, key, upd = ["k", "v"], ["k"], ["v"]
    assert "ON CONFLICT (k) DO UPDATE SET v = excluded.v" in SQLiteDialect().upsert(
        "t", cols, key, upd
    )
    maria = MySQLDialect(ServerInfo.parse("11.8.9-MariaDB-0+deb13u1 from Debian"))
    assert maria.upsert("t", cols, key, upd) == (
        "INSERT INTO t (k, v) VALUES (:k, :v) ON DUPLICATE KEY UPDATE v = VALUES(v)"
    )
    mysql = MySQLDialect(ServerInfo.parse("9.7.4-2"))
    assert mysql.upsert("t", cols, key, upd) == (
        "INSERT INTO t (k, v) VALUES (:k, :v) AS new ON DUPLICATE KEY UPDATE v = new.v"
    )
    # before 8.0.20 VALUES() is not yet deprecated (and 8.0.19's row alias is brand new)
    assert "VALUES(v)" in MySQLDialect(ServerInfo.parse("8.0.19")).upsert("t", cols, key, upd)
    for my in (maria, mysql):
        assert "IGNORE" not in my.insert_if_absent("t", cols, key)
        assert my.int_cast("x") == "CAST(x AS SIGNED)"
    assert PostgreSQLDialect().int_cast("x") == "CAST(x AS INTEGER)"


@pytest.mark.parametrize(
    ("version", "product", "numbers", "collation", "setup"),
    [
        ("11.8.9-MariaDB-0+deb13u1 from Debian", "MariaDB", (11, 8, 9), "utf8mb4_nopad_bin", 0),
        ("5.5.5-10.11.19-MariaDB-0+deb12u1", "MariaDB", (10, 11, 19), "utf8mb4_nopad_bin", 0),
        ("9.7.4-2", "MySQL", (9, 7, 4), "utf8mb4_0900_bin", 1),
        ("8.4.3", "MySQL", (8, 4, 3), "utf8mb4_0900_bin", 1),
    ],
)
def test_mysql_dialect_by_server(
    version: str, product: str, numbers: tuple[int, int, int], collation: str, setup: int
) -> None:
    server = ServerInfo.parse(version)
    assert (server.product, server.version) == (product, numbers)
    assert str(server) == f"{product} {'.'.join(map(str, numbers))}"
    dialect = MySQLDialect(server)
    assert dialect.collation == collation
    assert f"COLLATE={collation}" in dialect.expand("{{table_options}}")
    assert len(dialect.session_setup) == setup  # information_schema_stats_expiry on MySQL


def test_mysql_migration_lock_name_fits_and_is_per_database() -> None:
    names = {migration_lock_name(db) for db in ("test", "prod", "x" * 64)}
    assert len(names) == 3 and all(len(n) <= 64 for n in names)


def test_split_statements_respects_quotes_and_comments() -> None:
    script = "CREATE TABLE a (x TEXT DEFAULT ';'); -- c;\nINSERT INTO a VALUES ('it''s; ok');\n;"
    assert split_statements(script) == [
        "CREATE TABLE a (x TEXT DEFAULT ';')",
        "INSERT INTO a VALUES ('it''s; ok')",
    ]


def test_every_migration_expands_on_every_dialect() -> None:
    for dialect in (
        SQLiteDialect(),
        PostgreSQLDialect(),
        MySQLDialect(ServerInfo.parse("9.7.4")),
        MySQLDialect(ServerInfo.parse("11.8.9-MariaDB")),
    ):
        for m in load_migrations():
            for text in (m.up, m.down):
                assert text is not None, f"{m.label} lacks a down migration"
                expanded = dialect.expand(text)
                assert "{{" not in expanded
                assert split_statements(expanded)
    with pytest.raises(InvalidInputError, match="nope"):
        SQLiteDialect().expand("CREATE TABLE t (x {{nope}})")


def test_migration_files_are_numbered_consecutively() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == [f"{i:03d}" for i in range(1, len(versions) + 1)]


@pytest.mark.parametrize(
    ("url", "scheme", "database"),
    [
        ("sqlite:///relative.db", "sqlite", "relative.db"),
        ("sqlite:////abs/path.db", "sqlite", "/abs/path.db"),
        ("sqlite://:memory:", "sqlite", ":memory:"),
        ("postgresql://u:p%40ss@h:5432/db?sslmode=require", "postgresql", "db"),
        ("postgres://u@h/db", "postgresql", "db"),
        ("mysql://u:pw@h:3306/db", "mysql", "db"),
        ("mariadb://u:pw@h:3306/db", "mysql", "db"),
        ("MariaDB://u@h/db", "mysql", "db"),
    ],
)
def test_parse_url(url: str, scheme: str, database: str) -> None:
    parsed = parse_url(url)
    assert (parsed.scheme, parsed.database) == (scheme, database)


def test_url_masking() -> None:
    u = parse_url("postgresql://user:p%40ss@h:5432/db?sslmode=require")
    assert u.password == "p@ss"
    assert u.options == {"sslmode": "require"}
    assert u.masked() == "postgresql://user:***@h:5432/db?sslmode=require"
    assert "p@ss" not in repr(u) and "p@ss" not in str(u)
    assert scrub("bad p@ss and p%40ss", u.secrets()) == "bad *** and ***"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "nonsense",
        "sqlite://relative.db",
        "postgresql://h:99999/db",
        "mysql://u:secretpw@h:3306/",
        "mysql://u:secret/pw@h:3306/db",
        "mysql://u:secret#pw@h:3306/db",
        "postgresql://u:secret?pw@h/db",
    ],
)
def test_bad_urls_never_echo_the_password(bad: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_url(bad)
    assert "secret" not in str(info.value)


def test_secret_options_are_masked() -> None:
    u = parse_url("postgresql://u@h/db?password=pw1&sslpassword=pw2&sslmode=require")
    assert u.masked() == "postgresql://u@h/db?password=***&sslpassword=***&sslmode=require"
    assert set(u.secrets()) == {"pw1", "pw2"}


def test_options_are_typed_and_checked() -> None:
    options = {"pool_size": "3", "ssl_disabled": "false", "connection_timeout": "2", "x": "1"}
    pool = take_options(options, POOL_OPTIONS, backend="mysql")
    driver = take_options(options, DRIVER_OPTIONS, backend="mysql")
    assert pool == {"pool_size": 3}
    assert driver == {"ssl_disabled": False, "connection_timeout": 2}
    assert options == {"x": "1"}
    with pytest.raises(InvalidInputError, match="pool_size"):
        take_options({"pool_size": "many"}, POOL_OPTIONS, backend="mysql")
    with pytest.raises(InvalidInputError, match="ssl_disabled"):
        take_options({"ssl_disabled": "maybe"}, DRIVER_OPTIONS, backend="mysql")


@pytest.mark.parametrize("option", ["autocommit=true", "nonsense=1", "charset=latin1"])
def test_mysql_refuses_options_it_does_not_know(option: str) -> None:
    import registry_core

    with pytest.raises(InvalidInputError, match="unknown mysql URL options"):
        registry_core.open_backend(f"mysql://u@127.0.0.1:9/db?{option}")


def test_unknown_scheme_lists_the_known_ones() -> None:
    import registry_core

    with pytest.raises(InvalidInputError, match="sqlite"):
        registry_core.open_backend("oracle://u@h/db")


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import registry_core

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingDriverError, match=r"registry-core\[postgresql\]"):
        registry_core.open_backend("postgresql://u@127.0.0.1/db")
    monkeypatch.setitem(sys.modules, "mysql.connector", None)
    monkeypatch.setitem(sys.modules, "mysql", None)
    with pytest.raises(MissingDriverError, match=r"registry-core\[mysql\]"):
        registry_core.open_backend("mysql://u@127.0.0.1/db")


def test_sqlite_unopenable_path_is_unavailable() -> None:
    import registry_core

    with pytest.raises(BackendUnavailableError):
        registry_core.open_backend("sqlite:////proc/registry-core-cannot/x.db")


class _Conn:
    made = 0

    def __init__(self) -> None:
        _Conn.made += 1
        self.alive = True


def _pool(size: int, timeout: float = 1.0, **kw: Any) -> ConnectionPool[_Conn]:
    kw.setdefault("close", lambda c: None)
    kw.setdefault("reset", lambda c: None)
    return ConnectionPool(_Conn, max_size=size, timeout=timeout, **kw)


def test_pool_reuses_connections_without_checking_them() -> None:
    _Conn.made = 0
    pool = _pool(2)
    for _ in range(10):
        with pool.checkout():
            pass
    assert _Conn.made == 1


def test_pool_waits_then_times_out() -> None:
    pool = _pool(1, timeout=0.2)
    with (
        pool.checkout(),
        pytest.raises(BackendUnavailableError, match="pool_size"),
        pool.checkout(),
    ):
        pass
    got: list[_Conn] = []
    with pool.checkout() as c:
        t = threading.Thread(target=lambda: got.append(pool._get()))
        t.start()
        time.sleep(0.05)
    t.join()
    assert got == [c]


def test_pool_discards_broken_connections_within_its_size() -> None:
    closed: list[_Conn] = []
    pool = _pool(1, broken=lambda c: not c.alive, close=closed.append)
    with pool.checkout() as c:
        c.alive = False
    assert closed == [c] and pool.size == 0
    with pool.checkout() as d:
        assert d is not c and d.alive
        assert pool.size == 1


def test_pool_drops_every_idle_connection_at_once() -> None:
    closed: list[_Conn] = []
    pool = _pool(4, close=closed.append)
    with pool.checkout() as a, pool.checkout() as b, pool.checkout() as c:
        pass
    with pool.checkout() as in_use:
        assert pool.drop_idle() == 2
        assert {id(x) for x in closed} == {id(x) for x in (a, b, c)} - {id(in_use)}
    assert pool.size == 1  # the one in use came back


def test_pool_drops_a_connection_whose_reset_fails() -> None:
    closed: list[_Conn] = []

    def bad_reset(c: _Conn) -> None:
        raise OSError("rollback failed")

    pool = _pool(1, timeout=0.5, close=closed.append, reset=bad_reset)
    with pytest.raises(RuntimeError), pool.checkout() as first:
        raise RuntimeError("user code failed")  # reset fails too: the connection is dropped
    assert closed == [first]
    with pool.checkout() as second:
        assert second is not first and pool.size == 1


def test_pool_frees_the_slot_when_connecting_fails() -> None:
    def refuse() -> _Conn:
        raise OSError("refused")

    pool: ConnectionPool[_Conn] = ConnectionPool(
        refuse, close=lambda c: None, reset=lambda c: None, max_size=1, timeout=0.2
    )
    for _ in range(3):
        with pytest.raises(OSError, match="refused"), pool.checkout():
            pass
    assert pool.size == 0
