"""Where a test run finds each database engine (SPEC sections 6 and 11), kept free of pytest so
that the choice itself can be tested and used from any harness.

Four engines: sqlite (embedded), postgresql, mysql (Oracle's MySQL) and mariadb (the same
backend and mysql:// scheme as mysql, a different server). Per server engine: the URL in
REGISTRY_TEST_<ENGINE>_URL if set; otherwise, if a Docker engine answers, a testcontainers
container of REGISTRY_TEST_<ENGINE>_IMAGE (defaults postgres:16, mysql:8.4, mariadb:11.8);
otherwise the engine is unavailable, with the reason. REGISTRY_TEST_REQUIRE (comma list) turns
an unavailable engine it names into a failure instead of a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

ENGINES = ("sqlite", "postgresql", "mysql", "mariadb")
#: the server engines, and the ones that speak MySQL's protocol through the mysql backend
SERVERS = ("postgresql", "mysql", "mariadb")
MYSQL_FAMILY = ("mysql", "mariadb")
#: the product each engine's server reports (`backend.server`, e.g. "MySQL 9.7.4")
PRODUCTS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}
DEFAULT_IMAGES = {"postgresql": "postgres:16", "mysql": "mysql:8.4", "mariadb": "mariadb:11.8"}
#: containers' password: distinctive, so that tests can check no message shows it
CONTAINER_PASSWORD = "rc-Secret-9f3e"
#: other names REGISTRY_TEST_REQUIRE may hold: registry-core's own suite also requires these
#: artifact stores and local servers (any other name is a typo, and an error)
OTHER_REQUIREMENTS = ("memory", "s3", "azure", "pgbouncer", "pg-cluster")


@dataclass(frozen=True)
class Choice:
    """How one engine is provided: kind is "embedded", "url", "container" or "skip"."""

    engine: str
    kind: str
    detail: str  # the URL, the image, or the reason for the skip
    required: bool = False


class Unavailable(Exception):
    """An engine (or server) a test needs cannot be had; `required`: REGISTRY_TEST_REQUIRE
    names it, so the test fails instead of skipping."""

    def __init__(self, message: str, required: bool) -> None:
        super().__init__(message)
        self.required = required


def required_engines(environ: Mapping[str, str]) -> set[str]:
    """The engines REGISTRY_TEST_REQUIRE names; unknown names are an error, not ignored."""
    raw = environ.get("REGISTRY_TEST_REQUIRE", "")
    names = {n.strip().lower() for n in raw.split(",") if n.strip()}
    unknown = names - set(ENGINES) - set(OTHER_REQUIREMENTS)
    if unknown:
        raise ValueError(
            f"REGISTRY_TEST_REQUIRE names unknown engines {sorted(unknown)}; "
            f"known: {', '.join(ENGINES + OTHER_REQUIREMENTS)}"
        )
    return names


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
    admin(
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
        admin(engine, admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        admin(engine, admin_url, f"DROP DATABASE IF EXISTS {name}")


def admin(engine: str, admin_url: str, sql: str) -> None:
    """Runs one statement with the server's driver, outside any registry (CREATE DATABASE...)."""
    parts = urlsplit(admin_url)
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type,unused-ignore]  # psycopg: LiteralString
        return
    import mysql.connector

    my = mysql.connector.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username,
        password=parts.password or "",
        charset="utf8mb4",
        collation="utf8mb4_bin",
    )
    try:
        cur = my.cursor()
        cur.execute(sql)
        cur.close()
    finally:
        my.close()


def environ() -> Mapping[str, str]:
    return os.environ


class Servers:
    """The servers of one test session, started or found on first use: engine -> admin URL
    (one container per engine per session). Engines it cannot provide raise Unavailable, once
    found out, without trying again for every test."""

    def __init__(self, docker: Callable[[], bool] = docker_available) -> None:
        self._urls: dict[str, str] = {}
        self._failed: dict[str, Unavailable] = {}
        self._containers: list[Any] = []
        self._docker_probe = docker
        self._docker: bool | None = None

    def _docker_available(self) -> bool:
        if self._docker is None:
            self._docker = self._docker_probe()
        return self._docker

    def admin_url(self, engine: str) -> str:
        """A URL on `engine`'s server that may create and drop databases."""
        if engine in self._urls:
            return self._urls[engine]
        if engine in self._failed:  # tried once this session: do not start it per test
            raise self._failed[engine]
        choice = choose(engine, environ(), self._docker_available)
        if choice.kind == "skip":
            raise Unavailable(choice.detail, choice.required)
        if choice.kind == "container":
            try:
                container, url = start_container(engine, choice.detail)
            except Exception as exc:
                self._failed[engine] = Unavailable(
                    f"{engine}: could not start container {choice.detail}: {exc}", choice.required
                )
                raise self._failed[engine] from None
            self._containers.append(container)
        else:
            url = choice.detail
        self.check_product(engine, url)
        self._urls[engine] = url
        return url

    @staticmethod
    def check_product(engine: str, url: str) -> None:
        """ValueError if `url`'s server is not `engine`'s product: a MariaDB URL given for
        mysql (or the reverse) would test the wrong server under the engine's name."""
        import registry_core

        with registry_core.open_backend(url) as probe:
            server = str(getattr(probe, "server", ""))
        if not server.startswith(PRODUCTS[engine] + " "):
            raise ValueError(
                f"the {engine} engine's server is {server or 'unknown'}, not "
                f"{PRODUCTS[engine]}: check REGISTRY_TEST_{engine.upper()}_URL/_IMAGE"
            )

    def stop(self) -> None:
        """Stops the containers this session started."""
        for container in self._containers:
            container.stop()
        self._containers.clear()
