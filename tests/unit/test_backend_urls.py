"""A registered backend owns its URLs: `connect()`, `open_backend()` and `copy_registry()`
hand every URL of its scheme to its `parse_url`, before anything else reads the URL."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import registry_core
from registry_core import InvalidInputError
from registry_core.backends.sqlite import SQLiteMetadataBackend
from registry_core.entrypoints import GROUP, backend_class, parse_backend_url
from registry_core.urls import DatabaseURL

SEEN: list[str] = []


class Acme(SQLiteMetadataBackend):
    """acme:///relative.db, acme:////abs/path.db: a form the built-in parser refuses."""

    name = "acme"

    @classmethod
    def parse_url(cls, url: str) -> DatabaseURL:
        SEEN.append(url)
        return DatabaseURL(scheme="acme", database=url.split("://", 1)[1][1:])


@pytest.fixture(autouse=True)
def acme_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    def entry_points(group: str) -> list[Any]:
        assert group == GROUP
        return [SimpleNamespace(name="acme", load=lambda: Acme)]

    monkeypatch.setattr("registry_core.entrypoints.entry_points", entry_points)
    SEEN.clear()


def test_the_builtin_parser_refuses_the_form() -> None:
    with pytest.raises(InvalidInputError, match="names no database"):
        registry_core.urls.parse_url("acme:////abs/x.db")


def test_open_backend_hands_the_url_to_its_backend(tmp_path: Path) -> None:
    url = f"acme:///{tmp_path}/x.db"
    with registry_core.open_backend(url) as backend:
        assert isinstance(backend, Acme)
        assert backend.url.database == f"{tmp_path}/x.db"
    assert [url] == SEEN
    assert parse_backend_url(url).database == f"{tmp_path}/x.db"


def test_connect_and_copy_take_the_backends_urls(tmp_path: Path) -> None:
    source, target = f"acme:///{tmp_path}/a.db", f"acme:///{tmp_path}/b.db"
    with registry_core.connect(source, artifacts=tmp_path / "a") as reg:
        reg.save_model({"w": 1}, "m")
    report = registry_core.copy_registry(
        source, target, source_artifacts=tmp_path / "a", target_artifacts=tmp_path / "b"
    )
    assert report.versions_copied == 1
    with registry_core.connect(target, artifacts=tmp_path / "b") as reg:
        assert reg.load_model("m") == {"w": 1}
    assert (tmp_path / "a.db").is_file() and (tmp_path / "b.db").is_file()
    assert source in SEEN and target in SEEN


def test_builtin_aliases_and_unknown_schemes() -> None:
    assert backend_class("postgres").__name__ == "PostgreSQLMetadataBackend"
    assert backend_class("mariadb").__name__ == "MySQLMetadataBackend"
    assert parse_backend_url("mariadb://u:pw@h/db").masked() == "mysql://u:***@h/db"
    with pytest.raises(InvalidInputError, match=r"no backend for URL scheme 'nope'.*acme"):
        registry_core.open_backend("nope:///x.db")
    with pytest.raises(InvalidInputError, match="a connection string looks like"):
        registry_core.open_backend("not a url")
