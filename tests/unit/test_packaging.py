"""The wheel installs into a fresh environment and works from outside the repository, with
backends and migrations inside the package and no generic top-level names."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = r"""
import importlib.util, pathlib, sys
import registry_core
from registry_core.backends import sqlite, postgresql, mysql
from registry_core.migrator import load_migrations
here = pathlib.Path.cwd()
assert "site-packages" in registry_core.__file__, registry_core.__file__
for generic in ("backends", "migrations"):
    assert importlib.util.find_spec(generic) is None, generic
assert [m.version for m in load_migrations()][0] == "001"
with registry_core.connect() as reg:                     # ./registry.db, the embedded default
    v = reg.save_model({"w": 1}, "smoke", tags={"t": "x"})
    assert reg.load_model("smoke") == {"w": 1}
    assert (here / "registry.db").exists() and (here / "registry-artifacts").is_dir()
    print("ok", v.version, reg.database_stats().schema_version)
import registry_core.testing  # import-light: this environment has no pytest
assert "pytest" not in sys.modules
try:
    registry_core.open_backend("postgresql://u@127.0.0.1/db")
except registry_core.MissingDriverError as exc:
    print("missing:", exc)
"""


@pytest.mark.slow
def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Runs a command; on failure the assertion shows its output."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{cmd[:3]} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_wheel_installs_and_imports_outside_the_repo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)]
    _run([*build, "."], cwd=ROOT)
    (wheel,) = dist.glob("registry_core-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert (
            "[pytest11]\nregistry_core = registry_core.testing.plugin"
            in whl.read(entry_points).decode()
        )
    # the contract suite and the plugin ship (tox installs this wheel and runs them from it)
    for shipped in ("contract/conftest.py", "contract/test_versions.py", "testing/plugin.py"):
        assert f"registry_core/{shipped}" in names, shipped
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)])
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": str(env_dir / "bin"), "HOME": str(tmp_path)}
    out = _run([python, "-c", CHECK], cwd=work, env=env)
    assert out.stdout.startswith("ok 1 ")
    assert "registry-core[postgresql]" in out.stdout
    status = _run([str(env_dir / "bin" / "registry-core"), "status"], cwd=work, env=env)
    assert "up to date" in status.stdout or "applied" in status.stdout
