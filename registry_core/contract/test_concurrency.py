"""Concurrent savers in several processes get versions 1..N, no duplicates, no errors."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

import registry_core
from registry_core import ModelRegistry

PROCESSES = 4
SAVES = 25


def _save_many(url: str, artifacts: str, name: str, start_at: float) -> list[str]:
    """Runs in a child process: connect, wait for the common start, save SAVES versions."""
    with registry_core.connect(url, artifacts=artifacts) as reg:
        time.sleep(max(0.0, start_at - time.time()))
        return [reg.save_model(i, name, tags={"i": str(i)}).version for i in range(SAVES)]


@pytest.mark.registry_pooled  # also through a pooler (registry-core's run: PgBouncer)
@pytest.mark.slow
@pytest.mark.parametrize("model_exists", [False, True], ids=["new-model", "existing-model"])
def test_concurrent_savers_get_distinct_consecutive_versions(
    registry: ModelRegistry, db_url: str, tmp_path: Path, model_exists: bool
) -> None:
    offset = 0
    if model_exists:
        registry.save_model("seed", "shared")
        offset = 1
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # after every child has imported and connected
    with ctx.Pool(PROCESSES) as pool:
        results = pool.starmap(
            _save_many,
            [(db_url, str(tmp_path / "artifacts"), "shared", start_at)] * PROCESSES,
        )
    got = sorted(int(v) for r in results for v in r)
    assert got == list(range(1 + offset, PROCESSES * SAVES + 1 + offset))
    for r in results:  # each process saw its own numbers rise
        assert [int(v) for v in r] == sorted(int(v) for v in r)
    versions = registry.list_versions("shared")
    assert len(versions) == PROCESSES * SAVES + offset
    assert registry.get_version("shared").version == str(PROCESSES * SAVES + offset)
    for v in versions[offset:]:  # every file is the one its version recorded
        assert registry.load_model("shared", v.version) == int(v.tags["i"] or -1)
