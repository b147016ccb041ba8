"""The wheel installs into a fresh environment and works from outside the repository, with
backends and migrations inside the package and no generic top-level names."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

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
    assert (here / "registry.db").exists() and (here / "artifacts").is_dir()
    print("ok", v.version, reg.database_stats().schema_version)
try:
    registry_core.open_backend("postgresql://u@127.0.0.1/db")
except registry_core.MissingDriverError as exc:
    print("missing:", exc)
"""


@pytest.mark.slow
def test_wheel_installs_and_imports_outside_the_repo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("registry_core-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    out = subprocess.run(
        [str(python), "-c", CHECK],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
        env={"PATH": str(env_dir / "bin"), "HOME": str(tmp_path)},
    )
    assert out.stdout.startswith("ok 1 ")
    assert "registry-core[postgresql]" in out.stdout
    script = env_dir / "bin" / "registry-core"
    status = subprocess.run(
        [str(script), "status"],
        cwd=work,
        capture_output=True,
        text=True,
        env={"PATH": str(env_dir / "bin"), "HOME": str(tmp_path)},
    )
    assert status.returncode == 0, status.stderr
