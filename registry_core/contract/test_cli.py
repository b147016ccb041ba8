"""The `registry-core` command on every database: output, JSON, exit codes, no password."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

import registry_core
from registry_core.cli import EXIT_CHANGED, EXIT_OK, EXIT_PENDING, EXIT_USAGE, run
from registry_core.migrator import load_migrations

VERSIONS = [m.version for m in load_migrations()]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.registry_capabilities("migrations", "sql")
def test_status_migrate_downgrade_repair(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "status", "--url", db_url, "--json")
    assert code == EXIT_PENDING
    assert [p["version"] for p in json.loads(out)["pending"]] == VERSIONS

    code, out, _ = _cli(capsys, "migrate", "--url", db_url, "--to", "2")
    assert code == EXIT_OK and "applied 001, 002" in out
    code, out, _ = _cli(capsys, "migrate", "--url", db_url, "--json")
    assert code == EXIT_OK and json.loads(out)["applied"] == VERSIONS[2:]

    code, out, _ = _cli(capsys, "status", "--url", db_url)
    assert code == EXIT_OK
    assert "create_model_registry" in out and "pending" not in out

    code, _, err = _cli(capsys, "downgrade", "003", "--url", db_url)
    assert code == EXIT_USAGE and "--yes" in err
    code, out, _ = _cli(capsys, "downgrade", "003", "--yes", "--url", db_url, "--json")
    assert code == EXIT_OK and json.loads(out)["reverted"] == VERSIONS[:2:-1]

    code, out, _ = _cli(capsys, "repair", "--not-applied", "--url", db_url)
    assert code == EXIT_OK and "nothing to repair" in out
    code, out, _ = _cli(capsys, "sql", "--down", "--to", "1", "--url", db_url, "--json")
    assert [s["migration"][:3] for s in json.loads(out)] == ["003", "002"]
    code, _, err = _cli(capsys, "migrate", "--to", "two", "--url", db_url)
    assert code == EXIT_USAGE and "number" in err

    code, out, _ = _cli(capsys, "stats", "--url", db_url, "--json")
    data = json.loads(out)
    assert code == EXIT_OK and data["schema_version"] == "003"
    assert data["registry"]["total_models"] == 0 and "mr_models" in data["row_counts"]


@pytest.mark.registry_capabilities("migrations", "sql")
def test_output_never_shows_the_password(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    password = urlsplit(db_url).password
    outputs = []
    for args in (["sql", "--to", "001"], ["migrate"], ["status"], ["stats"]):
        outputs.append(_cli(capsys, *args, "--url", db_url))
    assert [o[0] for o in outputs] == [EXIT_OK] * 4
    assert "CREATE TABLE mr_models" in outputs[0][1]
    if password:  # an error path too: a database that does not exist
        missing = db_url.replace(urlsplit(db_url).path, "/rc_no_such_db")
        outputs.append(_cli(capsys, "status", "--url", missing))
        assert outputs[-1][0] != EXIT_OK
    if password:  # containers carry one; trust-auth URLs do not
        assert all(password not in o[1] + o[2] for o in outputs)
        assert any(":***@" in o[1] for o in outputs)


@pytest.mark.registry_capabilities("migrations", "sql")
def test_changed_migration_exit_code(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["migrate", "--url", db_url]) == EXIT_OK
    with registry_core.open_backend(db_url) as b:
        b.execute(  # type: ignore[attr-defined]
            "UPDATE schema_migrations SET checksum = :c WHERE version = :v",
            {"c": "sha256:edited", "v": "002"},
        )
    capsys.readouterr()
    code, out, _ = _cli(capsys, "status", "--url", db_url)
    assert code == EXIT_CHANGED and "002_add_performance_metrics" in out
    code, _, err = _cli(capsys, "migrate", "--url", db_url)
    assert code == EXIT_CHANGED and "changed since" in err
