"""The plugin itself, in pytest processes of their own outside this repository: it changes
nothing in a run that does not use its fixtures, refuses a URL that would share one database
between tests, and gives each test an empty database of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLAIN = "def test_plain():\n    assert True\n"
TWO = """
import pytest


@pytest.mark.parametrize("i", [1, 2])
def test_each_test_starts_empty(registry, registry_engine, i):
    assert registry_engine == "sqlite"
    assert registry.list_models() == []
    registry.save_model(i, "m")
"""


def _pytest(tmp_path: Path, test: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_it.py").write_text(test)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_TEST_")}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-ra", *args]
    return subprocess.run(
        command, cwd=tmp_path, env={**environ, **env}, capture_output=True, text=True, check=False
    )


def test_a_run_without_the_fixtures_is_unchanged(tmp_path: Path) -> None:
    # settings the plugin would refuse are not even read
    done = _pytest(tmp_path, PLAIN, REGISTRY_TEST_URL="nope", REGISTRY_TEST_REQUIRE="typo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("1 passed")


def test_each_test_gets_an_empty_database(tmp_path: Path) -> None:
    done = _pytest(tmp_path, TWO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("2 passed")


def test_a_url_without_a_database_per_test_is_refused(tmp_path: Path) -> None:
    done = _pytest(tmp_path, TWO, "--registry-url", "sqlite:///shared.db")
    assert done.returncode != 0
    assert "must hold {tmp}" in done.stdout + done.stderr
    done = _pytest(tmp_path, TWO, "--registry-engine", "oracle")
    assert "known engines are sqlite, postgresql, mysql, mariadb" in done.stdout + done.stderr
