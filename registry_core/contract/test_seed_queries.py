"""The seed document's three example queries, run against our tables, agree with the API.

They are the seed's text with two adaptations, each forced by a database that refuses the
original: MySQL casts with SIGNED (its CAST has no INTEGER target), and PostgreSQL refuses
SELECT DISTINCT ordered by an expression outside the select list, so the find-by-tag query
orders outside a DISTINCT subquery (on every database, so that all three run the same text).
"""

from __future__ import annotations

import pytest

from registry_core import ModelRegistry
from registry_core.sqlbackend import SQLMetadataBackend

SEED_LATEST = """
SELECT
    m.name,
    mv.version,
    mv.description,
    mv.created_at,
    mv.file_size_bytes
FROM mr_models m
JOIN mr_model_versions mv ON m.id = mv.model_id
WHERE mv.id = (
    SELECT MAX(id)
    FROM mr_model_versions mv2
    WHERE mv2.model_id = m.id
)
ORDER BY m.name
"""

SEED_STATS = """
SELECT
    COUNT(DISTINCT m.id) as total_models,
    COUNT(mv.id) as total_versions,
    SUM(mv.file_size_bytes) as total_size_bytes,
    AVG(mv.file_size_bytes) as avg_size_bytes
FROM mr_models m
LEFT JOIN mr_model_versions mv ON m.id = mv.model_id
"""

SEED_FIND_BY_TAG = """
SELECT name, version, description, tag_value FROM (
SELECT DISTINCT
    m.name,
    mv.version,
    mv.description,
    mt.tag_value,
    {version_number} AS version_number
FROM mr_models m
JOIN mr_model_versions mv ON m.id = mv.model_id
JOIN mr_model_tags mt ON mv.id = mt.model_version_id
WHERE mt.tag_key = 'type' AND mt.tag_value = 'regression'
) found
ORDER BY name, version_number
"""


@pytest.fixture
def filled(registry: ModelRegistry) -> ModelRegistry:
    for i in range(12):
        kind = "regression" if i % 3 else "classification"
        registry.save_model("w" * (10 + i), "zeta", description=f"z{i}", tags={"type": kind})
    registry.save_model("w" * 7, "alpha", tags={"type": "regression", "team": "a"})
    registry.save_model("w" * 9, "Beta", description="B")
    registry.delete_version("zeta", 12)
    return registry


def _backend(reg: ModelRegistry) -> SQLMetadataBackend:
    assert isinstance(reg.backend, SQLMetadataBackend)
    return reg.backend


@pytest.mark.registry_capabilities("sql")
def test_seed_latest_query_matches_latest_versions(filled: ModelRegistry) -> None:
    rows = _backend(filled).query(SEED_LATEST)
    api = filled.latest_versions()
    assert [(r[0], str(r[1]), r[2], int(r[4])) for r in rows] == [
        (v.name, v.version, v.description, v.file_size_bytes) for v in api
    ]
    assert [r[0] for r in rows] == ["Beta", "alpha", "zeta"]
    assert str(rows[2][1]) == "11"


@pytest.mark.registry_capabilities("sql")
def test_seed_stats_query_matches_stats(filled: ModelRegistry) -> None:
    ((models, versions, total, avg),) = _backend(filled).query(SEED_STATS)
    s = filled.stats()
    assert (int(models), int(versions), int(total)) == (
        s.total_models,
        s.total_versions,
        s.total_size_bytes,
    )
    assert float(avg) == pytest.approx(s.avg_size_bytes)
    assert (s.total_models, s.total_versions) == (3, 13)


@pytest.mark.registry_capabilities("sql")
def test_seed_find_by_tag_query_matches_find_by_tag(filled: ModelRegistry) -> None:
    backend = _backend(filled)
    sql = SEED_FIND_BY_TAG.format(version_number=backend.dialect.int_cast("mv.version"))
    rows = backend.query(sql)
    api = filled.find_by_tag("type", "regression")
    assert [(r[0], str(r[1]), r[2], r[3]) for r in rows] == [
        (v.name, v.version, v.description, v.tags["type"]) for v in api
    ]
    assert [str(r[1]) for r in rows if r[0] == "zeta"] == ["2", "3", "5", "6", "8", "9", "11"]
