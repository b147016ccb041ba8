"""The CLI where it needs no database: dry-run SQL for a dialect, usage and URL errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry_core.cli import (
    EXIT_DIRTY,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Ref,
    parse_ref,
    run,
)
from registry_core.cli.output import table


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_sql_without_a_connection(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "sql", "--dialect", "mariadb", "--json")
    statements = json.loads(out)
    assert code == EXIT_OK
    assert any("utf8mb4_nopad_bin" in s["sql"] for s in statements)
    code, out, _ = _cli(capsys, "sql", "--dialect", "postgresql", "--down")
    assert code == EXIT_OK and "DROP TABLE mr_model_aliases" in out


def test_errors_exit_nonzero_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "status", "--url", "mysql://u:hunter2@h:99999/db")
    assert code == EXIT_FAILED and "registry-core: error:" in err and "hunter2" not in err
    with pytest.raises(SystemExit) as info:
        run(["frobnicate"])
    assert info.value.code == EXIT_USAGE
    assert EXIT_DIRTY == 4


@pytest.mark.parametrize(
    ("text", "aliases", "expected"),
    [
        ("churn", True, Ref("churn", "churn")),
        ("churn@7", True, Ref("churn@7", "churn", version="7")),
        ("churn@champion", True, Ref("churn@champion", "churn", alias="champion")),
        ("churn@champion", False, Ref("churn@champion", "churn@champion")),
        ("team@ml@3", False, Ref("team@ml@3", "team@ml", version="3")),
        ("team@ml@", True, Ref("team@ml@", "team@ml")),
        ("@home", True, Ref("@home", "@home")),
        ("a@b@c", True, Ref("a@b@c", "a@b", alias="c")),
        ("x@\u0663", True, Ref("x@\u0663", "x", alias="\u0663")),  # not an ASCII digit
    ],
)
def test_ref_splits_at_the_last_at(text: str, aliases: bool, expected: Ref) -> None:
    assert parse_ref(text, aliases=aliases) == expected


def test_table_aligns_cuts_and_escapes() -> None:
    lines = table([("A", 5), ("B", 3)], [["abcdefgh", "x"], ["\x1b[31m", "yyyy"]])
    assert lines == ["A      B", "abcd…  x", "\\x1b…  yy…"]


def test_url_and_json_before_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = f"sqlite:///{tmp_path}/none.db"
    code, out, err = _cli(capsys, "--json", "--url", missing, "ls")
    error = json.loads(out)["error"]
    assert code == EXIT_FAILED and err == ""
    assert error["type"] == "NoRegistryError" and "none.db" in error["message"]
    # the command's own --url wins over the one before it
    code, out, _ = _cli(capsys, "--url", "sqlite:///elsewhere.db", "--json", "ls", "--url", missing)
    assert code == EXIT_FAILED and "none.db" in json.loads(out)["error"]["message"]


def test_ctrl_c_exits_130_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from registry_core.cli import entry

    def interrupted(argv: object = None) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(entry, "run", interrupted)
    with pytest.raises(SystemExit) as info:
        entry.main()
    assert info.value.code == 130
    assert capsys.readouterr().err == "registry-core: interrupted\n"  # once: nothing
