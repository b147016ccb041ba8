"""libpq's multi-host URLs (HA PostgreSQL: a primary and standbys, `target_session_attrs`)
parse, keep passwords masked, and name one stable default artifact folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import registry_core
from registry_core import InvalidInputError
from registry_core.urls import ARTIFACTS_ENV, default_artifacts, parse_url, server_folder

HA = "postgresql://alice:S3cret-pw@db1.example.com:5432,db2.example.com:5433/registry"


def test_a_multi_host_url_parses_every_host() -> None:
    u = parse_url(HA + "?target_session_attrs=read-write&connect_timeout=2")
    assert u.hosts == (("db1.example.com", 5432), ("db2.example.com", 5433))
    assert (u.host, u.port) == ("db1.example.com", 5432)  # the first
    assert u.database == "registry" and u.password == "S3cret-pw"
    assert u.options == {"target_session_attrs": "read-write", "connect_timeout": "2"}
    assert u.masked() == (
        "postgresql://alice:***@db1.example.com:5432,db2.example.com:5433/registry"
        "?target_session_attrs=read-write&connect_timeout=2"
    )
    assert "S3cret" not in repr(u) and "S3cret" not in str(u)


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("postgresql://u@h1,h2/db", (("h1", None), ("h2", None))),
        ("postgresql://u@h1:5000,h2/db", (("h1", 5000), ("h2", None))),
        ("postgresql://u@[::1]:5432,[fe80::2]/db", (("::1", 5432), ("fe80::2", None))),
        ("postgresql://h1:1,h2:2,h3:3/db", (("h1", 1), ("h2", 2), ("h3", 3))),
        ("postgresql://u@h:5432/db", (("h", 5432),)),
    ],
)
def test_host_lists(url: str, hosts: tuple[tuple[str, int | None], ...]) -> None:
    assert parse_url(url).hosts == hosts


@pytest.mark.parametrize(
    "bad",
    [
        "postgresql://u:secretpw@h1:5432,/db",
        "postgresql://u:secretpw@h1:5432,h2:port/db",
        "postgresql://u:secretpw@h1,h2:99999/db",
        "postgresql://u:secretpw@[::1,h2/db",
    ],
)
def test_bad_host_lists_never_echo_the_password(bad: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_url(bad)
    assert "secret" not in str(info.value)


def test_the_default_folder_of_a_cluster_is_stable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)
    one = server_folder(parse_url(HA))
    assert one == "postgresql-db1.example.com-5432-db2.example.com-5433-registry"
    # the same cluster written in another order, or with other options, is the same folder
    swapped = (
        "postgresql://bob@db2.example.com:5433,db1.example.com/registry?load_balance_hosts=random"
    )
    assert server_folder(parse_url(swapped)) == one
    assert default_artifacts(parse_url(HA), None) == Path("artifacts") / one
    assert "alice" not in one and "S3cret" not in one


def test_mysql_refuses_a_host_list() -> None:
    with pytest.raises(InvalidInputError, match="one host"):
        registry_core.open_backend("mysql://u:secretpw@h1:3306,h2:3306/db")
