"""Choosing an artifact store from a path or URL, without a database: unknown schemes, missing
extras, credentials in URLs, the default folder of each database, masking in reprs."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from registry_core import InvalidInputError, MissingDriverError
from registry_core.registry import artifact_store_for
from registry_core.stores import LocalArtifactStore, open_store
from registry_core.stores.remote import FsspecArtifactStore, _mtime
from registry_core.urls import ARTIFACTS_ENV, default_artifacts, parse_url

SERVER = parse_url("postgresql://alice:Secret-PW@db.example.com:5433/registry")


@pytest.mark.parametrize(
    "location", ["ftp://host/x", "http://example.com/models", "hdfs://n/x", "S4://b/x", "x-y://z"]
)
def test_unknown_schemes_are_refused(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputError, match="unknown artifact store scheme"):
        open_store(location)
    assert list(tmp_path.iterdir()) == []  # never a folder of that name


def test_the_environment_variable_takes_urls_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ARTIFACTS_ENV, "gopher://x/y")
    with pytest.raises(InvalidInputError):
        artifact_store_for(SERVER, None)
    monkeypatch.setenv(ARTIFACTS_ENV, "memory://rc-unit/env")
    store = artifact_store_for(SERVER, None)
    assert isinstance(store, FsspecArtifactStore) and store.location == "memory://rc-unit/env"
    assert list(tmp_path.iterdir()) == []


def test_local_paths_and_file_urls(tmp_path: Path) -> None:
    for location in (tmp_path / "a", str(tmp_path / "a"), f"file://{tmp_path}/a"):
        store = open_store(location)
        assert isinstance(store, LocalArtifactStore) and store.root == tmp_path / "a"
    with pytest.raises(InvalidInputError, match="file:///"):
        open_store("file://somehost/x")
    with pytest.raises(InvalidInputError, match="storage_options"):
        open_store(tmp_path, {"anon": True})


@pytest.mark.parametrize(
    ("location", "extra", "module"),
    [
        ("s3://bucket/models", "s3", "s3fs"),
        ("gs://bucket/models", "gcs", "gcsfs"),
        ("az://container/models", "azure", "adlfs"),
        ("abfs://container/models", "azure", "adlfs"),
        ("memory://x", "fsspec", "fsspec"),
    ],
)
def test_a_missing_extra_names_it(
    location: str, extra: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(MissingDriverError) as info:
        open_store(location)
    assert info.value.extra == extra
    assert f"registry-core[{extra}]" in str(info.value) and module in str(info.value)
    assert isinstance(info.value, ImportError)


def test_credentials_never_show() -> None:
    with pytest.raises(InvalidInputError) as info:
        open_store("s3://AKIDEXAMPLE:wJalr-Secret@bucket/models")
    assert "wJalr-Secret" not in str(info.value) and "AKIDEXAMPLE" not in str(info.value)
    pytest.importorskip("s3fs")
    store = open_store(
        "s3://bucket/models",
        {"key": "AKIDEXAMPLE", "secret": "wJalr-Secret", "token": "session-Tok3n"},
    )
    for text in (repr(store), str(store), store.location, store.describe("models/x/y.pkl")):
        assert "wJalr-Secret" not in text and "session-Tok3n" not in text
        assert "AKIDEXAMPLE" not in text
    assert repr(store) == "FsspecArtifactStore('s3://bucket/models')"


def test_default_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)
    assert default_artifacts(parse_url("sqlite:////data/reg.db"), None) == Path("/data/artifacts")
    assert default_artifacts(parse_url("sqlite://:memory:"), None) == Path("artifacts")
    folder = default_artifacts(SERVER, None)
    assert folder == Path("artifacts/postgresql-db.example.com-5433-registry")
    assert "alice" not in str(folder) and "Secret" not in str(folder)
    other = parse_url("mysql://root@db.example.com:3306/registry")
    assert default_artifacts(other, None) != folder  # two registries never mix files
    # one server written several ways is one folder: the default port, this machine's names
    local = {
        default_artifacts(parse_url(u), None)
        for u in (
            "postgresql://u@localhost/registry",
            "postgres://u@127.0.0.1:5432/registry",
            "postgresql://u@[::1]:5432/registry",
            "postgresql://u@/registry?host=/var/run/postgresql",
        )
    }
    assert local == {Path("artifacts/postgresql-localhost-5432-registry")}
    assert default_artifacts(parse_url("mariadb://r@H/db"), None) == default_artifacts(
        parse_url("mysql://r@h:3306/db"), None
    )
    assert default_artifacts(SERVER, "s3://b/p") == "s3://b/p"
    monkeypatch.setenv(ARTIFACTS_ENV, "/srv/models")
    assert default_artifacts(SERVER, None) == "/srv/models"


def test_modification_times_of_each_library() -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    for info in (
        {"LastModified": t},  # s3fs
        {"last_modified": t},  # adlfs
        {"updated": "2026-01-02T03:04:05Z"},  # gcsfs
        {"mtime": t.timestamp()},  # local
        {"created": t},  # memory
    ):
        assert _mtime(info) == t.timestamp()
    assert _mtime({}) > t.timestamp()  # unknown: now, so never taken for an old orphan


def test_same_place(tmp_path: Path) -> None:
    folder = open_store(tmp_path / "a")
    assert folder.same_place(open_store(f"file://{tmp_path}/a"))
    assert not folder.same_place(open_store(tmp_path / "b"))
    memory = open_store("memory://rc-unit/a")
    assert memory.same_place(open_store("memory://rc-unit/a/"))
    assert not memory.same_place(open_store("memory://rc-unit/b"))
    assert not memory.same_place(open_store("/rc-unit/a"))  # same path, another protocol


@pytest.mark.parametrize("location", ["s3:/bucket", "s3:bucket", "gs:/b/p", "memory:/x"])
def test_a_url_without_its_slashes_is_refused_not_a_folder(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputError, match="without '//'"):
        open_store(location)
    assert list(tmp_path.iterdir()) == []  # once: a folder named "s3:" held the files


@pytest.mark.parametrize("location", ["s3://", "memory://", "s3:///"])
def test_a_url_without_a_bucket_is_refused(location: str) -> None:
    pytest.importorskip("s3fs")
    with pytest.raises(InvalidInputError, match="names no bucket"):
        open_store(location)  # once: "s3://" put the files in a bucket named "models"


def test_a_registry_with_an_id_gets_a_default_store_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)
    rid, other = "1a2b3c4d-0000-4000-8000-000000000000", "9f9f9f9f-0000-4000-8000-000000000000"
    dev = default_artifacts(parse_url("sqlite:////data/dev.db"), None, rid)
    prod = default_artifacts(parse_url("sqlite:////data/prod.db"), None, other)
    assert (dev, prod) == (Path("/data/dev-artifacts"), Path("/data/prod-artifacts"))
    team_a = default_artifacts(
        parse_url("postgresql://u@db/reg?options=-csearch_path%3Da"), None, rid
    )
    team_b = default_artifacts(
        parse_url("postgresql://u@db/reg?options=-csearch_path%3Db"), None, other
    )
    assert team_a == Path("artifacts/postgresql-db-5432-reg-1a2b3c4d") and team_a != team_b
    memory = default_artifacts(parse_url("sqlite://:memory:"), None, rid)
    assert memory.name == f"registry-core-{rid}" and memory.is_absolute()
    assert default_artifacts(parse_url("sqlite:////data/dev.db"), "s3://b/p", rid) == "s3://b/p"
