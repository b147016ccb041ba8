"""copy_registry and `registry-core copy` where no server is needed: bad input, unreachable
databases (no password in any message), and the progress options, on SQLite files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import registry_core
from registry_core import CopyProgress, InvalidInputError
from registry_core.cli import EXIT_FAILED, EXIT_OK, run
from registry_core.transfer import CopyReport

SECRET = "S3cret-pw-77"


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def source(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    with registry_core.connect(url) as reg:
        reg.save_model(1, "a")
        reg.save_model(2, "a")
        reg.save_model(3, "b")
    return url


def test_a_source_that_does_not_exist_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.db"
    code, out, _ = _cli(
        capsys,
        "copy",
        f"sqlite:///{missing}",
        f"sqlite:///{tmp_path / 't' / 'registry.db'}",
        "--json",
    )
    assert code == EXIT_FAILED
    error = json.loads(out)["error"]
    assert error["type"] == "InvalidInputError" and "no registry at" in error["message"]
    assert not missing.exists() and not (tmp_path / "t.db").exists()


def test_a_copy_onto_its_source_is_refused(source: str) -> None:
    with pytest.raises(InvalidInputError, match="the same"):
        registry_core.copy_registry(source, source)
    with pytest.raises(InvalidInputError, match="not one string"):
        registry_core.copy_registry(source, source + "2", models="a")


@pytest.mark.parametrize(
    "target", [f"postgresql://u:{SECRET}@127.0.0.1:1/db", f"mysql://u:{SECRET}@127.0.0.1:1/db"]
)
def test_an_unreachable_target_fails_without_showing_its_password(
    source: str, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, "copy", source, target)
    assert code == EXIT_FAILED and "registry-core: error:" in err
    assert SECRET not in out + err and "***" in err
    code, out, err = _cli(capsys, "copy", target, source, "--json")
    assert code == EXIT_FAILED and SECRET not in out + err
    assert json.loads(out)["error"]["type"] == "BackendUnavailableError"


def test_progress_to_a_callable_and_the_report(source: str, tmp_path: Path) -> None:
    seen: list[CopyProgress] = []
    target = f"sqlite:///{tmp_path / 'target' / 'target.db'}"
    report = registry_core.copy_registry(source, target, progress=seen.append)
    assert isinstance(report, CopyReport)
    assert [(p.models_done, p.versions_done) for p in seen if p.model == "b"][-1] == (2, 3)
    assert seen[-1].models_total == 2 and seen[-1].versions_total == 3
    assert seen[-1].bytes_done == seen[-1].bytes_total == report.bytes_copied
    data = report.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["models_copied"] == 2 and data["source"] == source


def test_no_bar_on_a_pipe_a_bar_on_a_terminal(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    registry_core.copy_registry(source, f"sqlite:///{tmp_path / 't1' / 'registry.db'}")
    assert capsys.readouterr().err == ""  # stderr is no terminal under pytest
    monkeypatch.setattr("registry_core.progress._is_terminal", lambda stream: True)
    registry_core.copy_registry(source, f"sqlite:///{tmp_path / 't2' / 'registry.db'}")
    err = capsys.readouterr().err
    assert "models" in err and "versions" in err and "2/2" in err
    registry_core.copy_registry(
        source, f"sqlite:///{tmp_path / 't3' / 'registry.db'}", progress=False
    )
    assert capsys.readouterr().err == ""
    with pytest.raises(InvalidInputError, match="progress"):
        registry_core.copy_registry(
            source,
            f"sqlite:///{tmp_path / 't4' / 'registry.db'}",
            progress="yes",  # type: ignore[arg-type]
        )
    assert not (tmp_path / "t4").exists()  # refused before anything was created


def test_without_tqdm_the_copy_runs_and_says_why_there_is_no_bar(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm: ImportError
    report = registry_core.copy_registry(
        source, f"sqlite:///{tmp_path / 't' / 'registry.db'}", progress=True
    )
    assert report.versions_copied == 3
    assert "registry-core[progress]" in capsys.readouterr().err


def test_the_text_report(source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = f"sqlite:///{tmp_path / 'target' / 'target.db'}"
    code, out, _ = _cli(capsys, "copy", source, target, "--model", "b")
    assert code == EXIT_OK
    assert "models:   1 copied, 0 updated, 0 already there" in out
    assert "files:    1 copied" in out


def test_a_shared_artifact_store_is_refused_unless_asked_for(
    source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # one folder given to both sides (here the source's own): they would share it; so would
    # $MODEL_REGISTRY_ARTIFACTS for both sides
    beside = f"sqlite:///{tmp_path / 'beside.db'}"
    own = registry_core.connect(source, migrate=False)
    folder = own.artifacts.location
    own.close()
    code, out, err = _cli(capsys, "copy", source, beside, "--target-artifacts", folder)
    assert code == EXIT_FAILED and "share one artifact store" in err
    assert not (tmp_path / "beside.db").exists()  # refused before anything was made
    code, out, _ = _cli(
        capsys, "copy", source, beside, "--target-artifacts", folder, "--shared-artifacts"
    )
    assert code == EXIT_OK
    assert "files:    0 copied (0 B), 3 already there" in out
    assert "share one artifact store" in out
