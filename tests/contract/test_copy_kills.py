"""A copy killed at random moments (SIGKILL of `registry-core copy`) leaves no committed
version without its file, and finishes when run again. It controls processes, so it stays in
this repository; the rest of the copy contract ships in registry_core.contract.test_copy."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import registry_core
from registry_core.contract.test_copy import _build, _snapshot, sqlite_source

__all__ = ["sqlite_source"]  # a fixture of the copy contract, used here

KILL_ROUNDS = 6 * max(1, int(os.environ.get("REGISTRY_TEST_FAULT_SCALE", "1")))


def _copy_command(src: str, dst: str, src_art: Path, dst_art: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "registry_core",
        "copy",
        src,
        dst,
        "--source-artifacts",
        str(src_art),
        "--target-artifacts",
        str(dst_art),
        "--no-progress",
    ]


def _files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mariadb"])
def test_a_copy_killed_at_random_moments_finishes_when_run_again(
    db_url: str, sqlite_source: tuple[str, Path], tmp_path: Path
) -> None:
    """SIGKILL `registry-core copy` (SQLite -> the engine) at random moments: half the rounds
    at a random time, half right after it placed a random number of files (so often between
    a model's files and its COMMIT). After each kill no committed version lacks its file; the
    copy run again completes, and the result equals the source."""
    src, src_art = sqlite_source
    dst_art = tmp_path / "dst-artifacts"
    with registry_core.connect(src, artifacts=src_art) as source:
        _build(source, tmp_path / "files")
        for i in range(40):
            source.save_model(i, f"m{i:02d}", tags={"i": str(i)}, metrics={"i": i})
            source.save_model(i, f"m{i:02d}", parents=[("alpha", "3")] if i % 3 else [])
            source.set_alias(f"m{i:02d}", "champion", 1 + i % 2)
        source.save_model("last", "alpha", parents=[("m39", "2")])  # a forward edge
        before = _snapshot(source)
    # how long a whole copy takes as a subprocess (into a scratch SQLite file)
    started = time.monotonic()
    scratch = f"sqlite:///{tmp_path / 'scratch.db'}"
    # (outside the checkout: `python -m registry_core` there would import the source tree,
    # whose backends/ is not registry_core.backends until installed)
    done = subprocess.run(
        _copy_command(src, scratch, src_art, tmp_path / "scratch-art"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    whole = time.monotonic() - started
    rng = random.Random(os.environ.get("REGISTRY_TEST_SEED", "copy-kills"))
    cut_short = 0
    for round_ in range(KILL_ROUNDS):
        start_files = _files(dst_art)
        child = subprocess.Popen(
            _copy_command(src, db_url, src_art, dst_art),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
        )
        if round_ % 2:
            time.sleep(rng.uniform(0.05, whole * 1.2))
        else:  # after 1..5 more files are in place, or when it ends
            wanted = start_files + rng.randint(1, 5)
            deadline = time.monotonic() + 60
            while child.poll() is None and _files(dst_art) < wanted:
                assert time.monotonic() < deadline
                time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        cut_short += child.wait() == -signal.SIGKILL
        with registry_core.connect(db_url, artifacts=dst_art) as target:
            found = target.verify()
            assert not found.missing and not found.mismatched, found.as_dict()
    # (a round that waits for more files than are left to copy lets the copy finish)
    assert cut_short >= 1

    report = registry_core.copy_registry(
        src, db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
    )
    assert report.models_copied + report.models_updated + report.models_present == 44
    with registry_core.connect(db_url, artifacts=dst_art) as target:
        after = _snapshot(target)
        for key, value in before.items():
            assert after[key] == value, key
        # what killed copies left behind is no version's file: orphans only, repairable
        assert not target.verify(grace=0, repair=True).missing
        assert target.verify(grace=0).ok
    again = registry_core.copy_registry(
        src, db_url, source_artifacts=src_art, target_artifacts=dst_art, progress=False
    )
    assert (again.models_present, again.versions_copied, again.files_copied) == (44, 0, 0)
