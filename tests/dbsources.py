"""The project's own additions to `registry_core.testing.databases` (where each engine comes
from, SPEC section 6): servers this machine starts (PgBouncer, a PostgreSQL cluster), the
artifact stores REGISTRY_TEST_REQUIRE may name, containers of a test's own, read-only users.
Kept importable without pytest's fixtures so that tests/unit can check the choice itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import NoReturn
from urllib.parse import urlsplit

from registry_core.testing.databases import (
    CONTAINER_PASSWORD,
    DEFAULT_IMAGES,
    ENGINES,
    MYSQL_FAMILY,
    SERVERS,
    Choice,
    admin,
    choose,
    create_database,
    docker_available,
    drop_database,
    environ,
    required_engines,
    start_container,
    with_database,
)
from registry_core.testing.databases import PRODUCTS as _PRODUCTS
from registry_core.testing.plugin import give_up

__all__ = [
    "CONTAINER_PASSWORD",
    "DEFAULT_IMAGES",
    "ENGINES",
    "MYSQL_FAMILY",
    "SERVERS",
    "Choice",
    "choose",
    "create_database",
    "docker_available",
    "drop_database",
    "give_up",
    "required_engines",
    "start_container",
    "with_database",
]

PRODUCTS = {**_PRODUCTS, "pgbouncer": "PostgreSQL"}

#: servers the tests start from this machine's binaries (tests/localservers.py), which
#: REGISTRY_TEST_REQUIRE may also name: PgBouncer in front of the postgresql engine (the
#: `pgbouncer` engine of the tests that run through a pooler), and a PostgreSQL primary with a
#: streaming standby (`pg-cluster`, the failover tests)
LOCAL_SERVERS = ("pgbouncer", "pg-cluster")
#: the engines of the tests that also run through a connection pooler: PostgreSQL through
#: PgBouncer in transaction mode is one more engine for them (same backend, same server)
WITH_POOLER = (*ENGINES, "pgbouncer")
#: artifact stores that REGISTRY_TEST_REQUIRE may also name (their tests need libraries or
#: an emulator: fsspec, s3fs with moto's server, adlfs with Azurite)
STORES = ("memory", "s3", "azure")


def local_server_unavailable(name: str, message: str) -> NoReturn:
    """Skips a test that needs a server of LOCAL_SERVERS, or fails it when required."""
    give_up(Choice(name, "skip", message, name in required_engines(environ())), message)


def store_unavailable(store: str, message: str) -> NoReturn:
    """Skips a test on `store`, or fails it when REGISTRY_TEST_REQUIRE names the store."""
    give_up(Choice(store, "skip", message, store in required_engines(environ())), message)


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
        admin(engine, admin_url, f"CREATE ROLE {name} LOGIN PASSWORD '{READ_ONLY_PASSWORD}'")
        for sql in (
            f"GRANT USAGE ON SCHEMA public TO {name}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}",
        ):
            admin(engine, db_url, sql)
    else:
        admin(engine, admin_url, f"CREATE USER '{name}'@'%' IDENTIFIED BY '{READ_ONLY_PASSWORD}'")
        admin(engine, admin_url, f"GRANT SELECT ON {database}.* TO '{name}'@'%'")
    parts = urlsplit(db_url)
    netloc = f"{name}:{READ_ONLY_PASSWORD}@{parts.hostname}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def drop_read_only_user(engine: str, admin_url: str, db_url: str, user_url: str) -> None:
    name = urlsplit(user_url).username
    assert name and name.startswith("rc_ro_")
    if engine == "postgresql":
        admin(engine, db_url, f"DROP OWNED BY {name}")
        admin(engine, admin_url, f"DROP ROLE IF EXISTS {name}")
    else:
        admin(engine, admin_url, f"DROP USER IF EXISTS '{name}'@'%'")


#: the URL option that bounds making a connection, per server engine
CONNECT_TIMEOUT_OPTION = {
    "postgresql": "connect_timeout",
    "mysql": "connection_timeout",
    "mariadb": "connection_timeout",
}
