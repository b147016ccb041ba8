"""The data commands of `registry-core` (ls, show, search, tag, untag, alias, rm) on every
database: tables and JSON, NAME@VERSION/@ALIAS parsing, paging, errors as JSON with their exit
codes, migration targets that do not exist, a closed output pipe, and no password anywhere."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import registry_core
from registry_core import BackendUnavailableError, ModelRegistry
from registry_core.cli import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_PIPE,
    EXIT_USAGE,
    run,
)
from registry_core.migrator import load_migrations
from registry_core.testing.databases import ENGINES
from registry_core.urls import ARTIFACTS_ENV

VERSIONS = [m.version for m in load_migrations()]
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:
    """run() with `--url` of the test's database; (exit code, stdout, stderr). Afterwards,
    checks that no output showed the database password."""
    monkeypatch.setenv(ARTIFACTS_ENV, str(tmp_path / "artifacts"))
    outputs: list[str] = []

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run([*args, "--url", db_url])
        out, err = capsys.readouterr()
        outputs.append(out + err)
        return code, out, err

    yield call
    password = urlsplit(db_url).password
    if password:
        assert not [o for o in outputs if password in o]


def _json(result: tuple[int, str, str], code: int = EXIT_OK) -> Any:
    assert result[0] == code, result
    return json.loads(result[1])


def _error(result: tuple[int, str, str], code: int, kind: str) -> str:
    """The message of a JSON error (on stdout, nothing on stderr) with this exit code."""
    data = _json(result, code)
    assert data["error"]["type"] == kind and result[2] == ""
    return str(data["error"]["message"])


def _column(lines: list[str], title: str) -> list[str]:
    """The cells under `title` of an aligned table (header first)."""
    start = lines[0].index(title)
    return [line[start:].split("  ")[0].strip() for line in lines[1:]]


@pytest.fixture
def filled(registry: ModelRegistry) -> ModelRegistry:
    """churn 1-3 (alias champion -> 2, model tag owner=ana), fraud 1, and names with '@':
    team@ml 1-2 (no model 'team'), a 1 (alias b -> 1) and a@b 1-2."""
    r = registry
    r.save_model([1], "churn", tags={"team": "growth"}, metrics={"auc": 0.8})
    r.save_model(
        [2],
        "churn",
        description="second",
        tags={"stage": "prod", "note": "x" * 200},
        metrics={"auc": 0.9, "loss": 0.25},
    )
    r.save_model([3], "churn")
    r.set_alias("churn", "champion", 2)
    r.update_model("churn", description="predicts churn")
    r.set_model_tag("churn", "owner", "ana")
    r.save_model([4], "fraud")
    for name, count in (("team@ml", 2), ("a", 1), ("a@b", 2)):
        for i in range(count):
            r.save_model([name, i], name)
    r.set_alias("a", "b", 1)
    return r


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_ls_models(filled: ModelRegistry, cli: Cli) -> None:
    code, out, _ = cli("ls")
    lines = out.splitlines()
    assert code == EXIT_OK and lines[0].split() == [
        "NAME",
        "LATEST",
        "UPDATED",
        "(UTC)",
        "DESCRIPTION",
    ]
    assert _column(lines, "NAME") == ["a", "a@b", "churn", "fraud", "team@ml"]
    assert _column(lines, "LATEST") == ["1", "2", "3", "1", "2"]
    assert _column(lines, "DESCRIPTION")[2] == "predicts churn"

    data = _json(cli("ls", "--json"))
    churn = data["models"][2]
    assert [m["name"] for m in data["models"]] == ["a", "a@b", "churn", "fraud", "team@ml"]
    assert churn["latest_version"] == "3" and churn["tags"] == {"owner": "ana"}
    assert churn["description"] == "predicts churn" and "updated_at" in churn


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_ls_versions(filled: ModelRegistry, cli: Cli) -> None:
    code, out, _ = cli("ls", "churn")
    lines = out.splitlines()
    assert code == EXIT_OK
    assert lines[0].split()[:5] == ["VERSION", "CREATED", "(UTC)", "SIZE", "ALIASES"]
    assert _column(lines, "VERSION") == ["1", "2", "3"]
    assert _column(lines, "ALIASES") == ["", "champion", ""]
    assert _column(lines, "METRICS") == ["auc=0.8", "auc=0.9, loss=0.25", ""]
    tags = _column(lines, "TAGS")
    assert tags[0] == "team=growth"
    assert tags[1].startswith("note=xxx") and tags[1].endswith("…") and len(tags[1]) <= 40
    assert all(s.endswith(" B") for s in _column(lines, "SIZE"))

    data = _json(cli("ls", "churn", "--json"))
    assert data["model"] == "churn" and [v["version"] for v in data["versions"]] == ["1", "2", "3"]
    second = data["versions"][1]
    assert second["tags"]["note"] == "x" * 200 and second["aliases"] == ["champion"]
    assert second["metrics"] == {"auc": 0.9, "loss": 0.25} and second["description"] == "second"

    # NAME is exact, '@' included
    data = _json(cli("ls", "team@ml", "--json"))
    assert [v["version"] for v in data["versions"]] == ["1", "2"]
    assert "team" in _error(cli("ls", "team", "--json"), EXIT_NOT_FOUND, "NotFoundError")


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_show_version_alias_latest(filled: ModelRegistry, cli: Cli, tmp_path: Path) -> None:
    def shown(ref: str) -> tuple[str, str]:
        data = _json(cli("show", ref, "--json"))
        return data["name"], data["version"]

    assert shown("churn") == ("churn", "3")
    assert shown("churn@1") == ("churn", "1")
    assert shown("churn@0001") == ("churn", "1")
    assert shown("churn@champion") == ("churn", "2")

    data = _json(cli("show", "churn@champion", "--json"))
    assert data["aliases"] == ["champion"] and data["tags"]["note"] == "x" * 200
    assert data["checksum"].startswith("sha256:") and data["file_size_bytes"] > 0
    assert Path(data["file"]) == tmp_path / "artifacts" / data["storage_path"]
    assert Path(data["file"]).is_file()

    code, out, _ = cli("show", "churn@champion")
    assert code == EXIT_OK
    assert "version:      2" in out and "aliases:      champion" in out
    assert "x" * 200 in out and "auc" in out and "loss" in out and "second" in out

    other = tmp_path / "elsewhere"
    data = _json(cli("show", "churn@1", "--json", "--artifacts", str(other)))
    assert data["file"].startswith(str(other))

    for ref, words in (("churn@9", "version 9"), ("churn@best", "alias 'best'"), ("no", "no")):
        assert words in _error(cli("show", ref, "--json"), EXIT_NOT_FOUND, "NotFoundError")


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_show_names_with_at(filled: ModelRegistry, cli: Cli) -> None:
    def shown(ref: str) -> tuple[str, str]:
        data = _json(cli("show", ref, "--json"))
        return data["name"], data["version"]

    # no model 'team': the whole text is the name
    assert shown("team@ml") == ("team@ml", "2")
    assert shown("team@ml@1") == ("team@ml", "1")
    assert shown("team@ml@") == ("team@ml", "2")
    # model 'a' has alias 'b': that wins; a trailing '@' means the model 'a@b'
    assert shown("a@b") == ("a", "1")
    assert shown("a@b@") == ("a@b", "2")
    assert shown("a@b@1") == ("a@b", "1")
    assert shown("a@") == ("a", "1")
    _error(cli("show", "a@b@7", "--json"), EXIT_NOT_FOUND, "NotFoundError")


def test_ref_rule_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("show", "tag", "untag", "rm"):
        with pytest.raises(SystemExit) as info:
            run([command, "--help"])
        assert info.value.code == EXIT_OK and "split at the last '@'" in capsys.readouterr().out


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_search_one_page_and_all(filled: ModelRegistry, cli: Cli) -> None:
    churn = "name = 'churn'"
    first = _json(cli("search", churn, "--page-size", "2", "--json"))
    assert [(v["name"], v["version"]) for v in first["versions"]] == [
        ("churn", "1"),
        ("churn", "2"),
    ]
    token = first["next_page_token"]
    assert token
    rest = _json(cli("search", churn, "--page-size", "2", "--page-token", token, "--json"))
    assert [v["version"] for v in rest["versions"]] == ["3"] and rest["next_page_token"] is None

    code, out, err = cli("search", churn, "--page-size", "2")
    lines = out.splitlines()
    assert code == EXIT_OK and _column(lines, "VERSION") == ["1", "2"]
    assert f"--page-token {token}" in err and token not in out

    everything = _json(cli("search", "--all", "--page-size", "2", "--json"))
    names = [(v["name"], v["version"]) for v in everything["versions"]]
    assert everything["next_page_token"] is None and len(names) == 9
    assert names == sorted(names, key=lambda nv: (nv[0], int(nv[1])))
    code, out, err = cli("search", "--all", "--page-size", "2")
    assert code == EXIT_OK and len(out.splitlines()) == 1 + 9 and err == ""

    ordered = _json(cli("search", churn, "--order-by", "metrics.auc DESC", "--json"))
    assert [v["version"] for v in ordered["versions"]] == ["2", "1", "3"]  # no auc: last
    by_alias = _json(cli("search", "alias IS NOT NULL", "--json"))
    assert [(v["name"], v["aliases"]) for v in by_alias["versions"]] == [
        ("a", ["b"]),
        ("churn", ["champion"]),
    ]

    models = _json(cli("search", "tags.owner = 'ana'", "--models", "--json"))
    assert [m["name"] for m in models["models"]] == ["churn"]
    code, out, _ = cli("search", "name LIKE 'a%'", "--models", "--page-size", "1", "--all")
    assert code == EXIT_OK and _column(out.splitlines(), "NAME") == ["a", "a@b"]
    code, out, _ = cli("search", "name = 'nothing'")
    assert code == EXIT_OK and "no versions match" in out

    assert "at character" in _error(
        cli("search", "name = ", "--json"), EXIT_FAILED, "InvalidInputError"
    )
    _error(
        cli("search", churn, "--page-token", "garbage", "--json"), EXIT_FAILED, "InvalidInputError"
    )
    other = cli("search", "name = 'fraud'", "--page-token", token, "--json")
    _error(other, EXIT_FAILED, "InvalidInputError")


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_tag_and_untag(filled: ModelRegistry, cli: Cli) -> None:
    r = filled
    data = _json(cli("tag", "churn@1", "stage", "dev", "--json"))
    assert data == {"name": "churn", "version": "1", "key": "stage", "value": "dev"}
    assert r.get_version("churn", 1).tags["stage"] == "dev"
    code, out, _ = cli("tag", "churn", "owner", "bo")
    assert code == EXIT_OK and "model 'churn': tag 'owner' set" in out
    assert r.get_model("churn").tags == {"owner": "bo"}

    # '@' in names: a word after '@' is part of the name; a trailing '@' ends it
    assert _json(cli("tag", "team@ml", "k", "1", "--json"))["version"] is None
    assert _json(cli("tag", "team@ml@", "k2", "2", "--json"))["name"] == "team@ml"
    assert _json(cli("tag", "team@ml@2", "k", "3", "--json"))["version"] == "2"
    assert r.get_model("team@ml").tags == {"k": "1", "k2": "2"}
    assert r.get_version("team@ml", 2).tags == {"k": "3"}

    data = _json(cli("untag", "churn@1", "stage", "--json"))
    assert data["deleted"] is True and "stage" not in r.get_version("churn", 1).tags
    code, out, _ = cli("untag", "churn", "owner")
    assert code == EXIT_OK and "removed" in out and r.get_model("churn").tags == {}

    message = _error(cli("untag", "churn@1", "stage", "--json"), EXIT_NOT_FOUND, "NotFoundError")
    assert "stage" in message
    code, _, err = cli("untag", "churn", "owner")
    assert code == EXIT_NOT_FOUND and err.startswith("registry-core: error:")
    _error(cli("tag", "churn@9", "k", "v", "--json"), EXIT_NOT_FOUND, "NotFoundError")

    # a model named like NAME@VERSION: writes never fall back, they say how to write it
    r.save_model([0], "build@2")
    message = _error(cli("tag", "build@2", "k", "v", "--json"), EXIT_NOT_FOUND, "NotFoundError")
    assert "'build@2@'" in message
    assert _json(cli("tag", "build@2@", "k", "v", "--json"))["name"] == "build@2"
    assert r.get_model("build@2").tags == {"k": "v"}


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_alias(filled: ModelRegistry, cli: Cli) -> None:
    r = filled
    data = _json(cli("alias", "churn", "best", "1", "--json"))
    assert data == {"name": "churn", "alias": "best", "version": "1"}
    assert r.get_version("churn", alias="best").version == "1"
    code, out, _ = cli("alias", "churn", "best", "3")
    assert code == EXIT_OK and "-> version 3" in out
    assert r.get_version("churn", alias="best").version == "3"
    assert _json(cli("alias", "team@ml", "live", "1", "--json"))["name"] == "team@ml"

    data = _json(cli("alias", "churn", "best", "--delete", "--json"))
    assert data == {"name": "churn", "alias": "best", "deleted": True}
    _error(cli("alias", "churn", "best", "--delete", "--json"), EXIT_NOT_FOUND, "NotFoundError")
    _error(cli("alias", "churn", "best", "--json"), EXIT_USAGE, "UsageError")
    _error(cli("alias", "churn", "best", "1", "--delete", "--json"), EXIT_USAGE, "UsageError")
    _error(cli("alias", "churn", "best", "9", "--json"), EXIT_NOT_FOUND, "NotFoundError")
    _error(cli("alias", "churn", "42", "1", "--json"), EXIT_FAILED, "InvalidInputError")
    assert r.get_version("churn", alias="champion").version == "2"


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_rm_asks_for_yes(filled: ModelRegistry, cli: Cli, tmp_path: Path) -> None:
    r = filled
    files = {v.version: tmp_path / "artifacts" / v.storage_path for v in r.list_versions("churn")}
    assert all(f.is_file() for f in files.values())

    code, _, err = cli("rm", "churn@2")
    assert code == EXIT_USAGE and "version 2 of 'churn'" in err and "--yes" in err
    assert "champion" in err
    result = cli("rm", "churn", "--json")
    assert "3 version(s)" in _error(result, EXIT_USAGE, "UsageError")
    assert json.loads(result[1])["would_delete"] == {
        "name": "churn",
        "version": None,
        "versions": ["1", "2", "3"],
    }
    assert [v.version for v in r.list_versions("churn")] == ["1", "2", "3"]
    assert all(f.is_file() for f in files.values())

    data = _json(cli("rm", "churn@2", "--yes", "--json"))
    assert data == {"deleted": {"name": "churn", "version": "2"}}
    assert [v.version for v in r.list_versions("churn")] == ["1", "3"]
    assert not files["2"].exists() and files["1"].is_file()
    _error(cli("rm", "churn@2", "--yes", "--json"), EXIT_NOT_FOUND, "NotFoundError")
    _error(cli("show", "churn@champion", "--json"), EXIT_NOT_FOUND, "NotFoundError")

    code, out, _ = cli("rm", "churn", "--yes")
    assert code == EXIT_OK and "deleted model 'churn' with its 2 version(s)" in out
    assert not any(f.exists() for f in files.values())
    _error(cli("ls", "churn", "--json"), EXIT_NOT_FOUND, "NotFoundError")

    # a word after '@' is part of the name
    assert _json(cli("rm", "team@ml", "--yes", "--json"))["deleted"]["versions"] == ["1", "2"]
    assert _json(cli("ls", "--json"))["models"][-1]["name"] == "fraud"


@pytest.mark.registry_capabilities("migrations")
def test_errors_in_json(db_url: str, cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    # an empty database, then one with pending migrations: the data commands never migrate
    registry_core.open_backend(db_url).close()
    for args in (("ls",), ("show", "x"), ("search",), ("tag", "x", "k", "v"), ("rm", "x")):
        _error(cli(*args, "--json"), EXIT_PENDING, "SchemaOutOfDateError")
    assert cli("migrate", "--to", "1")[0] == EXIT_OK
    message = _error(cli("ls", "--json"), EXIT_PENDING, "SchemaOutOfDateError")
    assert "registry-core migrate" in message
    code, _, err = cli("ls")
    assert code == EXIT_PENDING and err.startswith("registry-core: error:")
    assert _json(cli("status", "--json"), EXIT_PENDING)["current"] == "001"

    # argparse's errors too, as JSON when --json was asked for
    with pytest.raises(SystemExit) as info:
        run(["show", "--json"])
    out, err = capsys.readouterr()
    assert info.value.code == EXIT_USAGE and err == ""
    assert json.loads(out)["error"]["type"] == "UsageError"
    with pytest.raises(SystemExit) as info:
        run(["search", "--page-size", "many"])
    out, err = capsys.readouterr()
    assert info.value.code == EXIT_USAGE and "usage:" in err and "invalid int" in err
    _error(cli("downgrade", "000", "--json"), EXIT_USAGE, "UsageError")


@pytest.mark.registry_capabilities("migrations")
def test_migration_targets_that_do_not_exist(db_url: str, cli: Cli) -> None:
    for args in (("migrate", "--to", "999"), ("migrate", "--to", "000"), ("sql", "--to", "42")):
        message = _error(cli(*args, "--json"), EXIT_USAGE, "UsageError")
        assert ", ".join(VERSIONS) in message
    code, _, err = cli("migrate", "--to", "999")
    assert code == EXIT_USAGE and "no migration 999" in err
    # nothing was applied
    assert _json(cli("status", "--json"), EXIT_PENDING)["current"] is None

    assert cli("migrate")[0] == EXIT_OK
    code, _, err = cli("downgrade", "999", "--yes")
    assert code == EXIT_USAGE and "no migration 999" in err and VERSIONS[-1] in err
    _error(cli("downgrade", "9", "--yes", "--json"), EXIT_USAGE, "UsageError")
    assert _json(cli("status", "--json"))["current"] == VERSIONS[-1]
    statements = _json(cli("sql", "--down", "--to", "000", "--json"))
    assert statements[0]["migration"].startswith(VERSIONS[-1])
    assert _json(cli("downgrade", "000", "--yes", "--json"))["reverted"] == VERSIONS[::-1]


def _pipe_closed_early(db_url: str, cwd: Path, args: list[str], read_line: bool) -> None:
    """Runs `python -m registry_core ARGS --url URL` into a pipe that is closed after one line
    (or at once): it must exit EXIT_PIPE with no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry_core", *args, "--url", db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, ARTIFACTS_ENV: str(cwd / "artifacts")},
    )
    assert proc.stdout is not None and proc.stderr is not None
    if read_line:
        assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == EXIT_PIPE, err
    assert "Traceback" not in err and "Exception ignored" not in err
    password = urlsplit(db_url).password
    assert not password or password not in err


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_closed_output_pipe(filled: ModelRegistry, db_url: str, tmp_path: Path) -> None:
    # more than a pipe holds (64 KiB), so the command is still writing when the reader leaves
    filled.save_model([0], "big", tags={f"k{i:04}": "v" * 200 for i in range(1000)})
    _pipe_closed_early(db_url, tmp_path, ["ls", "big", "--json"], read_line=True)
    _pipe_closed_early(db_url, tmp_path, ["ls"], read_line=False)


READ_ONLY = [
    ["stats"],
    ["ls"],
    ["ls", "churn"],
    ["show", "churn@1"],
    ["search", "name = 'churn'"],
    ["fsck"],
]
WRITES = [
    ["tag", "churn", "k", "v"],
    ["untag", "churn@1", "k"],
    ["alias", "churn", "best", "1"],
    ["rm", "churn", "--yes"],
    ["downgrade", "000", "--yes"],
    ["repair", "--applied"],
]


@pytest.mark.parametrize("args", READ_ONLY + WRITES, ids=lambda a: " ".join(a))
def test_a_missing_sqlite_file_is_not_created(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not per engine: SQLite files only. Nothing but `migrate` creates a database."""
    for path in (tmp_path / "nodir" / "x.db", tmp_path / "x.db"):
        url = f"sqlite:///{path}"
        code = run([*args, "--url", url])
        _, err = capsys.readouterr()
        assert code == EXIT_FAILED and f"no registry at {path}" in err
        code = run([*args, "--url", url, "--json"])
        message = _error((code, *capsys.readouterr()), EXIT_FAILED, "NoRegistryError")
        assert message.startswith("no registry at")
        assert not path.exists() and not path.parent.joinpath("artifacts").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.registry_capabilities("migrations")
def test_status_and_sql_on_a_missing_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status` and `sql` answer for the empty database `migrate` would create, creating
    nothing; `migrate` then runs exactly that SQL."""
    path = tmp_path / "nodir" / "x.db"
    url = f"sqlite:///{path}"
    assert run(["status", "--url", url, "--json"]) == EXIT_PENDING
    data = json.loads(capsys.readouterr().out)
    assert data["exists"] is False and data["current"] is None
    assert [p["version"] for p in data["pending"]] == VERSIONS
    assert run(["status", "--url", url]) == EXIT_PENDING
    assert "registry-core migrate" in capsys.readouterr().out
    assert run(["sql", "--url", url, "--to", "2", "--json"]) == EXIT_OK
    labels = {s["migration"][:3] for s in json.loads(capsys.readouterr().out)}
    assert labels == {"001", "002"}
    assert run(["sql", "--url", url, "--down", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == []
    assert not (tmp_path / "nodir").exists()

    assert run(["migrate", "--url", url]) == EXIT_OK
    assert path.is_file()
    capsys.readouterr()
    assert run(["status", "--url", url, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["exists"] is True


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run(["--version"])
    assert info.value.code == EXIT_OK
    assert capsys.readouterr().out == f"registry-core {registry_core.__version__}\n"


# -- issue 16, point 9: the command line's rough edges ----------------------------------------
@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags", "search")
def test_search_all_streams_page_by_page_and_ends_its_json_on_a_failure(
    filled: ModelRegistry, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str | None] = []
    real = ModelRegistry.search_versions

    def flaky(self: ModelRegistry, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("page_token"))
        if len(calls) == 3:  # the third page: the server went away
            raise BackendUnavailableError("the database is unavailable (test)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ModelRegistry, "search_versions", flaky)
    code, out, err = cli("search", "--all", "--page-size", "2", "--json")
    data = json.loads(out)  # still one JSON document
    assert code == EXIT_FAILED and err == ""
    assert len(data["versions"]) == 4 and data["error"]["type"] == "BackendUnavailableError"
    resume = data["next_page_token"]
    assert resume == calls[2]  # where to go on from
    monkeypatch.setattr(ModelRegistry, "search_versions", real)
    rest = _json(cli("search", "--all", "--page-size", "2", "--json", "--page-token", resume))
    names = [(v["name"], v["version"]) for v in data["versions"] + rest["versions"]]
    assert len(names) == 9 and names == sorted(names, key=lambda nv: (nv[0], int(nv[1])))
    code, out, _ = cli("search", "--all", "--page-size", "2")  # a table: one header, aligned
    lines = out.splitlines()
    assert code == EXIT_OK and len(lines) == 10 and lines[0].startswith("NAME")
    assert len({line.index(" " + line.split()[2]) for line in lines[1:]}) == 1


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_page_size_out_of_range_is_bad_usage(filled: ModelRegistry, cli: Cli) -> None:
    for size in ("0", "1001", "-3"):
        code, _, err = cli("search", "--page-size", size)
        assert code == EXIT_USAGE and "--page-size" in err  # once: exit 1


@pytest.mark.registry_engines(*ENGINES)  # how each built-in engine makes an empty database
def test_commands_on_a_database_without_the_schema_say_migrations_are_pending(
    db_url: str, engine: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    if engine == "sqlite":  # a file that exists but holds no registry
        sqlite3.connect(urlsplit(db_url).path[1:]).close()
    for command in (["ls"], ["stats"], ["fsck", "--artifacts", str(tmp_path / "a")]):
        assert run([*command, "--url", db_url]) == EXIT_PENDING, command  # once: stats 1
        assert "registry-core migrate" in capsys.readouterr().err


def test_search_help_offers_each_target_its_own_fields(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "versions: name, version, created_at or metrics.KEY" in text
    assert "models (--models): name, created_at or updated_at" in text


@pytest.mark.registry_capabilities("aliases", "metrics", "model-tags")
def test_show_says_when_the_file_is_missing(filled: ModelRegistry, cli: Cli) -> None:
    mv = filled.get_version("churn", 2)
    Path(filled.artifacts.describe(mv.storage_path)).unlink()
    code, out, _ = cli("show", "churn@2")
    assert code == EXIT_OK and "(missing)" in out  # once: a path, as if it were there
    assert _json(cli("show", "churn@2", "--json"))["file_problem"] == "missing"
    assert _json(cli("show", "churn@1", "--json"))["file_problem"] is None
