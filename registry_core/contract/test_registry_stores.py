"""Several registries beside each other (issue 16, points 4 and 5): each registry has a store of
its own by default and remembers where it is, a store names the registries whose files it keeps,
a store of another registry is refused unless sharing is asked for, and nothing that another
registry may reference is ever deleted. Registries made before 0.2 keep working in place."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import registry_core
from registry_core import InvalidInputError, ModelRegistry
from registry_core.cli import EXIT_OK, run
from registry_core.entrypoints import parse_backend_url
from registry_core.registry import artifact_store_for
from registry_core.stores import MARKER
from registry_core.stores.owners import owners
from registry_core.testing.databases import ENGINES
from registry_core.urls import ARTIFACTS_ENV


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test runs in a project folder of its own, with no $MODEL_REGISTRY_ARTIFACTS: the
    default stores (`./artifacts/...`, `<name>-artifacts/`) land there."""
    project = tmp_path / "proj"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)
    yield project


def _fsck_repair(url: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = run(["fsck", "--url", url, "--repair", "--grace", "0", "--json"])
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK, data
    return data


@pytest.mark.registry_engines("sqlite")  # a server database's default store is named by it
def test_two_sqlite_files_in_one_folder_keep_their_files_apart(
    engine: str, cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with registry_core.connect("sqlite:///dev.db") as dev:
        dev.save_model("dev", "m")
    with registry_core.connect("sqlite:///prod.db") as prod:
        prod.save_model("prod", "m")
        assert not prod.artifacts.same_place(dev.artifacts)
    _fsck_repair("sqlite:///dev.db", capsys)  # once: removed prod's file as an orphan
    with registry_core.connect("sqlite:///prod.db") as prod:
        assert prod.load_model("m") == "prod"
    assert (cwd / "dev-artifacts").is_dir() and (cwd / "prod-artifacts").is_dir()


@pytest.mark.registry_capabilities("sql")
@pytest.mark.registry_engines("postgresql")  # schemas: several registries in one database
def test_two_schemas_of_one_postgresql_database_keep_their_files_apart(
    engine: str, db_url: str, cwd: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        for schema in ("team_a", "team_b"):
            conn.execute(f"CREATE SCHEMA {schema}")
    urls = {s: f"{db_url}?options=-csearch_path%3D{s}" for s in ("team_a", "team_b")}
    for team, url in urls.items():
        with registry_core.connect(url) as reg:
            reg.save_model(team, "only")
    _fsck_repair(urls["team_a"], capsys)
    with registry_core.connect(urls["team_b"]) as b, registry_core.connect(urls["team_a"]) as a:
        assert b.load_model("only") == "team_b"  # once: lost to team_a's fsck --repair
        assert not a.artifacts.same_place(b.artifacts)
        assert a.database_stats().registry_id != b.database_stats().registry_id


def test_a_store_of_another_registry_is_refused_unless_shared(
    fresh_databases: Callable[[int], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "one-store"
    monkeypatch.setenv(ARTIFACTS_ENV, str(shared))
    first, second = fresh_databases(1), fresh_databases(2)
    with registry_core.connect(first) as a:
        a.save_model("a", "m")
        a_id = a.database_stats().registry_id
    assert owners(artifact_store_for(parse_backend_url(first), None)) == (a_id,)
    with pytest.raises(InvalidInputError, match="keeps the files of another registry"):
        registry_core.connect(second)
    with registry_core.connect(second, shared_artifacts=True) as b:
        kept = b.save_model("b", "m")
        b_id = b.database_stats().registry_id
        gone = b.save_model("gone", "n")
        b.delete_version("n", gone.version)  # in a shared store a delete keeps the file
    assert (shared / gone.storage_path).is_file()
    assert set(owners(artifact_store_for(parse_backend_url(first), None))) == {a_id, b_id}
    with registry_core.connect(first) as a:  # a is told the store is shared now
        report = a.verify(repair=True, grace=0)
        assert report.shared and report.others == 2 and not report.orphans
        assert report.ok and report.removed == []
    with registry_core.connect(second) as b:  # member of the store: no flag needed any more
        assert b.load_model("m", kept.version) == "b"


def test_the_default_store_does_not_depend_on_the_working_directory(
    db_url: str, cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = db_url  # SQLite: an absolute path already; servers: ./artifacts/... before 0.2
    with registry_core.connect(url) as reg:
        saved = reg.save_model({"w": 1}, "churn")
        where = reg.artifacts.location
    notebooks = cwd / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)
    with registry_core.connect(url) as reg:
        assert reg.load_model("churn") == {"w": 1}  # once: ArtifactMissingError
        assert reg.artifacts.location == where
        assert reg.backend.registry_identity()[1] == where
    assert Path(where).is_absolute() and (Path(where) / saved.storage_path).is_file()


def test_a_registry_and_store_made_before_0_2_upgrade_in_place(
    db_url: str, cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = registry_core.open_backend(db_url)
    backend.migrate(target="005")  # the schema of 0.1
    legacy = artifact_store_for(parse_backend_url(db_url), None)  # where 0.1 put the files
    old = ModelRegistry(backend, legacy)
    saved = old.save_model("before", "m")
    old.close()
    assert legacy.read_marker() is None
    with registry_core.connect(db_url) as reg:  # migrates; finds the files where they are
        assert reg.artifacts.same_place(legacy)
        assert reg.load_model("m") == "before"
        assert reg.backend.registry_identity()[1] is None  # nothing written by a read
        reg.save_model("after", "m")  # the first write marks and records the store
        identity = reg.database_stats().registry_id
        assert owners(legacy) == (identity,)
        assert reg.backend.registry_identity()[1] == legacy.location
    elsewhere = cwd / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with registry_core.connect(db_url) as reg:
        assert reg.load_model("m", saved.version) == "before"


@pytest.mark.registry_capabilities("lineage")
def test_a_marker_that_is_not_ours_is_an_error_naming_it(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    root = Path(registry.artifacts.location)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("not json")
    with pytest.raises(registry_core.ArtifactStoreError, match="not a registry-core marker"):
        registry.save_model(1, "m")
    assert registry.list_models() == []


@pytest.mark.registry_engines(*ENGINES)  # the built-in default stores
def test_a_new_registry_id_is_a_uuid_and_names_its_default_server_folder(
    engine: str, db_url: str, cwd: Path
) -> None:
    with registry_core.connect(db_url) as reg:
        rid = reg.database_stats().registry_id
        assert rid is not None and uuid.UUID(rid)
        location = Path(reg.artifacts.location)
    if engine == "sqlite":
        assert location.name == Path(parse_backend_url(db_url).database).stem + "-artifacts"
    else:
        assert location.parent == cwd / "artifacts" and location.name.endswith(rid[:8])
    assert os.path.isabs(location)
