"""Connecting: URLs, schema checks, and no password in any message or repr."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

import registry_core
from registry_core import (
    BackendUnavailableError,
    ModelRegistry,
    RegistryError,
    SchemaOutOfDateError,
)
from registry_core.testing.databases import SERVERS

SECRET = "s3cr3t-Pa55"


def test_migrate_false_on_an_empty_database_names_the_command(db_url: str, tmp_path: Path) -> None:
    with pytest.raises(SchemaOutOfDateError, match="registry-core migrate"):
        registry_core.connect(db_url, artifacts=tmp_path, migrate=False)
    registry_core.connect(db_url, artifacts=tmp_path).close()  # migrates
    with registry_core.connect(db_url, artifacts=tmp_path, migrate=False) as reg:
        assert reg.list_models() == []


def test_connect_twice_is_a_no_op_migration(db_url: str, tmp_path: Path) -> None:
    with registry_core.connect(db_url, artifacts=tmp_path) as reg:
        reg.save_model(1, "m")
    with registry_core.connect(db_url, artifacts=tmp_path) as reg:
        assert reg.backend.migrate() == []
        assert reg.load_model("m") == 1


def test_reprs_and_stats_hide_the_password(registry: ModelRegistry, db_url: str) -> None:
    """With containers the URL carries a password; with a trust-auth URL there is none."""
    password = urlsplit(db_url).password
    text = repr(registry) + repr(registry.backend) + str(registry.database_stats())
    if password:
        assert password not in text
        assert ":***@" in text


def test_closed_registry_refuses_work(registry: ModelRegistry) -> None:
    registry.close()
    with pytest.raises(BackendUnavailableError, match="closed"):
        registry.list_models()


# Server engines only: SQLite has no password and no server to be unreachable.
@pytest.mark.registry_engines(*SERVERS)
def test_wrong_password_error_never_shows_it(engine: str, db_url: str) -> None:
    parts = urlsplit(db_url)
    user = parts.username or "nobody"
    bad = parts._replace(netloc=f"{user}:{SECRET}@{parts.hostname}:{parts.port}").geturl()
    with pytest.raises(RegistryError) as info:
        # the local services trust loopback logins, so use a user that does not exist
        registry_core.connect(bad.replace(f"//{user}:", "//no_such_user_x:"))
    err = info.value
    assert isinstance(err, BackendUnavailableError)
    assert err.__cause__ is not None  # the driver's exception, chained
    assert SECRET not in str(err) and SECRET not in repr(err)
    assert "***" in str(err)


@pytest.mark.registry_engines(*SERVERS)
def test_unreachable_server_is_backend_unavailable(engine: str) -> None:
    scheme = engine  # mariadb:// is the mysql backend's scheme too
    url = f"{scheme}://u:{SECRET}@127.0.0.1:9/db?" + (
        "connect_timeout=2" if engine == "postgresql" else "connection_timeout=2"
    )
    with pytest.raises(BackendUnavailableError) as info:
        registry_core.connect(url)
    assert SECRET not in str(info.value)


@pytest.mark.registry_capabilities("sql")
def test_percent_signs_and_placeholders_in_literals(registry: ModelRegistry) -> None:
    q = registry.backend.query  # type: ignore[attr-defined]
    assert q("SELECT '50%', :x", {"x": 7}) == [("50%", 7)]
    assert q("SELECT '100%'") == [("100%",)]
    assert q("SELECT ':x is not a parameter', :y", {"y": "%s"}) == [(":x is not a parameter", "%s")]
