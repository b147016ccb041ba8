"""The event log on the command line: `history`, `events`, `show NAME@ALIAS --as-of` and
`--actor`, on every backend (the webhook relay's tests, which kill processes, are the
project's own: tests/contract/test_relay.py)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from registry_core import ModelRegistry
from registry_core.cli import EXIT_NOT_FOUND, EXIT_OK, run
from registry_core.urls import ARTIFACTS_ENV

pytestmark = pytest.mark.registry_capabilities("events", "aliases")


def _cli(capsys: pytest.CaptureFixture[str], db_url: str, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = run([*args, "--url", db_url])
    return code, capsys.readouterr().out


def test_history_events_and_show_as_of(
    registry: ModelRegistry,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ARTIFACTS_ENV, str(registry.artifacts.location))
    registry.save_model(1, "m")
    registry.save_model(2, "m")
    registry.set_alias("m", "champion", 1)
    time.sleep(0.01)
    between = datetime.now(timezone.utc).isoformat()
    time.sleep(0.01)
    assert run(["--actor", "zed", "alias", "m", "champion", "2", "--url", db_url]) == EXIT_OK
    code, out = _cli(capsys, db_url, "history", "m", "--action", "alias.set", "--json")
    events = json.loads(out)["events"]
    assert code == EXIT_OK
    assert next((e["actor"], e["version"]) for e in events) == ("zed", "2")
    assert [e["detail"]["before"] for e in events] == ["1", None]
    code, out = _cli(capsys, db_url, "history", "m@1")
    assert code == EXIT_OK and "version.created" in out and "alias.set" in out
    code, out = _cli(capsys, db_url, "events", "--consumer", "cli", "--json")
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["id"] for x in lines] == [1, 2, 3, 4, 5]
    assert _cli(capsys, db_url, "events", "--consumer", "cli", "--json") == (EXIT_OK, "")
    code, out = _cli(capsys, db_url, "events", "--after", "4", "--json")
    assert [json.loads(x)["action"] for x in out.splitlines()] == ["alias.set"]
    code, out = _cli(capsys, db_url, "show", "m@champion", "--as-of", between, "--json")
    assert code == EXIT_OK and json.loads(out)["version"] == "1"
    code, _ = _cli(capsys, db_url, "show", "m@champion", "--as-of", "2001-01-01T00:00:00Z")
    assert code == EXIT_NOT_FOUND
