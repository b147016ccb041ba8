"""How the contract fixture picks a URL, a container or a skip for each engine."""

from __future__ import annotations

import pytest

import dbsources


def never() -> bool:
    raise AssertionError("docker must not be probed when a URL is given")


def test_url_wins_and_docker_is_not_probed() -> None:
    env = {"REGISTRY_TEST_POSTGRESQL_URL": "postgresql://u@h/db"}
    c = dbsources.choose("postgresql", env, never)
    assert (c.kind, c.detail, c.required) == ("url", "postgresql://u@h/db", False)


def test_container_with_default_image_when_docker_answers() -> None:
    assert dbsources.choose("postgresql", {}, lambda: True).detail == "postgres:16"
    c = dbsources.choose("mysql", {}, lambda: True)
    assert (c.kind, c.detail) == ("container", "mysql:8.4")
    c = dbsources.choose("mariadb", {}, lambda: True)
    assert (c.kind, c.detail) == ("container", "mariadb:11.8")


def test_image_override_per_engine() -> None:
    env = {
        "REGISTRY_TEST_MYSQL_IMAGE": "localhost/mysql:9.7",
        "REGISTRY_TEST_MARIADB_IMAGE": "localhost/mariadb:11.8",
    }
    assert dbsources.choose("mysql", env, lambda: True).detail == "localhost/mysql:9.7"
    assert dbsources.choose("mariadb", env, lambda: True).detail == "localhost/mariadb:11.8"


def test_mariadb_url_is_its_own_engine() -> None:
    env = {"REGISTRY_TEST_MARIADB_URL": "mysql://root@127.0.0.1:3306/test"}
    c = dbsources.choose("mariadb", env, never)
    assert (c.kind, c.detail) == ("url", "mysql://root@127.0.0.1:3306/test")
    # the MariaDB URL does not stand in for MySQL
    assert dbsources.choose("mysql", env, lambda: False).kind == "skip"


def test_the_four_engines() -> None:
    assert dbsources.ENGINES == ("sqlite", "postgresql", "mysql", "mariadb")
    env = {"REGISTRY_TEST_REQUIRE": "sqlite,postgresql,mysql,mariadb"}
    assert dbsources.required_engines(env) == set(dbsources.ENGINES)


def test_skip_with_reason_without_url_or_docker() -> None:
    c = dbsources.choose("mysql", {}, lambda: False)
    assert c.kind == "skip" and "REGISTRY_TEST_MYSQL_URL" in c.detail and not c.required


def test_require_marks_the_engine() -> None:
    env = {"REGISTRY_TEST_REQUIRE": "sqlite, PostgreSQL,mysql"}
    assert dbsources.choose("postgresql", env, lambda: False).required
    assert dbsources.choose("sqlite", env, never).kind == "embedded"
    assert (
        dbsources.choose("mysql", {"REGISTRY_TEST_REQUIRE": "sqlite"}, lambda: False).required
        is False
    )


def test_unknown_required_engine_is_an_error() -> None:
    with pytest.raises(ValueError, match="oracle"):
        dbsources.required_engines({"REGISTRY_TEST_REQUIRE": "sqlite,oracle"})


def test_with_database_keeps_credentials_and_options() -> None:
    url = dbsources.with_database("mysql://root:pw@127.0.0.1:3306/test?x=1", "rc_test_1")
    assert url == "mysql://root:pw@127.0.0.1:3306/rc_test_1?x=1"


def test_required_engine_fails_instead_of_skipping() -> None:
    required = dbsources.choose("mysql", {"REGISTRY_TEST_REQUIRE": "mysql"}, lambda: False)
    with pytest.raises(pytest.fail.Exception, match="REGISTRY_TEST_REQUIRE"):
        dbsources.give_up(required, required.detail)
    optional = dbsources.choose("mysql", {}, lambda: False)
    with pytest.raises(pytest.skip.Exception, match="REGISTRY_TEST_MYSQL_URL"):
        dbsources.give_up(optional, optional.detail)


def test_own_container_ignores_the_url_and_needs_docker() -> None:
    env = {"REGISTRY_TEST_MARIADB_URL": "mysql://root@h/test", "REGISTRY_TEST_REQUIRE": "mariadb"}
    c = dbsources.choose_container("mariadb", env, lambda: True)
    assert (c.kind, c.detail, c.required) == ("container", "mariadb:11.8", True)
    c = dbsources.choose_container("mariadb", env, lambda: False)
    assert c.kind == "skip" and "Docker" in c.detail and c.required


def test_a_required_store_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dbsources.required_engines({"REGISTRY_TEST_REQUIRE": "sqlite,s3,azure"}) == {
        "sqlite",
        "s3",
        "azure",
    }
    monkeypatch.setenv("REGISTRY_TEST_REQUIRE", "azure")
    with pytest.raises(pytest.fail.Exception, match=r"REGISTRY_TEST_REQUIRE.*no Azurite"):
        dbsources.store_unavailable("azure", "no Azurite")
    with pytest.raises(pytest.skip.Exception, match="no moto"):
        dbsources.store_unavailable("s3", "no moto")
