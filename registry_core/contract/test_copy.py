"""Moving a registry (SPEC section 8): copy_registry on every ordered pair of engines, compared
field by field through the public API; re-runs, conflicts, selections, corrupt files and the
`registry-core copy` command."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import registry_core
from registry_core import (
    AlreadyExistsError,
    ChecksumMismatchError,
    CopyProgress,
    ModelRegistry,
    NotFoundError,
)
from registry_core.cli import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, run
from registry_core.contract.stores import Store, local_files
from registry_core.entrypoints import parse_backend_url
from registry_core.sqlbackend import SQLMetadataBackend

UNICODE = "modèle-ü 🚀 "  # accents, an emoji and a trailing space


def _build(reg: ModelRegistry, files: Path) -> None:
    """A registry that exercises every field: gaps in numbers, a counter past the last
    version, deleted versions, NULL descriptions and tag values, unicode, metrics, model tags,
    lineage within and across models (also to a model created later), moved aliases, files of
    several sizes (one empty)."""
    files.mkdir(exist_ok=True)
    # alpha: versions 1..6, 2 and 6 deleted (the next save is 7)
    for i in range(1, 7):
        reg.save_model(
            {"alpha": i},
            "alpha",
            description=None if i % 2 else f"alpha v{i} ✓",
            tags={"stage": "dev" if i < 4 else "prod", "note": None, "i": str(i)},
            metrics={"auc": 0.1 * i + 0.2, "loss": -1e-300 * i, "big": 1.7976931348623157e308},
        )
    reg.delete_version("alpha", 2)
    reg.delete_version("alpha", 6)
    reg.update_model("alpha", description="the first model\nwith two lines")
    reg.set_model_tag("alpha", "team", "growth")
    reg.set_model_tag("alpha", "empty", None)
    reg.set_alias("alpha", "champion", 3)
    reg.set_alias("alpha", "champion", 5)  # moved
    reg.set_alias("alpha", "challenger", 3)
    # a model whose name is unicode, with files of its own (one empty) and lineage to alpha
    big = files / "weights.bin"
    big.write_bytes(os.urandom(300_000))
    empty = files / "empty.txt"
    empty.write_bytes(b"")
    reg.save_model_file(big, UNICODE, tags={"ключ": "значение"}, parents=[("alpha", "3")])
    reg.save_model_file(empty, UNICODE, parents=[("alpha", "5"), (UNICODE, "1")])
    reg.set_tag(UNICODE, 2, "late", "set after the save")
    reg.update_version(UNICODE, 1, description="described later")
    # zeta, created after alpha; alpha's next version derives from it: an edge to a model
    # that a copy in creation order reaches later
    reg.save_model("z", "zeta", metrics={"auc": 0.5})
    reg.save_model({"alpha": 7}, "alpha", parents=[("zeta", "1"), ("alpha", "5")])
    # a model with no versions left (its counter stays at 1)
    reg.save_model("gone", "empty-model")
    reg.delete_version("empty-model", 1)


def _snapshot(reg: ModelRegistry) -> dict[str, Any]:
    """Everything the public API says about the registry, file bytes included."""
    out: dict[str, Any] = {"models": reg.list_models(), "latest": reg.latest_versions()}
    for m in reg.list_models():
        versions = reg.list_versions(m.name)
        out[m.name] = versions
        for v in versions:
            key = f"{m.name}@{v.version}"
            out[key + " ancestors"] = [(a.name, a.version) for a in reg.lineage(m.name, v.version)]
            out[key + " descendants"] = [
                (a.name, a.version) for a in reg.lineage(m.name, v.version, direction="descendants")
            ]
            out[key + " bytes"] = reg.model_path(m.name, v.version).read_bytes()
        for v in versions:
            for alias in v.aliases:
                out[f"{m.name}#{alias}"] = reg.get_version(m.name, alias=alias).version
    stats = reg.stats()
    out["stats"] = (stats.total_models, stats.total_versions, stats.total_size_bytes)
    return out


@pytest.mark.registry_capabilities("aliases", "copy", "lineage", "metrics", "model-tags")
@pytest.mark.registry_pooled  # also through a pooler (registry-core's run: PgBouncer)
def test_a_copy_is_lossless_on_every_pair_of_engines(
    db_url: str, target_db_url: str, tmp_path: Path
) -> None:
    src_art, dst_art = tmp_path / "src-artifacts", tmp_path / "dst-artifacts"
    with registry_core.connect(db_url, artifacts=src_art) as source:
        _build(source, tmp_path / "files")
        before = _snapshot(source)
    seen: list[CopyProgress] = []
    report = registry_core.copy_registry(
        db_url,
        target_db_url,
        source_artifacts=src_art,
        target_artifacts=dst_art,
        progress=seen.append,
    )
    assert (report.models_copied, report.models_updated, report.models_present) == (4, 0, 0)
    assert report.versions_copied == 8 and report.versions_present == 0
    assert report.files_copied == 8 and report.files_skipped == 0
    assert report.bytes_copied == before["stats"][2]
    assert report.edges_copied == 5 and report.edges_skipped == 0
    assert seen[-1].models_done == seen[-1].models_total == 4
    assert seen[-1].versions_done == seen[-1].versions_total == 8
    assert seen[-1].bytes_done == seen[-1].bytes_total == before["stats"][2]

    with registry_core.connect(target_db_url, artifacts=dst_art) as target:
        after = _snapshot(target)
        assert after.keys() == before.keys()
        for key, value in before.items():
            assert after[key] == value, key
        assert target.verify().ok

    # run again: nothing to write
    again = registry_core.copy_registry(
        db_url, target_db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
    )
    assert (again.models_copied, again.models_updated, again.models_present) == (0, 0, 4)
    assert (again.versions_copied, again.versions_present) == (0, 8)
    assert (again.files_copied, again.bytes_copied, again.edges_copied) == (0, 0, 0)

    # each model's counter came along: the next save gets the same number on both sides
    with (
        registry_core.connect(db_url, artifacts=src_art) as source,
        registry_core.connect(target_db_url, artifacts=dst_art) as target,
    ):
        for name in ("alpha", UNICODE, "zeta", "empty-model"):
            assert source.save_model(1, name).version == target.save_model(1, name).version
        assert target.get_version("alpha").version == "8"
        assert target.get_version("empty-model").version == "2"


@pytest.fixture
def sqlite_source(tmp_path: Path) -> tuple[str, Path]:
    """A SQLite registry file as the source of a copy to the engine under test."""
    return f"sqlite:///{tmp_path / 'source.db'}", tmp_path / "source-artifacts"


@pytest.mark.registry_capabilities("aliases", "copy", "sql")
def test_a_conflicting_target_version_writes_nothing_of_that_model(
    db_url: str, sqlite_source: tuple[str, Path], tmp_path: Path
) -> None:
    src, src_art = sqlite_source
    dst_art = tmp_path / "dst-artifacts"
    with registry_core.connect(src, artifacts=src_art) as source:
        source.save_model(1, "a")
        source.save_model(1, "m")
        source.save_model(2, "m")
    registry_core.copy_registry(
        src, db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
    )
    with registry_core.connect(db_url, artifacts=dst_art) as target:
        target.set_tag("m", 2, "changed", "on the target")  # what can change: no conflict
        backend = target.backend
        assert isinstance(backend, SQLMetadataBackend)
        backend.execute(  # what never changes: another file under the same number
            "UPDATE mr_model_versions SET file_size_bytes = 1 WHERE version = '2' AND "
            "model_id = (SELECT id FROM mr_models WHERE name = 'm')"
        )
    with registry_core.connect(src, artifacts=src_art) as source:
        source.save_model(3, "m", tags={"new": "yes"})
        source.set_alias("m", "champion", 3)
        source.save_model(2, "a")  # before m in creation order: copied
    files_before = sorted(p.name for p in dst_art.rglob("*") if p.is_file())

    with pytest.raises(AlreadyExistsError, match=r"version 2 of 'm'.*file_size_bytes"):
        registry_core.copy_registry(
            src, db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
        )
    with registry_core.connect(db_url, artifacts=dst_art) as target:
        assert [v.version for v in target.list_versions("m")] == ["1", "2"]
        assert target.get_version("m", 2).tags == {"changed": "on the target"}
        assert [v.version for v in target.list_versions("a")] == ["1", "2"]
        new_files = sorted(p.name for p in dst_art.rglob("*") if p.is_file())
        a2 = Path(target.get_version("a", 2).storage_path).name
        assert sorted([*files_before, a2]) == new_files  # m's version 3 left no file
        with pytest.raises(NotFoundError):
            target.get_version("m", alias="champion")

    # another model of the same name (its own creation time) is refused as a whole
    with registry_core.connect(src, artifacts=src_art) as source:
        source.save_model(1, "b")
    with registry_core.connect(db_url, artifacts=dst_art) as target:
        target.delete_model("m")
        target.save_model("mine", "b")
    with pytest.raises(AlreadyExistsError, match=r"model 'b' exists here"):
        registry_core.copy_registry(
            src, db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
        )
    with registry_core.connect(db_url, artifacts=dst_art) as target:
        assert [v.version for v in target.list_versions("b")] == ["1"]
        assert target.load_model("b") == "mine"


@pytest.mark.registry_capabilities("copy", "lineage")
def test_a_selection_of_models_and_lineage_to_the_rest(db_url: str, tmp_path: Path) -> None:
    src_art, dst_art = tmp_path / "src-artifacts", tmp_path / "dst-artifacts"
    dst = f"sqlite:///{tmp_path / 'target.db'}"
    with registry_core.connect(db_url, artifacts=src_art) as source:
        source.save_model(1, "a")
        source.save_model(2, "b", parents=[("a", "1")])
        source.save_model(3, "c")
        with pytest.raises(NotFoundError, match="nope"):
            registry_core.copy_registry(
                db_url, dst, source_artifacts=src_art, target_artifacts=dst_art,
                models=["b", "nope"], progress=False,
            )  # fmt: skip
        with registry_core.connect(dst, artifacts=dst_art) as target:
            assert target.list_models() == []

        report = registry_core.copy_registry(
            db_url, dst, source_artifacts=src_art, target_artifacts=dst_art, models=["b"],
            progress=False,
        )  # fmt: skip
        assert (report.models_copied, report.versions_copied, report.edges_skipped) == (1, 1, 1)
        assert report.skipped_edges == (("b", "1", "a", "1"),)
        with registry_core.connect(dst, artifacts=dst_art) as target:
            assert [m.name for m in target.list_models()] == ["b"]
            assert target.lineage("b", 1) == []

        report = registry_core.copy_registry(
            db_url, dst, source_artifacts=src_art, target_artifacts=dst_art, models=["a", "b"],
            progress=False,
        )  # fmt: skip
        assert (report.models_copied, report.models_updated, report.models_present) == (1, 1, 0)
        assert (report.edges_copied, report.edges_skipped) == (1, 0)
        with registry_core.connect(dst, artifacts=dst_art) as target:
            assert [m.name for m in target.list_models()] == ["a", "b"]
            assert target.lineage("b", 1) == source.lineage("b", 1)
            assert target.list_versions("b") == source.list_versions("b")


@pytest.mark.registry_capabilities("copy")
def test_a_corrupt_source_file_commits_nothing_of_its_model(
    db_url: str, sqlite_source: tuple[str, Path], tmp_path: Path
) -> None:
    src, src_art = sqlite_source
    dst_art = tmp_path / "dst-artifacts"
    with registry_core.connect(src, artifacts=src_art) as source:
        source.save_model("fine", "a")
        first = source.save_model(list(range(100)), "m")
        bad = source.save_model(list(range(200)), "m")
        source.save_model("after", "z")
        path = local_files(source).absolute(bad.storage_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))

    with pytest.raises(ChecksumMismatchError, match="sha256"):
        registry_core.copy_registry(
            src, db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
        )
    with registry_core.connect(db_url, artifacts=dst_art) as target:
        assert [m.name for m in target.list_models()] == ["a"]
        # the bad file never lands; m's first file (copied before it) stays as an orphan
        # (another copy may have committed a version pointing to it), which a repair removes
        assert not local_files(target).absolute(bad.storage_path).exists()
        found = target.verify(grace=0)
        assert not (found.missing or found.mismatched)
        assert [f.path for f in found.orphans] == [first.storage_path]
        assert target.verify(grace=0, repair=True).removed == [first.storage_path]
        assert target.verify().ok


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.registry_capabilities("copy")
def test_the_copy_command(
    db_url: str, sqlite_source: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, src_art = sqlite_source
    dst_art = str(tmp_path / "dst-artifacts")
    with registry_core.connect(src, artifacts=src_art) as source:
        source.save_model(1, "a", tags={"k": "v"})
        source.save_model(2, "a")
    arts = ["--source-artifacts", str(src_art), "--target-artifacts", dst_art]

    code, out, err = _cli(capsys, "copy", src, db_url, *arts)
    assert code == EXIT_OK, err
    assert "models:   1 copied, 0 updated, 0 already there, 0 refused" in out
    assert "versions: 2 copied, 0 updated, 0 already there" in out
    assert err == ""  # stderr is no terminal here: no bar

    code, out, err = _cli(capsys, "copy", src, db_url, *arts, "--json")
    data = json.loads(out)
    assert code == EXIT_OK
    assert data["models_present"] == 1 and data["versions_copied"] == 0
    assert data["target"] == parse_backend_url(db_url).masked()
    password = urlsplit(db_url).password
    if password:  # the servers of containers have one
        assert password not in out + err and "***" in data["target"]

    code, out, _ = _cli(capsys, "copy", src, db_url, *arts, "--model", "nope", "--json")
    assert code == EXIT_NOT_FOUND and json.loads(out)["error"]["type"] == "NotFoundError"

    with registry_core.connect(db_url, artifacts=dst_art) as target:
        target.set_tag("a", 1, "k", "other")  # the source's value comes back
    code, out, err = _cli(capsys, "copy", src, db_url, *arts)
    assert code == EXIT_OK and "versions: 0 copied, 1 updated, 1 already there" in out
    with registry_core.connect(db_url, artifacts=dst_art) as target:
        assert target.get_version("a", 1).tags == {"k": "v"}
        target.delete_model("a")
        target.save_model("mine", "a")  # another model of the same name
    code, out, err = _cli(capsys, "copy", src, db_url, *arts)
    assert code == EXIT_FAILED and "model 'a' exists here" in err and "1 refused" in out


@pytest.mark.registry_capabilities("aliases", "copy", "lineage", "metrics")
@pytest.mark.registry_pooled  # also through a pooler (registry-core's run: PgBouncer)
def test_a_copy_taken_while_others_save_holds_each_version_whole(
    db_url: str, tmp_path: Path
) -> None:
    """A thread saves versions (tags, metrics, lineage, an alias moved to each) into the
    source while it is copied: every version the target got is whole, its alias points into
    the copy, and its counter is past every number it holds."""
    src_art, dst_art = tmp_path / "src-artifacts", tmp_path / "dst-artifacts"
    dst = f"sqlite:///{tmp_path / 'target' / 'target.db'}"
    with registry_core.connect(db_url, artifacts=src_art) as source:
        for i in range(30):  # something to copy before the busy model
            source.save_model(i, f"m{i:02d}", tags={"i": str(i)})
        source.save_model(0, "busy")
    stop = threading.Event()
    errors: list[BaseException] = []

    def saver() -> None:
        try:
            with registry_core.connect(db_url, artifacts=src_art) as reg:
                n = 1
                while not stop.is_set():
                    n += 1
                    v = reg.save_model(
                        n,
                        "busy",
                        tags={f"t{k}": str(n) for k in range(8)},
                        metrics={f"x{k}": n + k / 10 for k in range(4)},
                        parents=[("busy", str(n - 1))],
                    )
                    reg.set_alias("busy", "newest", v.version)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=saver)
    thread.start()
    try:
        for _ in range(5):
            time.sleep(0.05)
            registry_core.copy_registry(
                db_url, dst, source_artifacts=src_art, target_artifacts=dst_art, progress=False
            )
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    with (
        registry_core.connect(db_url, artifacts=src_art) as source,
        registry_core.connect(dst, artifacts=dst_art) as target,
    ):
        copied = target.list_versions("busy")
        assert len(copied) > 1
        originals = {v.version: v for v in source.list_versions("busy")}
        for v in copied:
            assert v == originals[v.version] or (
                v.aliases != originals[v.version].aliases  # the alias moved on since
                and v == dataclasses.replace(originals[v.version], aliases=v.aliases)
            )
            if v.version != "1":
                parent = target.lineage("busy", v.version)[0]
                assert (parent.name, parent.version) == ("busy", str(int(v.version) - 1))
        # the alias moves in its own transaction after each save: a snapshot may fall between
        newest = target.get_version("busy", alias="newest")
        assert newest.version in (copied[-1].version, copied[-2].version)
        assert int(target.save_model("x", "busy").version) == int(copied[-1].version) + 1


@pytest.mark.registry_capabilities("aliases", "copy", "lineage", "metrics", "migrations")
def test_a_source_at_an_older_schema_is_read_as_it_is(db_url: str, tmp_path: Path) -> None:
    """The source is never migrated: at schema 003 (no aliases, no model tags) it is copied
    with what it has, and stays at 003."""
    src_art, dst_art = tmp_path / "src-artifacts", tmp_path / "dst-artifacts"
    dst = f"sqlite:///{tmp_path / 'target' / 'target.db'}"
    with registry_core.connect(db_url, artifacts=src_art) as source:
        source.save_model(1, "a", tags={"k": None}, metrics={"auc": 0.25})
        source.save_model(2, "b", parents=[("a", "1")])
        source.backend.downgrade("003")
    report = registry_core.copy_registry(
        db_url, dst, source_artifacts=src_art, target_artifacts=dst_art, progress=False
    )
    assert (report.models_copied, report.versions_copied, report.edges_copied) == (2, 2, 1)
    with registry_core.open_backend(db_url) as backend:
        assert backend.migration_status().current == "003"
        old = {name: backend.list_versions(name) for name in ("a", "b")}
    with registry_core.connect(dst, artifacts=dst_art) as target:
        assert target.backend.migration_status().up_to_date
        assert {name: target.list_versions(name) for name in ("a", "b")} == old
        assert [(v.name, v.version) for v in target.lineage("b", 1)] == [("a", "1")]


@pytest.mark.registry_capabilities("aliases", "copy", "lineage", "metrics", "model-tags")
@pytest.mark.stores
def test_a_copy_moves_files_between_kinds_of_store(
    registry: ModelRegistry, db_url: str, store: Store, tmp_path: Path
) -> None:
    """From the test's store (a folder, memory://, S3, Azure) to a local folder, and from
    there into a fresh registry on the test's kind of store again: the same registry at the
    end, every file verified on the way."""
    _build(registry, tmp_path / "files")
    before = _snapshot(registry)
    middle_url, middle_art = f"sqlite:///{tmp_path / 'middle.db'}", tmp_path / "middle-artifacts"
    report = registry_core.copy_registry(
        db_url,
        middle_url,
        source_artifacts=store.artifacts,
        source_storage_options=store.storage_options,
        target_artifacts=middle_art,
        progress=False,
    )
    assert report.files_copied == 8 and not report.shared_artifacts
    final_url = f"sqlite:///{tmp_path / 'final.db'}"
    back = store.artifacts.rstrip("/") + "-copy"
    registry_core.copy_registry(
        middle_url,
        final_url,
        source_artifacts=middle_art,
        target_artifacts=back,
        target_storage_options=store.storage_options,
        progress=False,
    )
    for url, artifacts, options in (
        (middle_url, str(middle_art), None),
        (final_url, back, store.storage_options),
    ):
        with registry_core.connect(url, artifacts=artifacts, storage_options=options) as reg:
            after = _snapshot(reg)
            assert after.keys() == before.keys()
            for key, value in before.items():
                assert after[key] == value, key
            assert reg.verify().ok
