"""What a store's library raises reaches users as ArtifactStoreError, credentials masked; the
CLI prints it as an error (JSON with --json), never as a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import registry_core
from registry_core import ArtifactStoreError
from registry_core.cli import EXIT_FAILED, run
from registry_core.stores.base import store_errors
from registry_core.stores.remote import FsspecArtifactStore

pytest.importorskip("fsspec")

UNWRITABLE = "/proc/registry-core-cannot-write-here"


def test_a_save_into_a_store_that_fails_is_an_artifact_store_error(tmp_path: Path) -> None:
    with registry_core.connect(f"sqlite:///{tmp_path / 'r.db'}", artifacts=UNWRITABLE) as reg:
        with pytest.raises(ArtifactStoreError, match="saving a version of 'm'") as info:
            reg.save_model(1, "m")
        assert isinstance(info.value.__cause__, OSError)
        assert reg.list_models() == []  # nothing recorded


def test_the_copy_command_reports_a_store_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = f"sqlite:///{tmp_path / 'src.db'}"
    with registry_core.connect(source) as reg:
        reg.save_model(1, "m")
    target = f"sqlite:///{tmp_path / 'dst.db'}"
    code = run(["copy", "--json", source, target, "--target-artifacts", UNWRITABLE])
    out, err = capsys.readouterr()
    assert code == EXIT_FAILED and err == ""
    error = json.loads(out)["error"]
    assert error["type"] == "ArtifactStoreError"
    # the first write to the target store marks it as the target registry's
    assert "copying files to the target's artifact store" in error["message"]


def test_credentials_are_masked_in_store_errors() -> None:
    key, connection = "AKIA-NOT-A-REAL-KEY-1", "AccountName=a;AccountKey=c2VjcmV0LWtleQ==;X=1"
    store = FsspecArtifactStore(
        "memory://masking/root",
        {"key": key, "client_kwargs": {"aws_secret_access_key": "s3cr3t-value"}},
    )
    other = FsspecArtifactStore("memory://masking/other", {"connection_string": connection})
    with pytest.raises(ArtifactStoreError) as info, store_errors("x", store, other):
        raise OSError(f"denied for {key} with s3cr3t-value, {connection}; c2VjcmV0LWtleQ== alone")
    message = str(info.value)
    for secret in (key, "s3cr3t-value", "c2VjcmV0LWtleQ=="):
        assert secret not in message
    assert message.count("***") == 4  # the key alone too, not only the whole string
