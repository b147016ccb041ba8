"""The testing kit as a third party uses it (SPEC section 11): the example backend
(examples/third_party_backend, scheme acme://) is installed and passes the contract suite
through `pytest --pyargs registry_core.contract --registry-url ...`; deliberately broken
variants of it fail with the guarantee they break named; a variant that does not declare a
capability gets those tests skipped with the reason. Each run is a pytest process of its own,
outside this repository (no conftest or ini of ours applies)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "third_party_backend"

#: variants registered beside acme under schemes of their own, each breaking one guarantee
#: or leaving out one capability
BROKEN = '''
from acme_registry import AcmeMetadataBackend


class ReusingBackend(AcmeMetadataBackend):
    """Gives a deleted latest version's number to the next save."""

    def delete_version(self, name, version):
        gone = super().delete_version(name, version)
        self.execute(
            "UPDATE mr_models SET last_version = (SELECT COALESCE(MAX(CAST(v.version AS "
            "INTEGER)), 0) FROM mr_model_versions v WHERE v.model_id = mr_models.id) "
            "WHERE name = :name",
            {"name": name},
        )
        return gone


class CaseBlindBackend(AcmeMetadataBackend):
    """Saves a version of "model" under an existing "Model"."""

    def create_version(self, name, **kwargs):
        for model in self.list_models():
            if model.name.casefold() == name.casefold():
                name = model.name
        return super().create_version(name, **kwargs)


class NoAliasesBackend(AcmeMetadataBackend):
    capabilities = AcmeMetadataBackend.capabilities - {"aliases"}
'''
ENTRY_POINTS = """[registry_core.backends]
acmereuse = acme_broken:ReusingBackend
acmecase = acme_broken:CaseBlindBackend
acmelite = acme_broken:NoAliasesBackend
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder on PYTHONPATH holding acme-registry (installed by pip from a copy of the
    example) and the broken variants (a module with a distribution's metadata)."""
    work = tmp_path_factory.mktemp("third-party")
    source, site = work / "acme", work / "site"
    shutil.copytree(EXAMPLE, source)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*pip, "--target", str(site), str(source)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (site / "acme_broken.py").write_text(BROKEN)
    info = site / "acme_broken-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-broken\nVersion: 0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


def _pytest(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("REGISTRY_TEST_URL", None)
    # a smaller sample of the two property-based tests: the example's run is about the kit
    env.update(REGISTRY_TEST_DIFFERENTIAL_EXAMPLES="25", REGISTRY_TEST_STATEFUL_EXAMPLES="5")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-ra", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_the_example_backend_passes_the_contract_suite(site: Path, tmp_path: Path) -> None:
    own = _pytest(site, EXAMPLE, "-p", "no:registry_core", "tests")  # its own tests
    assert own.returncode == 0, own.stdout + own.stderr
    url = "acme:///{tmp}/registry.db"
    done = _pytest(site, tmp_path, "--pyargs", "registry_core.contract", "--registry-url", url)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    # the only skips: tests of the built-in engines' own URLs, stores and servers
    for line in done.stdout.splitlines():
        if line.startswith("SKIPPED"):
            assert "engine-specific" in line, line


def test_a_backend_that_reuses_deleted_numbers_fails_naming_the_guarantee(
    site: Path, tmp_path: Path
) -> None:
    done = _pytest(
        site, tmp_path, "--pyargs", "registry_core.contract", "-x",
        "--registry-url", "acmereuse:///{tmp}/r.db", "-k", "never_reused",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "FAILED" in done.stdout and "test_deleted_version_numbers_are_never_reused" in done.stdout
    )
    assert "deleted version numbers are never reused" in done.stdout


def test_a_backend_that_ignores_case_fails_naming_the_guarantee(site: Path, tmp_path: Path) -> None:
    done = _pytest(
        site, tmp_path, "--pyargs", "registry_core.contract", "-x",
        "--registry-url", "acmecase:///{tmp}/r.db", "-k", "case_sensitive",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "names compare case-sensitively and byte-exactly" in done.stdout


def test_an_undeclared_capability_is_skipped_with_the_reason(site: Path, tmp_path: Path) -> None:
    tests = ("aliases_point_move_and_load", "alias_names_are_per_model", "drops_its_aliases")
    done = _pytest(
        site, tmp_path, "--pyargs", "registry_core.contract",
        "--registry-url", "acmelite:///{tmp}/r.db", "-k", " or ".join(tests),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    reason = "the acmelite backend does not declare the capabilities aliases"
    assert len(skips) == len(tests) and all(reason in line for line in skips), done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("3 skipped")  # none passed silently
