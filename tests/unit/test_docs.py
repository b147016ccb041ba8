"""The changelog and the package agree on the version (docs/changelog.md, SPEC section 13)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import registry_core

CHANGELOG = Path(__file__).resolve().parents[2] / "docs" / "changelog.md"


def _releases() -> list[tuple[str, str]]:
    """(version, rest of the heading) of each `## X.Y.Z ...` heading, newest first."""
    text = CHANGELOG.read_text(encoding="utf-8")
    return re.findall(r"^## (\d+\.\d+\.\d+)(.*)$", text, flags=re.MULTILINE)


@pytest.mark.skipif(not CHANGELOG.exists(), reason="run from a checkout: docs/ is not installed")
def test_newest_changelog_entry_is_the_package_version() -> None:
    releases = _releases()
    assert releases, "docs/changelog.md has no '## X.Y.Z' heading"
    newest, rest = releases[0]
    version = registry_core.__version__
    base, _, dev = version.partition(".dev")
    assert base == newest, f"__version__ {version} but the changelog's newest entry is {newest}"
    # a development version is the unreleased entry; a release has no "unreleased" left
    assert ("unreleased" in rest) == bool(dev), (version, rest)


@pytest.mark.skipif(not CHANGELOG.exists(), reason="run from a checkout: docs/ is not installed")
def test_changelog_entries_are_newest_first_and_each_says_what_an_upgrade_needs() -> None:
    releases = [tuple(int(p) for p in v.split(".")) for v, _ in _releases()]
    assert releases == sorted(releases, reverse=True) and len(set(releases)) == len(releases)
    text = CHANGELOG.read_text(encoding="utf-8")
    entries = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    for entry in entries[:-1]:  # the first release needs no upgrade
        assert "### What an upgrade" in entry, entry.splitlines()[0]
