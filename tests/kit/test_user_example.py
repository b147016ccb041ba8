"""A user's own pipeline tests on the plugin's `registry` fixture (examples/user_pipeline), run
as a user runs them, in a pytest process of their own: on a temporary SQLite file, and on a
PostgreSQL server (REGISTRY_TEST_POSTGRESQL_URL, else a testcontainers container; skipped
without either unless REGISTRY_TEST_REQUIRE names postgresql)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from registry_core.testing.databases import choose, docker_available, environ

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_pipeline"


def _run(tmp_path: Path, *args: str) -> str:
    work = tmp_path / "user_pipeline"
    shutil.copytree(EXAMPLE, work)  # outside this repository: no conftest or ini of ours
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_TEST_URL"}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-ra", *args]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_user_example_on_sqlite(tmp_path: Path) -> None:
    assert _run(tmp_path).startswith("3 passed")


@pytest.mark.slow
def test_the_user_example_on_postgresql(tmp_path: Path) -> None:
    choice = choose("postgresql", environ(), docker_available)
    if choice.kind == "skip":
        if choice.required:
            pytest.fail(f"required by REGISTRY_TEST_REQUIRE: {choice.detail}", pytrace=False)
        pytest.skip(choice.detail)
    summary = _run(tmp_path, "--registry-engine", "postgresql")
    assert summary.startswith("3 passed"), summary  # not skipped: the server was there
