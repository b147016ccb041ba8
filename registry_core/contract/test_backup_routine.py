"""Backup and restore as a routine (issue 17): a copy run every night follows the source's
changes, a restore keeps "latest" at the highest number, a renamed model stays one model, and
copies into one target may run side by side. Each test runs on pairs of engines in both roles
(`PAIRS`); the cycle test backs up, changes everything that can change, backs up again,
restores into a fresh database and compares it with the source field by field."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import registry_core
from registry_core import AlreadyExistsError, ModelRegistry
from registry_core.cli import EXIT_FAILED, EXIT_OK, run
from registry_core.sqlbackend import SQLMetadataBackend
from registry_core.testing.plugin import RegistryDatabases
from registry_core.transfer import CopyRefusedError, CopyReport

#: from each engine of the run to the next (sqlite -> postgresql -> mysql -> mariadb ->
#: sqlite with all four): every engine is a source and a target once
pairs = pytest.mark.contract_next_engine


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    """An artifact folder of its own for production, the backup and the restore."""
    return {side: tmp_path / f"{side}-artifacts" for side in ("prod", "backup", "restored")}


def _copy(src: str, dst: str, src_art: Path, dst_art: Path, **kw: Any) -> CopyReport:
    return registry_core.copy_registry(
        src, dst, source_artifacts=src_art, target_artifacts=dst_art, progress=False, **kw
    )


# -- 1. a change of a version's tag or description is no conflict --------------------------
@pytest.mark.registry_capabilities("aliases", "copy", "metrics", "model-tags")
@pairs
def test_a_backup_run_again_follows_tags_descriptions_and_fields(
    db_url: str, target_db_url: str, stores: dict[str, Path]
) -> None:
    prod_art, backup_art = stores["prod"], stores["backup"]
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.save_model(1, "churn", tags={"stage": "dev", "gone": "x"}, description="first")
        prod.save_model(2, "churn", metrics={"auc": 0.5})
        prod.save_model(3, "later")  # after churn in creation order
        prod.set_alias("churn", "champion", 1)
        prod.set_alias("churn", "old", 1)
    first = _copy(db_url, target_db_url, prod_art, backup_art)
    assert (first.models_copied, first.versions_copied) == (2, 3)

    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.set_tag("churn", 1, "stage", "prod")
        prod.delete_tag("churn", 1, "gone")
        prod.set_tag("churn", 2, "new", None)
        prod.update_version("churn", 1, description="described again")
        prod.update_version("churn", 2, description="now described")
        prod.update_model("churn", description="the churn model")
        prod.set_model_tag("churn", "team", "growth")
        prod.set_alias("churn", "champion", 2)
        prod.delete_alias("churn", "old")
        prod.save_model(4, "churn")
        prod.save_model(5, "later")
        expected = {n: (prod.get_model(n), prod.list_versions(n)) for n in ("churn", "later")}

    second = _copy(db_url, target_db_url, prod_art, backup_art)
    assert (second.models_copied, second.models_updated, second.models_present) == (0, 2, 0)
    assert (second.versions_copied, second.versions_updated, second.versions_present) == (2, 2, 1)
    assert second.aliases_updated == 2  # champion moved, old removed
    assert second.models_refused == 0 and second.refused == ()
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        assert {n: (backup.get_model(n), backup.list_versions(n)) for n in expected} == expected

    third = _copy(db_url, target_db_url, prod_art, backup_art)
    assert (third.models_present, third.versions_updated, third.aliases_updated) == (2, 0, 0)
    assert third.versions_copied == 0 and third.files_copied == 0


@pytest.mark.registry_capabilities("copy", "sql")
@pairs
def test_only_what_never_changes_is_a_conflict_and_other_models_go_on(
    db_url: str, target_db_url: str, stores: dict[str, Path], tmp_path: Path
) -> None:
    """A target version whose file record or creation time differs from the source's under
    the same number refuses that model (nothing of it written, the error names it); the
    models after it are still copied, and the error carries the copy's report."""
    prod_art, backup_art = stores["prod"], stores["backup"]
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.save_model(1, "churn")
        prod.save_model(1, "zeta")
    _copy(db_url, target_db_url, prod_art, backup_art)
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        backend = backup.backend
        assert isinstance(backend, SQLMetadataBackend)
        backend.execute("UPDATE mr_model_versions SET checksum = 'sha256:00' WHERE version = '1'")
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.set_tag("churn", 1, "stage", "prod")
        prod.save_model(2, "churn")
        prod.save_model(3, "after")  # created after both: still copied
    with pytest.raises(CopyRefusedError, match=r"version 1 of 'churn'.*checksum") as caught:
        _copy(db_url, target_db_url, prod_art, backup_art)
    assert isinstance(caught.value, AlreadyExistsError)
    report = caught.value.report
    assert report.models_refused == 2 and [r[0] for r in report.refused] == ["churn", "zeta"]
    assert report.models_copied == 1  # "after"
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        assert [v.version for v in backup.list_versions("churn")] == ["1"]
        assert backup.get_version("churn", 1).tags == {}
        assert [m.name for m in backup.list_models()] == ["after", "churn", "zeta"]


# -- 2. a restore keeps "latest" ---------------------------------------------------------------
@pytest.mark.registry_capabilities("copy", "search")
@pairs
def test_a_restore_keeps_the_highest_number_the_latest(
    db_url: str,
    target_db_url: str,
    stores: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    prod_art, backup_art = stores["prod"], stores["backup"]
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        for i in range(1, 4):
            prod.save_model(f"model {i}", "churn", tags={"i": str(i)})
    _copy(db_url, target_db_url, prod_art, backup_art)
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.delete_version("churn", 1)
    back = _copy(target_db_url, db_url, backup_art, prod_art)  # the restore
    assert back.versions_copied == 1 and back.files_copied == 1
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        assert [v.version for v in prod.list_versions("churn")] == ["1", "2", "3"]
        assert prod.get_version("churn").version == "3"
        assert prod.load_model("churn") == "model 3"
        assert [(v.name, v.version) for v in prod.latest_versions()] == [("churn", "3")]
        page = prod.search_versions("tags.i IS NOT NULL", order_by="version DESC", page_size=1)
        assert [v.version for v in page] == ["3"]
        assert prod.save_model("model 4", "churn").version == "4"
        assert prod.get_version("churn").version == "4"
    code = run(["--json", "ls", "--url", db_url])
    out, _ = capsys.readouterr()
    assert code == EXIT_OK
    assert [m["latest_version"] for m in json.loads(out)["models"]] == ["4"]


# -- 3. a rename is a rename; no two models share a file ---------------------------------------
@pytest.mark.registry_capabilities("copy", "model-tags")
@pairs
def test_a_rename_in_the_source_is_a_rename_in_the_backup(
    db_url: str, target_db_url: str, stores: dict[str, Path]
) -> None:
    prod_art, backup_art = stores["prod"], stores["backup"]
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.save_model("v1", "churn")
        prod.save_model("v2", "churn")
    _copy(db_url, target_db_url, prod_art, backup_art)
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.rename_model("churn", "churn-xgb")
        prod.save_model("v3", "churn-xgb")
        expected = prod.list_versions("churn-xgb")
    report = _copy(db_url, target_db_url, prod_art, backup_art)
    assert (report.models_copied, report.models_renamed, report.versions_copied) == (0, 1, 1)
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        assert [m.name for m in backup.list_models()] == ["churn-xgb"]
        assert backup.list_versions("churn-xgb") == expected
        backup.save_model("a new one", "churn")  # a new model under the old name
        backup.delete_model("churn")
        assert backup.load_model("churn-xgb", 1) == "v1"
        assert backup.verify().ok

    # a rename whose new name belongs to another model on the target is refused, naming
    # both names and what to do
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.rename_model("churn-xgb", "taken")
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        backup.save_model("mine", "taken")
    with pytest.raises(AlreadyExistsError, match=r"'taken'.*'churn-xgb'.*rename or delete"):
        _copy(db_url, target_db_url, prod_art, backup_art)
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        assert backup.load_model("taken") == "mine"
        assert [v.version for v in backup.list_versions("churn-xgb")] == ["1", "2", "3"]


@pytest.mark.registry_capabilities("copy", "model-tags", "sql")
@pairs
def test_no_delete_removes_a_file_another_model_references(
    db_url: str, target_db_url: str, stores: dict[str, Path]
) -> None:
    """A backup made before models kept their identity holds a renamed model twice, both
    pointing at the same files. Deleting one (model or version) keeps the files the other
    references; and a copy never makes a second model point at a file."""
    prod_art, backup_art = stores["prod"], stores["backup"]
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.save_model("v1", "churn")
        prod.save_model("v2", "churn")
    _copy(db_url, target_db_url, prod_art, backup_art)
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        backend = backup.backend
        assert isinstance(backend, SQLMetadataBackend)
        paths = [v.storage_path for v in backup.list_versions("churn")]
        backup.save_model("x", "churn-xgb")
        backup.save_model("x", "churn-xgb")
        for number, path in enumerate(paths, start=1):  # as the old copies left them
            backend.execute(
                "UPDATE mr_model_versions SET storage_path = :path, checksum = :checksum, "
                "file_size_bytes = :size WHERE version = :version AND model_id = "
                "(SELECT id FROM mr_models WHERE name = 'churn-xgb')",
                {
                    "path": path,
                    "version": str(number),
                    "checksum": backup.get_version("churn", number).checksum,
                    "size": backup.get_version("churn", number).file_size_bytes,
                },
            )
        backup.delete_version("churn", 1)
        backup.delete_model("churn")
        assert backup.load_model("churn-xgb", 1) == "v1"
        assert backup.load_model("churn-xgb", 2) == "v2"
        assert not backup.verify().missing

    # a copy whose new model would point at files another model of the target references
    # is refused, naming both
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.rename_model("churn", "other")
    with registry_core.open_backend(db_url) as source:
        (other,) = list(source.export_models(["other"]))
    with (
        registry_core.open_backend(target_db_url) as target,
        pytest.raises(AlreadyExistsError, match=r"'other'.*'churn-xgb'"),
    ):
        target.import_model(dataclasses.replace(other, uid="another-model"))


# -- 4. copies side by side ------------------------------------------------------------------
@pytest.mark.registry_capabilities("aliases", "copy", "metrics")
@pairs
def test_three_copies_into_one_target_at_once(
    db_url: str, target_db_url: str, stores: dict[str, Path]
) -> None:
    prod_art, backup_art = stores["prod"], stores["backup"]
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        for m in range(30):
            for v in range(3):
                prod.save_model(v, f"m{m:02d}", tags={"v": str(v)}, metrics={"v": v})
            prod.set_alias(f"m{m:02d}", "champion", 2)
        expected = {m.name: prod.list_versions(m.name) for m in prod.list_models()}
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def one_copy() -> None:
        try:
            start.wait()
            _copy(db_url, target_db_url, prod_art, backup_art)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one_copy) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        assert {m.name: backup.list_versions(m.name) for m in backup.list_models()} == expected
        assert backup.verify().ok
    again = _copy(db_url, target_db_url, prod_art, backup_art)
    assert again.models_present == 30


# -- dry run ---------------------------------------------------------------------------------
@pytest.mark.registry_capabilities("copy", "migrations", "model-tags", "sql")
@pairs
def test_a_dry_run_says_what_a_copy_would_do_and_writes_nothing(
    db_url: str,
    target_db_url: str,
    stores: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    prod_art, backup_art = stores["prod"], stores["backup"]
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.save_model(1, "churn", tags={"stage": "dev"})
        prod.save_model(2, "fraud")
    dry = _copy(db_url, target_db_url, prod_art, backup_art, dry_run=True)
    assert dry.dry_run and (dry.models_copied, dry.versions_copied, dry.files_copied) == (2, 2, 2)
    assert not backup_art.exists()
    with registry_core.open_backend(target_db_url) as target:
        assert target.migration_status().current is None  # not even migrated
    _copy(db_url, target_db_url, prod_art, backup_art)
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        prod.set_tag("churn", 1, "stage", "prod")
        prod.rename_model("fraud", "fraud-v2")
        prod.save_model(3, "churn")
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        before = {m.name: backup.list_versions(m.name) for m in backup.list_models()}
    files = sorted(p for p in backup_art.rglob("*") if p.is_file())

    code = run(["copy", db_url, target_db_url, "--source-artifacts", str(prod_art),
                "--target-artifacts", str(backup_art), "--dry-run"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    assert "dry run: nothing was written" in out
    assert "models:   0 copied, 2 updated (1 renamed), 0 already there, 0 refused" in out
    assert "versions: 1 copied, 1 updated, 1 already there" in out
    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        assert {m.name: backup.list_versions(m.name) for m in backup.list_models()} == before
    assert sorted(p for p in backup_art.rglob("*") if p.is_file()) == files

    with registry_core.connect(target_db_url, artifacts=backup_art) as backup:
        backend = backup.backend
        assert isinstance(backend, SQLMetadataBackend)
        backend.execute("UPDATE mr_model_versions SET created_at = '2000-01-01T00:00:00.000000Z'")
    code = run(["--json", "copy", db_url, target_db_url, "--source-artifacts", str(prod_art),
                "--target-artifacts", str(backup_art), "--dry-run"])  # fmt: skip
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert code == EXIT_OK and data["dry_run"] and data["models_refused"] == 2
    assert [r[0] for r in data["refused"]] == ["churn", "fraud-v2"]
    code = run(["copy", db_url, target_db_url, "--source-artifacts", str(prod_art),
                "--target-artifacts", str(backup_art)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == EXIT_FAILED and "2 refused" in out and "created_at" in err


# -- the cycle ---------------------------------------------------------------------------------
@pytest.fixture
def restore_url(
    engine: str, registry_databases: RegistryDatabases, tmp_path: Path
) -> Iterator[str]:
    """A third empty database, on the source's engine: where the backup is restored."""
    with registry_databases.database(engine, tmp_path / "restored") as url:
        yield url


def _production(reg: ModelRegistry) -> None:
    """Three models with tags, metrics, lineage, aliases, model tags."""
    for i in range(1, 5):
        reg.save_model(
            f"churn {i}",
            "churn",
            description=f"churn v{i}",
            tags={"stage": "dev", "i": str(i)},
            metrics={"auc": 0.5 + i / 100},
        )
    reg.set_alias("churn", "champion", 3)
    reg.set_alias("churn", "canary", 4)
    reg.set_model_tag("churn", "team", "growth")
    reg.save_model("fraud 1", "fraud", parents=[("churn", "3")])
    reg.save_model("fraud 2", "fraud", tags={"k": None})
    reg.save_model("ltv 1", "ltv")
    reg.save_model("ltv 2", "ltv", parents=[("fraud", "1")])


def _changes(reg: ModelRegistry) -> None:
    """What a day in production changes: tags, descriptions, aliases, a rename, deleted
    versions (not the latest), new versions and a new model."""
    reg.set_tag("churn", 3, "stage", "prod")
    reg.delete_tag("churn", 1, "stage")
    reg.update_version("churn", 2, description=None)
    reg.update_version("fraud", 2, description="now described")
    reg.update_model("fraud", description="fraud detection")
    reg.set_model_tag("churn", "team", "retention")
    reg.set_model_tag("fraud", "owner", "risk")
    reg.set_alias("churn", "champion", 4)
    reg.delete_alias("churn", "canary")
    reg.set_alias("fraud", "champion", 2)
    reg.rename_model("ltv", "ltv-xgb")
    reg.delete_version("churn", 1)
    reg.delete_version("fraud", 1)
    reg.save_model("churn 5", "churn", tags={"stage": "candidate"}, parents=[("ltv-xgb", "2")])
    reg.save_model("new 1", "new-model", metrics={"loss": 0.25})


def _as_seen(reg: ModelRegistry) -> dict[str, Any]:
    """What the API says of every model: fields, versions, latest, aliases, lineage, files,
    and the number the next save would get (read without saving)."""
    out: dict[str, Any] = {"latest": reg.latest_versions(), "models": reg.list_models()}
    for m in reg.list_models():
        versions = reg.list_versions(m.name)
        out[m.name] = {
            "model": reg.get_model(m.name),
            "versions": {v.version: v for v in versions},
            "latest": reg.get_version(m.name),
            "loaded": reg.load_model(m.name),
            "aliases": {a: reg.get_version(m.name, alias=a) for v in versions for a in v.aliases},
            "lineage": {
                v.version: [(p.name, p.version) for p in reg.lineage(m.name, v.version)]
                for v in versions
            },
        }
    return out


@pytest.mark.registry_capabilities("aliases", "copy", "lineage", "metrics", "model-tags")
@pairs
def test_the_backup_cycle_restores_what_the_source_has(
    db_url: str, target_db_url: str, restore_url: str, stores: dict[str, Path]
) -> None:
    prod_art, backup_art, restored_art = stores["prod"], stores["backup"], stores["restored"]
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        _production(prod)
        deleted = {
            ("churn", "1"): prod.get_version("churn", 1),
            ("fraud", "1"): prod.get_version("fraud", 1),
        }
    _copy(db_url, target_db_url, prod_art, backup_art)
    with registry_core.connect(db_url, artifacts=prod_art) as prod:
        _changes(prod)
        source = _as_seen(prod)
    report = _copy(db_url, target_db_url, prod_art, backup_art)
    print("copy report of the second backup:", json.dumps(report.as_dict(), indent=1))
    assert report.models_renamed == 1 and report.models_refused == 0
    assert (report.models_copied, report.models_updated) == (1, 3)
    assert report.versions_copied == 2 and report.versions_updated == 3

    restore = _copy(target_db_url, restore_url, backup_art, restored_art)
    assert restore.models_copied == 4 and restore.versions_copied == 10

    with registry_core.connect(restore_url, artifacts=restored_art) as restored:
        seen = _as_seen(restored)
        assert seen["models"] == source["models"]
        assert seen["latest"] == source["latest"]
        for m in source["models"]:
            mine, theirs = seen[m.name], source[m.name]
            for key in ("model", "latest", "loaded", "aliases"):
                assert mine[key] == theirs[key], (m.name, key)
            # the versions deleted since the first backup come back (a backup keeps them),
            # as they were; every other version is the source's, field by field
            kept = {n: v for n, v in mine["versions"].items() if n not in theirs["versions"]}
            assert kept == {n: v for (name, n), v in deleted.items() if name == m.name}
            for number, version in theirs["versions"].items():
                assert mine["versions"][number] == version, (m.name, number)
                # an edge to a version deleted in the source stays, with that version: the
                # ancestors through it come along
                ancestors = mine["lineage"][number]
                if any(a in deleted for a in ancestors):
                    assert set(theirs["lineage"][number]) < set(ancestors), (m.name, number)
                else:
                    assert ancestors == theirs["lineage"][number], (m.name, number)
        for name in ("churn", "fraud", "ltv-xgb", "new-model"):
            with registry_core.connect(db_url, artifacts=prod_art) as prod:
                assert restored.save_model(0, name).version == prod.save_model(0, name).version
        assert restored.verify().ok


# -- a process opened before schema 007 ----------------------------------------------------------
@pytest.mark.registry_capabilities("copy", "model-tags", "sql")
def test_a_process_opened_before_schema_007_leaves_no_wrong_data(
    db_url: str, tmp_path: Path
) -> None:
    """A registry whose queries were rendered at schema 006 keeps saving while another
    process applies 007: the numbers it writes are right in the new column (the database
    computes them), the models it creates have an identity (derived from their row, the same
    at every export), and a copy follows their renames."""
    from registry_core.stores import open_store

    old_backend = registry_core.open_backend(db_url)
    old_backend.migrate(target="006")
    old = ModelRegistry(old_backend, open_store(str(tmp_path / "art")))
    backup, backup_art = f"sqlite:///{tmp_path / 'backup.db'}", tmp_path / "backup-art"
    try:
        old.save_model("a1", "a")
        with registry_core.open_backend(db_url) as upgrader:
            assert upgrader.migrate(target="007") == ["007"]
        for i in range(2, 12):  # 10 after 9: numbers, not text
            old.save_model(f"a{i}", "a")
        old.save_model("b1", "b")  # a model created at 006: no uid written
        assert isinstance(old_backend, SQLMetadataBackend) and old_backend.queries.level == 6
        with registry_core.open_backend(db_url) as new:
            assert isinstance(new, SQLMetadataBackend)
            rows = new.query("SELECT version, version_number FROM mr_model_versions")
            assert sorted(int(v) for v, _ in rows) == sorted(int(n) for _, n in rows)
            assert new.query("SELECT uid FROM mr_models WHERE name = 'b'") == [(None,)]
            assert new.get_version("a").version == "11"
            uids = [
                {m.name: m.uid for m in new.export_models()} for _ in range(2)
            ]  # derived, stable
            assert uids[0] == uids[1] and None not in uids[0].values()
        _copy(db_url, backup, tmp_path / "art", backup_art)
        old.rename_model("b", "b-renamed")
        report = _copy(db_url, backup, tmp_path / "art", backup_art)
        assert report.models_renamed == 1 and report.models_copied == 0
        with registry_core.connect(backup, artifacts=backup_art) as copy:
            assert [m.name for m in copy.list_models()] == ["a", "b-renamed"]
            assert copy.get_version("a").version == "11"
    finally:
        old.close()
