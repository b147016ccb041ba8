"""No statement registry-core sends makes the server warn: a whole session, from an empty
database to a downgrade, leaves no warning (MySQL's `SHOW WARNINGS`, PostgreSQL's WARNING
notices), and a warning that does occur is logged, with parameter values masked."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import registry_core
from registry_core.sqlbackend import SQLMetadataBackend

SERVER_LOG = "registry_core.server"


def _server_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == SERVER_LOG and r.levelno >= logging.WARNING
    ]


def test_a_whole_session_leaves_no_server_warning(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="registry_core")
    with registry_core.connect(db_url, artifacts=tmp_path / "a") as reg:  # migrates
        a1 = reg.save_model(1, "a", description="d", tags={"k": "v", "t": None})
        reg.save_model(2, "a", tags={"k": "w"}, metrics={"acc": 0.5, "loss": 1.0})
        reg.save_model(3, "b", tags={"k": "v"}, metrics={"acc": 0.9}, parents=[("a", 1)])
        reg.save_model(4, "b", parents=[("a", 2), ("b", 1)])
        reg.set_tag("a", 1, "stage", "dev")
        reg.set_tag("a", 1, "stage", "prod")  # the upsert's update path
        reg.set_alias("a", "champion", 1)
        reg.set_alias("a", "champion", 2)  # moved: the alias upsert's update path
        reg.update_model("a", description="new")
        assert reg.get_model("a").description == "new"
        assert [m.name for m in reg.list_models()] == ["a", "b"]
        assert reg.get_version("a").version == "2"
        assert reg.get_version("a", 1).tags["stage"] == "prod"
        assert reg.get_version("a", alias="champion").version == "2"
        assert len(reg.list_versions("a")) == 2
        assert len(reg.latest_versions()) == 2
        assert len(reg.find_by_tag("k", "v")) == 2 and len(reg.find_by_tag("k")) == 3
        assert reg.best_version("b", "acc").version == "1"
        assert reg.best_version("a", "loss", higher_is_better=False).version == "2"
        ancestors = [(v.name, v.version) for v in reg.lineage("b", 2)]
        assert ancestors == [("a", "2"), ("b", "1"), ("a", "1")]
        assert len(reg.lineage("a", 1, direction="descendants")) == 2
        assert reg.load_model("a", alias="champion") == 2
        assert reg.stats().total_versions == 4
        assert reg.database_stats().row_counts["mr_model_versions"] == 4
        reg.backend.refresh_statistics()  # ANALYZE (TABLE), as a copy runs it
        reg.delete_tag("a", a1.version, "t")
        reg.delete_alias("a", "champion")
        reg.delete_version("a", 1)
        reg.delete_model("b")
        backend = reg.backend
        assert isinstance(backend, SQLMetadataBackend)
        shipped = [m.version for m in backend.migrations]
        assert backend.downgrade("000") == shipped[::-1]
        assert backend.migrate() == shipped  # again, on existing history
    assert _server_warnings(caplog) == []


# The probe statements are each server's own way to warn on purpose, so the test names the
# engine; SQLite has no warnings channel at all.
WARN = {
    "postgresql": "DO $$ BEGIN RAISE WARNING 'rc-warning-probe'; END $$",
    "mysql": "DO CAST(:v AS SIGNED)",
    "mariadb": "DO CAST(:v AS SIGNED)",
}


@pytest.mark.parametrize("engine", sorted(WARN))
def test_a_server_warning_is_logged_without_parameter_values(
    engine: str, backend: SQLMetadataBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=SERVER_LOG)
    backend.execute(WARN[engine], {"v": "12rc-secret-value"})
    (message,) = _server_warnings(caplog)
    assert "rc-secret-value" not in message
    if engine == "postgresql":
        assert "rc-warning-probe" in message
    else:
        assert "1292" in message  # ER_TRUNCATED_WRONG_VALUE: "Truncated incorrect INTEGER"
