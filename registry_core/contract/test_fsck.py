"""`ModelRegistry.verify()` and `registry-core fsck` on every database: missing and changed
files, orphans and stale staging files (only those older than the grace period), and repairs
that never touch a file a version points to."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from registry_core import (
    ArtifactMissingError,
    ChecksumMismatchError,
    ModelRegistry,
    ModelVersion,
    NotFoundError,
)
from registry_core.cli import EXIT_OK, EXIT_PROBLEMS, run
from registry_core.contract.stores import local_files
from registry_core.fsck import DEFAULT_GRACE, FileProblem
from registry_core.stores import MODELS, STAGING
from registry_core.testing.databases import SERVERS

OLD = 2 * 3600.0  # seconds: beyond the default grace period of one hour
assert OLD > DEFAULT_GRACE


def _age(path: Path, seconds: float) -> None:
    """Sets the modification time of `path` (not of a symlink's target) to `seconds` ago."""
    t = time.time() - seconds
    os.utime(path, (t, t), follow_symlinks=False)


def _write(path: Path, data: bytes, *, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if age:
        _age(path, age)
    return path


def _files(root: Path) -> set[str]:
    """Every file (or symlink) under models/ and .staging/, relative to the root."""
    return {
        p.relative_to(root).as_posix()
        for top in (root / MODELS, root / STAGING)
        if top.exists()
        for p in top.rglob("*")
        if p.is_file() or p.is_symlink()
    }


class CLI:
    """`registry-core fsck` against the test's database and artifact store."""

    def __init__(self, capsys: pytest.CaptureFixture[str], url: str, root: Path) -> None:
        self.capsys, self.url, self.root = capsys, url, root
        self.outputs: list[str] = []

    def __call__(self, *args: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = run(["fsck", "--url", self.url, "--artifacts", str(self.root), *args])
        out, err = self.capsys.readouterr()
        self.outputs.append(out + err)
        return code, out

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, out = self("--json", *args)
        data = json.loads(out)
        assert isinstance(data, dict)
        assert data["ok"] is (code == EXIT_OK)
        return code, data

    def assert_no_password(self) -> None:
        password = urlsplit(self.url).password
        if password:  # containers carry one; trust-auth URLs do not
            assert all(password not in o for o in self.outputs)


@pytest.fixture
def cli(registry: ModelRegistry, db_url: str, capsys: pytest.CaptureFixture[str]) -> CLI:
    return CLI(capsys, db_url, local_files(registry).root)


def _save_some(registry: ModelRegistry, tmp_path: Path) -> list[ModelVersion]:
    source = _write(tmp_path / "weights.bin", b"\x00\x01weights" * 100)
    return [
        registry.save_model({"w": [1, 2, 3]}, "alpha", metrics={"acc": 0.5}),
        registry.save_model({"w": [4, 5, 6]}, "alpha", tags={"stage": "prod"}),
        registry.save_model_file(source, "beta"),
        registry.save_model("tiny", "gamma \u00e9/..", parents=[("alpha", 1)]),
    ]


def _path(registry: ModelRegistry, v: ModelVersion) -> Path:
    return local_files(registry).absolute(v.storage_path)


@pytest.mark.registry_capabilities("lineage", "metrics")
def test_clean_registry(registry: ModelRegistry, tmp_path: Path, cli: CLI) -> None:
    empty = registry.verify()
    assert empty.ok and (empty.versions, empty.files, empty.bytes, empty.young) == (0, 0, 0, 0)

    versions = _save_some(registry, tmp_path)
    sizes = [_path(registry, v).stat().st_size for v in versions]
    assert sizes == [v.file_size_bytes for v in versions]
    for quick in (False, True):
        report = registry.verify(checksums=not quick)
        assert report.ok
        assert (report.versions, report.files, report.bytes) == (4, 4, sum(sizes))
        assert report.missing == [] and report.mismatched == [] and report.orphans == []
        assert report.stale_staging == [] and report.removed == [] and report.young == 0
        assert report.as_dict()["ok"] is True

    code, data = cli.json()
    assert code == EXIT_OK
    assert (data["ok"], data["versions"], data["files"], data["bytes"]) == (True, 4, 4, sum(sizes))
    assert data["missing"] == data["mismatched"] == data["orphans"] == data["removed"] == []
    code, data = cli.json("--repair", "--grace", "0")
    assert code == EXIT_OK and data["removed"] == []
    code, out = cli("--quick")
    assert code == EXIT_OK and "sizes only" in out and out.strip().endswith("ok")
    assert _files(local_files(registry).root) == {v.storage_path for v in versions}
    cli.assert_no_password()


@pytest.mark.registry_capabilities("lineage", "metrics")
def test_missing_file(registry: ModelRegistry, tmp_path: Path, cli: CLI) -> None:
    versions = _save_some(registry, tmp_path)
    gone = versions[1]
    path = _path(registry, gone)
    path.unlink()

    report = registry.verify()
    assert not report.ok
    assert report.missing == [FileProblem("alpha", "2", gone.storage_path, "missing")]
    assert report.mismatched == [] and report.orphans == []
    assert (report.versions, report.files) == (4, 3)

    with pytest.raises(ArtifactMissingError) as info:
        registry.load_model("alpha", 2)
    assert isinstance(info.value, NotFoundError)
    message = str(info.value)
    assert "version 2" in message and "'alpha'" in message and str(path) in message
    with pytest.raises(ArtifactMissingError):
        registry.model_path("alpha", 2)
    with pytest.raises(NotFoundError):
        registry.load_model("alpha")  # the latest is version 2
    assert registry.load_model("alpha", 1) == {"w": [1, 2, 3]}

    code, data = cli.json()
    assert code == EXIT_PROBLEMS and data["ok"] is False
    assert data["missing"] == [
        {"name": "alpha", "version": "2", "storage_path": gone.storage_path, "problem": "missing"}
    ]
    code, data = cli.json("--repair", "--grace", "0")  # nothing it may remove
    assert code == EXIT_PROBLEMS and data["removed"] == []
    code, out = cli()
    assert code == EXIT_PROBLEMS and f"MISSING   'alpha' version 2: {gone.storage_path}" in out
    assert "problems found" in out
    assert _files(local_files(registry).root) == {v.storage_path for v in versions} - {
        gone.storage_path
    }
    cli.assert_no_password()


@pytest.mark.registry_capabilities("lineage", "metrics")
def test_changed_file(registry: ModelRegistry, tmp_path: Path, cli: CLI) -> None:
    versions = _save_some(registry, tmp_path)
    target = versions[2]
    path = _path(registry, target)
    original = path.read_bytes()
    path.write_bytes(bytes(b ^ 0xFF for b in original))  # same size, other bytes

    report = registry.verify()
    assert not report.ok and report.missing == []
    [problem] = report.mismatched
    assert (problem.name, problem.version, problem.storage_path) == (
        "beta",
        "1",
        target.storage_path,
    )
    assert "sha256" in problem.problem
    assert registry.verify(checksums=False).ok  # sizes only: cannot see it
    with pytest.raises(ChecksumMismatchError):
        registry.model_path("beta", 1)
    code, data = cli.json()
    assert code == EXIT_PROBLEMS and "sha256" in data["mismatched"][0]["problem"]
    assert cli.json("--quick")[0] == EXIT_OK

    path.write_bytes(original + b"!")  # another size
    report = registry.verify(checksums=False)
    [problem] = report.mismatched
    assert problem.storage_path == target.storage_path and "size" in problem.problem
    assert str(len(original) + 1) in problem.problem and str(len(original)) in problem.problem
    assert "size" in registry.verify().mismatched[0].problem
    code, out = cli("--quick")
    assert code == EXIT_PROBLEMS and f"CHANGED   'beta' version 1: {target.storage_path}" in out

    path.write_bytes(original)
    assert registry.verify().ok and cli.json()[0] == EXIT_OK
    assert registry.model_path("beta", 1) == path
    cli.assert_no_password()


@dataclass
class Scene:
    """A registry with one missing file, one changed file, and debris old and new."""

    versions: list[ModelVersion]
    missing: ModelVersion
    changed: ModelVersion
    changed_bytes: bytes  # the file's original content
    old_orphans: set[str]
    young_orphans: set[str]
    old_staging: set[str]
    young_staging: set[str]
    outside: Path  # a file an orphan symlink points to: must survive every repair

    @property
    def referenced(self) -> set[str]:
        return {v.storage_path for v in self.versions} - {self.missing.storage_path}


def _scene(registry: ModelRegistry, tmp_path: Path) -> Scene:
    root = local_files(registry).root
    versions = _save_some(registry, tmp_path)
    for v in versions:  # old files a version points to: never debris, however old
        _age(_path(registry, v), OLD * 10)
    missing, changed = versions[1], versions[2]
    _path(registry, missing).unlink()
    changed_path = _path(registry, changed)
    changed_bytes = changed_path.read_bytes()
    changed_path.write_bytes(changed_bytes[::-1])
    _age(changed_path, OLD)

    beside = _path(registry, versions[0]).parent  # alpha's version-1 folder
    outside = _write(tmp_path / "outside" / "keep.bin", b"not the registry's")
    link = root / MODELS / "linked-0000000000000000" / "1" / "link-model.pkl"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    _age(link, OLD)
    old_orphans = {
        _write(beside / "0123456789ab-model.pkl", b"orphan beside a version", age=OLD),
        _write(root / MODELS / "ghost-0123456789abcdef" / "3" / "x-model.pkl", b"g", age=OLD),
        link,
    }
    young_orphans = {_write(root / MODELS / "fresh-0123456789abcdef" / "1" / "y.pkl", b"new")}
    old_staging = {_write(root / STAGING / "upload-dead.part", b"died", age=OLD)}
    young_staging = {_write(root / STAGING / "upload-live.part", b"in progress")}

    def rel(paths: set[Path]) -> set[str]:
        return {p.relative_to(root).as_posix() for p in paths}

    return Scene(
        versions,
        missing,
        changed,
        changed_bytes,
        rel(old_orphans),
        rel(young_orphans),
        rel(old_staging),
        rel(young_staging),
        outside,
    )


def _assert_versions_load(registry: ModelRegistry, s: Scene, *, fixed: bool = False) -> None:
    """Every version loads (verified), but the ones broken on purpose (unless `fixed`)."""
    for v in s.versions:
        if v == s.missing or (v == s.changed and not fixed):
            continue
        assert registry.model_path(v.name, v.version) == _path(registry, v)
        if v.storage_path.endswith(".pkl"):  # saved with save_model
            registry.load_model(v.name, v.version)


@pytest.mark.registry_capabilities("lineage")
def test_orphans_and_staging_respect_the_grace_period(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    s = _scene(registry, tmp_path)
    root = local_files(registry).root
    before = _files(root)

    report = registry.verify()
    assert not report.ok
    assert {f.path for f in report.orphans} == s.old_orphans
    assert {f.path for f in report.stale_staging} == s.old_staging
    assert report.young == len(s.young_orphans) + len(s.young_staging)
    assert [p.storage_path for p in report.missing] == [s.missing.storage_path]
    assert [p.storage_path for p in report.mismatched] == [s.changed.storage_path]
    assert report.removed == []
    assert report.files == len(s.referenced) + len(s.old_orphans) + len(s.young_orphans)
    sizes = {f.path: f.size for f in report.orphans + report.stale_staging}
    assert sizes[next(iter(s.old_staging))] == len(b"died")

    everything = registry.verify(grace=0)
    assert {f.path for f in everything.orphans} == s.old_orphans | s.young_orphans
    assert {f.path for f in everything.stale_staging} == s.old_staging | s.young_staging
    assert everything.young == 0
    assert _files(root) == before  # reporting removes nothing


@pytest.mark.registry_capabilities("lineage")
def test_verify_repair(registry: ModelRegistry, tmp_path: Path) -> None:
    s = _scene(registry, tmp_path)
    root = local_files(registry).root

    report = registry.verify(repair=True)
    assert sorted(report.removed) == sorted(s.old_orphans | s.old_staging)
    assert not report.ok  # the missing and the changed file remain
    assert _files(root) == s.referenced | s.young_orphans | s.young_staging
    assert s.outside.read_bytes() == b"not the registry's"  # the link went, not its target
    assert not (root / MODELS / "ghost-0123456789abcdef").exists()  # emptied folders go
    assert not (root / MODELS / "linked-0000000000000000").exists()
    assert (root / STAGING).is_dir()
    _assert_versions_load(registry, s)

    again = registry.verify(repair=True)
    assert again.removed == [] and again.orphans == [] and again.stale_staging == []
    assert again.young == len(s.young_orphans) + len(s.young_staging)
    assert [p.storage_path for p in again.missing] == [s.missing.storage_path]
    assert [p.storage_path for p in again.mismatched] == [s.changed.storage_path]

    everything = registry.verify(repair=True, grace=0)
    assert sorted(everything.removed) == sorted(s.young_orphans | s.young_staging)
    assert _files(root) == s.referenced
    _assert_versions_load(registry, s)


@pytest.mark.registry_capabilities("lineage")
def test_cli_repair(registry: ModelRegistry, tmp_path: Path, cli: CLI) -> None:
    s = _scene(registry, tmp_path)
    root = local_files(registry).root

    code, data = cli.json()  # report only
    assert code == EXIT_PROBLEMS
    assert {f["path"] for f in data["orphans"]} == s.old_orphans
    assert {f["path"] for f in data["stale_staging"]} == s.old_staging
    assert data["young"] == 2 and data["removed"] == []
    code, out = cli()
    assert code == EXIT_PROBLEMS
    assert all(f"ORPHAN    {p} " in out for p in s.old_orphans)
    assert "remove with --repair" in out and "2 unreferenced file(s) younger than" in out

    code, data = cli.json("--repair")
    assert code == EXIT_PROBLEMS  # the missing and the changed file are still there
    assert sorted(data["removed"]) == sorted(s.old_orphans | s.old_staging)
    assert _files(root) == s.referenced | s.young_orphans | s.young_staging
    assert s.outside.exists()
    _assert_versions_load(registry, s)
    code, data = cli.json("--repair")
    assert code == EXIT_PROBLEMS and data["removed"] == []

    # fix the problems by hand: put the changed bytes back (the missing file still counts),
    # then drop the version whose file is lost
    _path(registry, s.changed).write_bytes(s.changed_bytes)
    code, data = cli.json("--repair")
    assert code == EXIT_PROBLEMS and data["mismatched"] == [] and len(data["missing"]) == 1
    registry.delete_version(s.missing.name, s.missing.version)
    code, data = cli.json("--repair")
    assert code == EXIT_OK and data["removed"] == [] and data["young"] == 2

    code, data = cli.json("--grace", "0")  # the young files count as debris now
    assert code == EXIT_PROBLEMS
    assert {f["path"] for f in data["orphans"]} == s.young_orphans
    assert {f["path"] for f in data["stale_staging"]} == s.young_staging
    code, out = cli("--grace", "0", "--repair")
    assert code == EXIT_OK and out.strip().endswith("ok") and "removed" in out
    assert _files(root) == s.referenced
    code, data = cli.json("--grace", "0")
    assert code == EXIT_OK and data["young"] == 0
    _assert_versions_load(registry, s, fixed=True)
    assert registry.verify().ok
    cli.assert_no_password()


def test_cli_never_shows_the_password(
    registry: ModelRegistry, db_url: str, engine: str, cli: CLI
) -> None:
    registry.save_model(1, "m")
    assert cli()[0] == EXIT_OK
    assert cli.json("--quick")[0] == EXIT_OK
    cli.assert_no_password()
    if engine not in SERVERS:  # below: a server's URL
        return
    # an error path, with the test's password or (trust-auth servers) one made up: a database
    # that does not exist
    parts = urlsplit(db_url)
    password = parts.password or "rc-Fsck-Secret-4b7d"
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    missing = parts._replace(netloc=netloc, path="/rc_no_such_db").geturl()
    for args in ([], ["--json"], ["--repair", "--grace", "0"]):
        code = run(["fsck", "--url", missing, "--artifacts", str(cli.root), *args])
        out, err = cli.capsys.readouterr()
        assert code != EXIT_OK and code != EXIT_PROBLEMS
        assert password not in out + err
        assert ":***@" in out + err, out + err  # --json: the error object on stdout
    assert registry.verify().ok  # nothing touched
