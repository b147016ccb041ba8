"""Model files on every artifact store (a local folder, memory://, S3 through moto's server)
and every database: saves stream to the save's own path and leave nothing when they fail,
loads check size and sha256 while reading, deletes remove the files, verify() and fsck find
what is missing, changed or orphaned. No credential shows in a repr, a message or a log."""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

import registry_core
from registry_core import (
    ArtifactMissingError,
    BackendUnavailableError,
    ChecksumMismatchError,
    InvalidInputError,
    ModelRegistry,
    NotFoundError,
    OutcomeUnknownError,
)
from registry_core.cli import EXIT_OK, EXIT_PROBLEMS, run
from registry_core.contract.stores import Store

pytestmark = pytest.mark.stores


def test_save_load_and_files_round_trip(
    registry: ModelRegistry, store: Store, tmp_path: Path
) -> None:
    model = {"weights": list(range(1000)), "name": "caf\u00e9"}
    v1 = registry.save_model(model, "m", tags={"k": "v"})
    assert registry.load_model("m") == model
    assert store.files() == {v1.storage_path}
    assert v1.storage_path.startswith("models/") and v1.storage_path.endswith("-model.pkl")
    assert pickle.loads(store.read(v1.storage_path)) == model
    assert v1.file_size_bytes == len(store.read(v1.storage_path))

    source = tmp_path / "weights.onnx"
    source.write_bytes(os.urandom(3 * (1 << 20) + 17))  # several chunks
    v2 = registry.save_model_file(source, "m")
    assert store.read(v2.storage_path) == source.read_bytes()
    local = registry.model_path("m", 2)
    assert local.read_bytes() == source.read_bytes() and local.name.endswith("-weights.onnx")
    assert registry.model_path("m", 2) == local  # a remote copy is fetched once per checksum
    assert registry.artifacts.describe(v2.storage_path).endswith(v2.storage_path)

    registry.delete_version("m", 1)
    assert store.files() == {v2.storage_path}
    registry.delete_model("m")
    assert store.files() == set()


def test_a_tampered_file_never_loads(registry: ModelRegistry, store: Store) -> None:
    v = registry.save_model({"w": [1.0, 2.0]}, "m")
    data = bytearray(store.read(v.storage_path))
    data[-2] ^= 0xFF  # same size, other bytes
    store.write(v.storage_path, bytes(data))
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        registry.load_model("m")
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        registry.model_path("m")
    store.write(v.storage_path, bytes(data) + b"x")
    with pytest.raises(ChecksumMismatchError, match="size"):
        registry.load_model("m")
    store.write(v.storage_path, bytes(data[:-1]))
    with pytest.raises(ChecksumMismatchError, match="size"):
        registry.load_model("m")
    store.remove(v.storage_path)
    with pytest.raises(ArtifactMissingError) as info:
        registry.load_model("m")
    assert isinstance(info.value, NotFoundError)
    assert "version 1 of 'm'" in str(info.value)
    assert registry.artifacts.describe(v.storage_path) in str(info.value)


def test_the_reader_checks_while_reading(registry: ModelRegistry, store: Store) -> None:
    """reader() and write_at() (what a copy between registries uses) on every store."""
    v = registry.save_model(b"x" * 5000, "m")
    store_ = registry.artifacts
    with store_.reader(v.storage_path, v.file_size_bytes, v.checksum) as r:
        written = store_.write_at("models/copied/abc-model.pkl", r)
    assert (written.size, written.checksum) == (v.file_size_bytes, v.checksum)
    assert store.read("models/copied/abc-model.pkl") == store.read(v.storage_path)
    assert store_.check(written.storage_path, written.size, written.checksum) is None

    store.write(v.storage_path, store.read(v.storage_path)[::-1])
    with (
        pytest.raises(ChecksumMismatchError),
        store_.reader(v.storage_path, v.file_size_bytes, v.checksum) as r,
    ):
        while r.read(1000):
            pass
    with pytest.raises(ArtifactMissingError):
        store_.reader("models/none/x.pkl", 1, None, what="nothing").__enter__()
    for bad in ("../outside.pkl", "/abs.pkl", "models/../../x", ""):
        with pytest.raises(InvalidInputError):
            store_.check(bad, 1, None)


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("not today")


@pytest.mark.registry_capabilities("lineage")
def test_a_failed_save_leaves_no_object(
    registry: ModelRegistry, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = b"\x00" * (20 << 20)  # larger than an upload part: a multipart upload is aborted
    with pytest.raises(InvalidInputError, match="pickled"):
        registry.save_model([big, _Unpicklable()], "m")
    with pytest.raises(NotFoundError):  # refused by the database: no such parent
        registry.save_model(1, "m", parents=[("nothing", 1)])
    assert registry.list_models() == [] and store.files() == set()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise BackendUnavailableError("the database went away")

    with monkeypatch.context() as m:
        m.setattr(registry.backend, "create_version", refuse)
        with pytest.raises(BackendUnavailableError):
            registry.save_model([big], "m")
    assert registry.list_models() == [] and store.files() == set()

    def unknown(*args: Any, **kwargs: Any) -> Any:
        raise OutcomeUnknownError("COMMIT sent, answer lost")

    with monkeypatch.context() as m:  # it may have committed: the object stays
        m.setattr(registry.backend, "create_version", unknown)
        with pytest.raises(OutcomeUnknownError):
            registry.save_model(1, "m")
    [kept] = store.files()
    report = registry.verify(grace=0, repair=True)
    assert report.removed == [kept] and store.files() == set()

    v = registry.save_model(0, "m")
    assert v.version == "1" and store.files() == {v.storage_path}


def test_verify_and_fsck(
    registry: ModelRegistry,
    store: Store,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    versions = [registry.save_model({"i": i}, f"m{i % 2}") for i in range(4)]
    assert registry.verify().ok and registry.verify().files == 4
    missing, changed = versions[1], versions[2]
    store.remove(missing.storage_path)
    store.write(changed.storage_path, store.read(changed.storage_path)[::-1])
    orphan = "models/ghost-0123456789abcdef/0123456789abcdef-model.pkl"
    store.write(orphan, b"left by a save that died")

    report = registry.verify()
    assert [p.storage_path for p in report.missing] == [missing.storage_path]
    assert [p.storage_path for p in report.mismatched] == [changed.storage_path]
    assert report.orphans == [] and report.young == 1  # inside the grace period
    assert registry.verify(checksums=False).mismatched == []  # same size
    assert [f.path for f in registry.verify(grace=0).orphans] == [orphan]

    def fsck(*args: str) -> tuple[int, dict[str, Any]]:
        capsys.readouterr()
        code = run(["fsck", "--url", db_url, "--artifacts", store.artifacts, "--json", *args])
        return code, json.loads(capsys.readouterr().out)

    code, data = fsck()
    assert code == EXIT_PROBLEMS and data["artifacts"].rstrip("/").endswith(
        store.artifacts.rstrip("/").rsplit("/", 1)[-1]
    )
    assert data["young"] == 1 and data["orphans"] == []
    code, data = fsck("--repair", "--grace", "0")
    assert code == EXIT_PROBLEMS and data["removed"] == [orphan]
    assert not store.exists(orphan)
    assert store.files() == {v.storage_path for v in versions} - {missing.storage_path}

    registry.delete_version(missing.name, missing.version)
    registry.delete_version(changed.name, changed.version)
    code, data = fsck()
    assert code == EXIT_OK and data["ok"] is True and data["files"] == 2
    assert registry.verify().ok


def test_no_credential_shows(
    registry: ModelRegistry,
    store: Store,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="registry_core")
    options = store.storage_options or {}
    secrets = [str(v) for k, v in options.items() if k in ("key", "secret", "token")]
    for part in str(options.get("connection_string", "")).split(";"):  # Azure's AccountKey
        name, _, value = part.partition("=")
        if name == "AccountKey":
            secrets.append(value)
    # the stores with credentials have some to look for (local and memory have none)
    assert bool(secrets) == (store.kind in ("s3", "azure"))
    registry.save_model(1, "m")
    v = registry.save_model(2, "m")
    store.remove(v.storage_path)
    shown = [repr(registry), repr(registry.artifacts), str(registry.artifacts.location)]
    with pytest.raises(ArtifactMissingError) as info:
        registry.load_model("m")
    shown.append(str(info.value))
    shown.append(repr(registry.verify()))
    run(["fsck", "--url", db_url, "--artifacts", store.artifacts])
    out, err = capsys.readouterr()
    shown += [out, err, caplog.text]
    for secret in [*secrets, os.environ.get("AWS_SECRET_ACCESS_KEY", "")]:
        if secret:
            assert all(secret not in text for text in shown), secret
    if store.kind != "local":
        url = store.artifacts.replace("://", "://user:pa55word@", 1)
        with pytest.raises(InvalidInputError) as bad:
            registry_core.connect(db_url, artifacts=url)
        assert "pa55word" not in str(bad.value) and "password" in str(bad.value)
