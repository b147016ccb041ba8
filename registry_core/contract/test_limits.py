"""Limits that hold alike on every database: 1,000 parents in one save, an exact average file
size, and lineage followed through any number of generations."""

from __future__ import annotations

import pytest

from registry_core import ModelRegistry
from registry_core.sql import LINEAGE_MAX_DEPTH
from registry_core.validate import MAX_ITEMS

CHECKSUM = "sha256:" + "0" * 64


def _versions(reg: ModelRegistry, name: str, count: int, *, chain: bool = False) -> None:
    """`count` versions of `name` straight in the metadata (no files: lineage reads none),
    each the child of the one before it when `chain`."""
    for i in range(1, count + 1):
        reg.backend.create_version(
            name,
            description=None,
            tags={},
            file_size_bytes=1,
            checksum=CHECKSUM,
            storage_path=f"models/{name}/{i}",
            parents=[(name, str(i - 1))] if chain and i > 1 else (),
        )


@pytest.mark.registry_capabilities("lineage")
def test_a_save_takes_the_most_parents_the_limit_allows(registry: ModelRegistry) -> None:
    _versions(registry, "base", MAX_ITEMS)
    parents = [("base", str(i)) for i in range(1, MAX_ITEMS + 1)]
    v = registry.save_model(0, "child", parents=parents)
    ancestors = registry.lineage("child", v.version)
    assert len(ancestors) == MAX_ITEMS
    assert [a.version for a in ancestors[:3]] == ["1", "2", "3"]  # nearest first, then numbers


def test_the_average_file_size_is_exact(registry: ModelRegistry) -> None:
    for size in (10, 10, 21):  # 41 / 3 = 13.666..., not a number of 4 decimals
        registry.backend.create_version(
            "m",
            description=None,
            tags={},
            file_size_bytes=size,
            checksum=CHECKSUM,
            storage_path=f"models/m/{size}-{registry.stats().total_versions}",
        )
    stats = registry.stats()
    assert (stats.total_versions, stats.total_size_bytes) == (3, 41)
    assert stats.avg_size_bytes == 41 / 3


@pytest.mark.registry_capabilities("lineage")
def test_lineage_follows_every_generation(registry: ModelRegistry) -> None:
    generations = LINEAGE_MAX_DEPTH + 20  # deeper than one recursive query goes
    _versions(registry, "chain", generations, chain=True)
    ancestors = registry.lineage("chain", str(generations))
    assert [a.version for a in ancestors] == [str(i) for i in range(generations - 1, 0, -1)]
    descendants = registry.lineage("chain", "1", direction="descendants")
    assert [d.version for d in descendants] == [str(i) for i in range(2, generations + 1)]
