"""Where the contract suite finds each database (SPEC section 6), kept free of pytest so that
tests/unit can check the choice itself.

Four engines: sqlite (embedded), postgresql, mysql (Oracle's MySQL) and mariadb (the same
backend and mysql:// scheme as mysql, a different server). Per server engine: the URL in
REGISTRY_TEST_<ENGINE>_URL if set; otherwise, if a Docker engine answers, a testcontainers
container of REGISTRY_TEST_<ENGINE>_IMAGE (defaults postgres:16, mysql:8.4, mariadb:11.8);
otherwise a skip with the reason. REGISTRY_TEST_REQUIRE (comma list) turns a skip of the
engines it names into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

ENGINES = ("sqlite", "postgresql", "mysql", "mariadb")
#: the server engines, and the ones that speak MySQL's protocol through the mysql backend
SERVERS = ("postgresql", "mysql", "mariadb")
MYSQL_FAMILY = ("mysql", "mariadb")
#: the product each engine's server must report (`backend.server`, e.g. "MySQL 9.7.4")
PRODUCTS = {
    "sqlite": "SQLite",
    "postgresql": "PostgreSQL",
    "mysql": "MySQL",
    "mariadb": "MariaDB",
    "pgbouncer": "PostgreSQL",
}
DEFAULT_IMAGES = {"postgresql": "postgres:16", "mysql": "mysql:8.4", "mariadb": "mariadb:11.8"}
#: containers' password: distinctive, so that tests can check no message shows it
CONTAINER_PASSWORD = "rc-Secret-9f3e"


@dataclass(frozen=True)
class Choice:
    """How one engine is provided: kind is "embedded", "url", "container" or "skip"."""

    engine: str
    kind: str
    detail: str  # the URL, the image, or the reason for the skip
    required: bool = False


def required_engines(environ: Mapping[str, str]) -> set[str]:
    """The engines REGISTRY_TEST_REQUIRE names; unknown names are an error, not ignored."""
    raw = environ.get("REGISTRY_TEST_REQUIRE", "")
    names = {n.strip().lower() for n in raw.split(",") if n.strip()}
    unknown = names - set(ENGINES) - set(STORES) - set(LOCAL_SERVERS)
    if unknown:
        raise ValueError(
            f"REGISTRY_TEST_REQUIRE names unknown engines {sorted(unknown)}; "
            f"known: {', '.join(ENGINES + STORES + LOCAL_SERVERS)}"
        )
    return names


#: servers the tests start from this machine's binaries (tests/localservers.py), which
#: REGISTRY_TEST_REQUIRE may also name: PgBouncer in front of the postgresql engine (the
#: `pgbouncer` engine of the tests that run through a pooler), and a PostgreSQL primary with a
#: streaming standby (`pg-cluster`, the failover tests)
LOCAL_SERVERS = ("pgbouncer", "pg-cluster")
#: the engines of the tests that also run through a connection pooler: PostgreSQL through
#: PgBouncer in transaction mode is one more engine for them (same backend, same server)
WITH_POOLER = (*ENGINES, "pgbouncer")


def local_server_unavailable(name: str, message: str) -> NoReturn:
    """Skips a test that needs a server of LOCAL_SERVERS, or fails it when required."""
    give_up(Choice(name, "skip", message, name in required_engines(environ())), message)


#: artifact stores that REGISTRY_TEST_REQUIRE may also name (their tests need libraries or
#: an emulator: fsspec, s3fs with moto's server, adlfs with Azurite)
STORES = ("memory", "s3", "azure")


def store_unavailable(store: str, message: str) -> NoReturn:
    """Skips a test on `store`, or fails it when REGISTRY_TEST_REQUIRE names the store."""
    give_up(Choice(store, "skip", message, store in required_engines(environ())), message)


def choose(engine: str, environ: Mapping[str, str], docker_available: Callable[[], bool]) -> Choice:
    """Decide where `engine` comes from. `docker_available` is only called when needed."""
    required = engine in required_engines(environ)
    if engine == "sqlite":
        return Choice(engine, "embedded", "sqlite (a file per test)", required)
    upper = engine.upper()
    url = environ.get(f"REGISTRY_TEST_{upper}_URL", "").strip()
    if url:
        return Choice(engine, "url", url, required)
    if docker_available():
        image = environ.get(f"REGISTRY_TEST_{upper}_IMAGE", "").strip() or DEFAULT_IMAGES[engine]
        return Choice(engine, "container", image, required)
    return Choice(
        engine,
        "skip",
        f"{engine}: REGISTRY_TEST_{upper}_URL is not set and no Docker engine answers "
        "(DOCKER_HOST or the default socket)",
        required,
    )


def choose_container(
    engine: str, environ: Mapping[str, str], docker_available: Callable[[], bool]
) -> Choice:
    """A server of its own for a test that restarts or stops it: always a container of
    REGISTRY_TEST_<ENGINE>_IMAGE (a URL's server is not ours to restart), else a skip."""
    without_url = {k: v for k, v in environ.items() if k != f"REGISTRY_TEST_{engine.upper()}_URL"}
    choice = choose(engine, without_url, docker_available)
    if choice.kind == "skip":
        reason = f"{engine}: this test restarts its own server and needs a Docker engine"
        return Choice(engine, "skip", reason, choice.required)
    return choice


def give_up(choice: Choice, message: str) -> NoReturn:
    """Skips the test, or fails it when REGISTRY_TEST_REQUIRE names the engine."""
    if choice.required:
        pytest.fail(f"required by REGISTRY_TEST_REQUIRE but unavailable: {message}", pytrace=False)
    pytest.skip(message)


def docker_available() -> bool:
    """True if a Docker-compatible engine answers a ping."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database on the same server."""
    return urlsplit(url)._replace(path="/" + database).geturl()


def start_container(engine: str, image: str) -> tuple[Any, str]:
    """Starts a container of `image`; returns it and an admin URL in our scheme. MySQL and
    MariaDB images take the same MYSQL_* variables, so one container class serves both."""
    if engine == "postgresql":
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers < 4.15
            from testcontainers.postgres import PostgresContainer
        # fsync off: throwaway data, and database creation per test gets much faster
        pg = PostgresContainer(
            image, username="test", password=CONTAINER_PASSWORD, dbname="test", driver=None
        ).with_command("-c fsync=off")
        pg.start()
        return pg, pg.get_connection_url()
    try:
        from testcontainers.community.mysql import MySqlContainer
    except ImportError:
        from testcontainers.mysql import MySqlContainer
    my = MySqlContainer(image, username="root", password=CONTAINER_PASSWORD, dbname="test")
    my.start()
    return my, my.get_connection_url()


def create_database(engine: str, admin_url: str) -> str:
    """Creates an empty database beside `admin_url`'s; returns its URL."""
    name = "rc_test_" + uuid.uuid4().hex[:12]
    _admin(
        engine,
        admin_url,
        f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if engine in MYSQL_FAMILY else ""),
    )
    return with_database(admin_url, name)


def drop_database(engine: str, admin_url: str, url: str) -> None:
    """Drops a database made by create_database (connections still open are cut)."""
    name = urlsplit(url).path.lstrip("/")
    assert name.startswith("rc_test_")
    if engine == "postgresql":
        _admin(engine, admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        _admin(engine, admin_url, f"DROP DATABASE IF EXISTS {name}")


def _admin(engine: str, admin_url: str, sql: str) -> None:
    parts = urlsplit(admin_url)
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]
        return
    import mysql.connector

    conn = mysql.connector.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username,
        password=parts.password or "",
        charset="utf8mb4",
        collation="utf8mb4_bin",
    )
    try:
        cur = conn.cursor()
        cur.execute(sql)
        cur.close()
    finally:
        conn.close()


def environ() -> Mapping[str, str]:
    return os.environ


#: the password of the read-only users tests make (distinctive: no message may show it)
READ_ONLY_PASSWORD = "rc-ReadOnly-5b1d"
#: a statement that makes one connection's session read-only, per engine (a write then fails
#: as on a standby or a read-only server)
READ_ONLY_SESSION = {
    "sqlite": "PRAGMA query_only = ON",
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "pgbouncer": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
}


def create_read_only_user(engine: str, admin_url: str, db_url: str) -> str:
    """A user that may read every table of `db_url`'s database and write none; returns
    `db_url` as that user."""
    name = "rc_ro_" + uuid.uuid4().hex[:10]
    database = urlsplit(db_url).path.lstrip("/")
    if engine == "postgresql":
        _admin(engine, admin_url, f"CREATE ROLE {name} LOGIN PASSWORD '{READ_ONLY_PASSWORD}'")
        for sql in (
            f"GRANT USAGE ON SCHEMA public TO {name}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}",
        ):
            _admin(engine, db_url, sql)
    else:
        _admin(engine, admin_url, f"CREATE USER '{name}'@'%' IDENTIFIED BY '{READ_ONLY_PASSWORD}'")
        _admin(engine, admin_url, f"GRANT SELECT ON {database}.* TO '{name}'@'%'")
    parts = urlsplit(db_url)
    netloc = f"{name}:{READ_ONLY_PASSWORD}@{parts.hostname}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def drop_read_only_user(engine: str, admin_url: str, db_url: str, user_url: str) -> None:
    name = urlsplit(user_url).username
    assert name and name.startswith("rc_ro_")
    if engine == "postgresql":
        _admin(engine, db_url, f"DROP OWNED BY {name}")
        _admin(engine, admin_url, f"DROP ROLE IF EXISTS {name}")
    else:
        _admin(engine, admin_url, f"DROP USER IF EXISTS '{name}'@'%'")


#: the URL option that bounds making a connection, per server engine
CONNECT_TIMEOUT_OPTION = {
    "postgresql": "connect_timeout",
    "mysql": "connection_timeout",
    "mariadb": "connection_timeout",
}
