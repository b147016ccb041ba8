"""`registry-core` (also `python -m registry_core`): models, versions, migrations and statistics
from a shell.

Commands: `ls [NAME]`, `show REF`, `search [FILTER]`, `tag REF KEY VALUE`, `untag REF KEY`,
`alias NAME ALIAS (VERSION | --delete)`, `rm REF --yes`, and `migrate`, `downgrade`, `status`,
`repair`, `sql`, `stats`, `fsck`, `copy SOURCE_URL TARGET_URL`; `registry-core --version`
prints `registry-core <version>`. Every command takes `--json`, and all but `copy` (which names
its two databases) take `--url` (see `registry-core COMMAND --help`).

REF is NAME[@VERSION|@ALIAS], split at the LAST '@' (model names may contain '@'): all digits
after it is a version (aliases are never all digits), another word an alias (`show` only; `tag`,
`untag` and `rm` take a version, and a word after '@' there is part of the name), nothing after
it (`a@b@`) means the name before it without a version. No '@', or nothing before it: the whole
text is the name. `show` alone falls back: if NAME@X finds nothing and a model is named exactly
NAME@X, it shows that model's latest version. Writes never fall back; they fail with a hint.

Output: tables for people (aligned, long values cut with an ellipsis, times in UTC), JSON with
`--json`. Errors: `registry-core: error: MESSAGE` on stderr; with `--json`, the object
`{"error": {"type": "<exception class>", "message": "..."}}` on stdout instead (usage errors
too, type "UsageError"), with the same exit code. No message shows a password.

Exit codes:
    0    done (`status`: up to date)
    1    failed (a RegistryError: the database cannot be reached, bad input such as a filter
         or page token, no registry at a SQLite path that does not exist, `copy` found a
         target version that differs from the source's or a source file that does not match
         its checksum, ...)
    2    bad usage (unknown command or option, a migration version that does not exist, `rm`
         or `downgrade` without --yes, `alias` with neither VERSION nor --delete)
    3    migrations are pending (`status`; the data commands, which never migrate)
    4    the schema is dirty (a migration failed part-way)
    5    applied migration files have changed since they were applied
    6    `fsck` found problems
    7    not found (a model, version, alias or tag: NotFoundError; `copy --model` naming a
         model the source does not have)
    130  interrupted (Ctrl-C)
    141  stdout was closed early (`registry-core ls | head -1`): the rest of the output is
         dropped quietly, without a traceback; 141 is what a shell reports for a program ended
         by SIGPIPE, so `set -o pipefail` scripts see the same as with other tools.

Commands other than `migrate` never create a database. A SQLite URL whose file does not exist
is checked before anything is opened: `status` reports an empty database with every migration
pending (exit 3, JSON "exists": false) and `sql` prints what `migrate` would run there; every
other command fails with "no registry at PATH" (exit 1). The data commands connect with
`migrate=False`; only `migrate` changes the schema (and `downgrade`, `repair`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from registry_core import __version__
from registry_core.errors import (
    MigrationError,
    NotFoundError,
    RegistryError,
    SchemaOutOfDateError,
)
from registry_core.fsck import DEFAULT_GRACE, verify
from registry_core.migrator import MigrationStatus, Migrator, load_migrations, normalize_target
from registry_core.records import Model, ModelVersion, Page
from registry_core.registry import ModelRegistry, artifact_store_for, connect
from registry_core.stores.base import store_errors
from registry_core.transfer import CopyReport, copy_registry
from registry_core.urls import (
    ARTIFACTS_ENV,
    URL_ENV,
    DatabaseURL,
    parse_url,
    resolve_url,
    scrub,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PENDING, EXIT_DIRTY, EXIT_CHANGED = 0, 1, 2, 3, 4, 5
EXIT_PROBLEMS = 6  # fsck found missing or changed files, or debris it did not remove
EXIT_NOT_FOUND = 7  # NotFoundError: no such model, version, alias or tag
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # stdout closed by the reader (128 + SIGPIPE)

_REF_RULE = """\
REF is NAME[@VERSION|@ALIAS], split at the last '@' (names may contain '@'):
  churn          the latest version of churn
  churn@7        version 7 (all digits: a version; aliases are never all digits)
  churn@champion the version alias 'champion' points to (show only)
  team@ml@       the model 'team@ml' (a trailing '@' ends the name: no version)
No '@', or nothing before it: the whole text is the name. show falls back: if
NAME@X finds nothing and a model is named exactly NAME@X, its latest version is
shown. tag, untag and rm take @VERSION only (a word after '@' is part of the name)
and never fall back."""

# -- parsing -------------------------------------------------------------------------------


class UsageError(RegistryError):
    """The command line asks for something that cannot be done as written (exit 2).
    `details` go into the JSON error object beside "error"."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class NoRegistryError(RegistryError):
    """A SQLite URL names a file that does not exist (exit 1); nothing was created."""


class _ArgumentError(Exception):
    """argparse found bad usage; run() reports it as text or JSON."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(self, message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="registry-core",
        description="Look at and change a registry-core registry; manage its schema.",
        epilog=f"The URL comes from --url, else ${URL_ENV}, else sqlite:///registry.db. "
        "Exit codes: 0 ok, 1 failed, 2 usage, 3 migrations pending, 4 dirty schema, "
        "5 changed migration, 6 fsck problems, 7 not found, 141 output pipe closed.",
    )
    p.add_argument("--version", action="version", version=f"registry-core {__version__}")
    # also before the command (`registry-core --json ls`); the command's own option wins
    p.add_argument("--url", dest="url_before", metavar="URL", help="connection string")
    p.add_argument("--json", dest="json_before", action="store_true", help="print JSON")
    common = _Parser(add_help=False)
    common.add_argument("--url", help=f"connection string (default: ${URL_ENV})")
    common.add_argument(
        "--json",
        action="store_true",
        help='print JSON instead of a table (errors too: an {"error": ...} object on stdout)',
    )
    common_json = _Parser(add_help=False)
    common_json.add_argument(
        "--json",
        action="store_true",
        help='print JSON instead of text (errors too: an {"error": ...} object on stdout)',
    )
    files = _Parser(add_help=False)
    files.add_argument(
        "--artifacts",
        metavar="PATH|URL",
        help="the artifact store: a folder, or an s3://, gs://, az://, abfs://, memory:// or "
        f"file:// URL (default: ${ARTIFACTS_ENV}, else beside a SQLite file, else "
        "./artifacts/<backend>-<host>-<port>-<database> for a server database)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data(
        name: str, summary: str, *, parents: Sequence[_Parser] = ()
    ) -> argparse.ArgumentParser:
        """A subcommand that takes a REF, with the REF rule as its epilog."""
        return sub.add_parser(
            name,
            parents=[common, *parents],
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=_REF_RULE,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    ls = sub.add_parser(
        "ls",
        parents=[common],
        help="the models, or one model's versions",
        description="Without NAME: every model with its latest version. With NAME (exactly, "
        "'@' included): that model's versions.",
    )
    ls.add_argument("name", nargs="?", metavar="NAME")
    show = data("show", "one version in full", parents=[files])
    show.add_argument("ref", metavar="REF", help="NAME[@VERSION|@ALIAS]")
    search = sub.add_parser(
        "search",
        parents=[common],
        help="versions (or models) matching a filter, one page or all",
        description="Versions (with --models: models) matching FILTER, e.g. "
        "\"tags.stage = 'prod' AND metrics.auc > 0.9\" (README: Searching). One page, and "
        "the token of the next (on stderr for people, 'next_page_token' in JSON); --all: "
        "every page.",
    )
    search.add_argument("filter", nargs="?", metavar="FILTER", help="default: everything")
    search.add_argument("--models", action="store_true", help="search models, not versions")
    search.add_argument(
        "--order-by",
        action="append",
        metavar="FIELD",
        help="name, version, created_at, updated_at or metrics.KEY, optionally followed by "
        "ASC or DESC (quote it); repeat for ties (default: name, then version)",
    )
    search.add_argument("--page-size", type=int, default=100, metavar="N", help="1..1000")
    search.add_argument("--page-token", metavar="TOKEN", help="continue where a page ended")
    search.add_argument("--all", action="store_true", help="every page, not one")
    tag = data("tag", "set a tag of a version (REF with @VERSION) or of the model")
    tag.add_argument("ref", metavar="REF", help="NAME[@VERSION]")
    tag.add_argument("key", metavar="KEY")
    tag.add_argument("value", metavar="VALUE")
    untag = data("untag", "remove a tag of a version (REF with @VERSION) or of the model")
    untag.add_argument("ref", metavar="REF", help="NAME[@VERSION]")
    untag.add_argument("key", metavar="KEY")
    alias = sub.add_parser(
        "alias",
        parents=[common],
        help="point an alias at a version, or remove it",
        description="`alias NAME ALIAS VERSION` points ALIAS at VERSION of the model NAME "
        "(exactly, '@' included); `alias NAME ALIAS --delete` removes it.",
    )
    alias.add_argument("name", metavar="NAME")
    alias.add_argument("alias", metavar="ALIAS")
    alias.add_argument("version", nargs="?", metavar="VERSION")
    alias.add_argument("--delete", action="store_true", help="remove the alias")
    rm = data(
        "rm", "delete a version (REF with @VERSION) or a model with its files", parents=[files]
    )
    rm.add_argument("ref", metavar="REF", help="NAME[@VERSION]")
    rm.add_argument("--yes", action="store_true", help="confirm: deletes metadata and files")

    m = sub.add_parser("migrate", parents=[common], help="apply pending migrations")
    m.add_argument("--to", metavar="VERSION", help="stop after this version (e.g. 002)")
    d = sub.add_parser("downgrade", parents=[common], help="revert migrations above VERSION")
    d.add_argument("version", help="the version to keep (000 reverts everything)")
    d.add_argument("--yes", action="store_true", help="confirm: down migrations drop data")
    sub.add_parser("status", parents=[common], help="applied, pending and dirty migrations")
    r = sub.add_parser(
        "repair", parents=[common], help="resolve a dirty migration after fixing the schema"
    )
    state = r.add_mutually_exclusive_group(required=True)
    state.add_argument(
        "--applied",
        action="store_true",
        help="the schema now has everything the migration makes: record it",
    )
    state.add_argument(
        "--not-applied",
        action="store_true",
        help="the schema has none of it: forget it, so migrate runs it again",
    )
    s = sub.add_parser("sql", parents=[common], help="print the SQL migrations would run (dry run)")
    s.add_argument("--down", action="store_true", help="the down migrations instead")
    s.add_argument("--to", metavar="VERSION", help="only up to this version")
    s.add_argument(
        "--dialect",
        choices=["sqlite", "postgresql", "mysql", "mariadb"],
        help="render for this database without connecting",
    )
    sub.add_parser("stats", parents=[common], help="registry and database statistics")
    f = sub.add_parser(
        "fsck",
        parents=[common, files],
        help="check the artifact store against the database (missing, changed, orphan files)",
    )
    f.add_argument(
        "--repair",
        action="store_true",
        help="delete orphan files and stale staging files (never a file a version points to)",
    )
    f.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help=f"leave files younger than this alone (default {DEFAULT_GRACE:g}: a save may be "
        "in progress)",
    )
    f.add_argument("--quick", action="store_true", help="check sizes only, not sha256")
    c = sub.add_parser(
        "copy",
        parents=[common_json],
        help="copy a registry (database and files) to another database, losslessly",
        description="Copy every model (or those named by --model) with its versions, numbers, "
        "times, tags, metrics, lineage, aliases and files from SOURCE_URL to TARGET_URL "
        "(migrated first). Resumable: run it again after an interruption; a complete copy "
        "run again writes nothing. A copy to sqlite:///backup.db is a backup (README: "
        "'Moving and backing up a registry').",
    )
    c.add_argument("source", metavar="SOURCE_URL", help="the registry to copy (only read)")
    c.add_argument("target", metavar="TARGET_URL", help="where to copy it")
    c.add_argument(
        "--source-artifacts",
        metavar="PATH",
        help=f"the source's artifact store, a folder or a URL such as s3://bucket/prefix "
        f"(default: ${ARTIFACTS_ENV}, else beside a SQLite source, else the server "
        "database's own folder under ./artifacts/)",
    )
    c.add_argument(
        "--target-artifacts",
        metavar="PATH",
        help=f"the target's artifact store, a folder or a URL such as s3://bucket/prefix "
        f"(default: ${ARTIFACTS_ENV}, else beside a SQLite target, else the server "
        "database's own folder under ./artifacts/)",
    )
    c.add_argument(
        "--shared-artifacts",
        action="store_true",
        help="allow the source and the target to share one artifact store (no files are "
        "copied; deleting a version in one registry deletes the other's file)",
    )
    c.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="copy only this model (repeat for more); lineage edges to models neither "
        "selected nor on the target are skipped and counted",
    )
    bar = c.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="show the progress bar (default: only if stderr is a terminal)",
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


@dataclass(frozen=True)
class Ref:
    """A NAME[@VERSION|@ALIAS] argument, split (see _REF_RULE); `text` is as typed."""

    text: str
    name: str
    version: str | None = None
    alias: str | None = None

    @property
    def selects(self) -> bool:
        return self.version is not None or self.alias is not None


def parse_ref(text: str, *, aliases: bool = True) -> Ref:
    """Splits REF at its last '@' (see _REF_RULE); `aliases=False` for the writes, where a
    word after '@' stays part of the name."""
    head, at, tail = text.rpartition("@")
    if not at or not head:
        return Ref(text, text)
    if not tail:
        return Ref(text, head)
    if tail.isascii() and tail.isdigit():
        return Ref(text, head, version=tail)
    if aliases:
        return Ref(text, head, alias=tail)
    return Ref(text, text)


def _migration_target(args: argparse.Namespace) -> str | None:
    """The migration version the command names ("2" -> "002"), checked against the shipped
    migrations; UsageError naming them if it is none of them (000: downgrades only)."""
    raw = args.version if args.command == "downgrade" else getattr(args, "to", None)
    if raw is None:
        return None
    try:
        target = normalize_target(raw)
    except MigrationError as exc:
        raise UsageError(str(exc)) from None
    known = [m.version for m in load_migrations()]
    down = args.command == "downgrade" or (args.command == "sql" and args.down)
    if target in known or (down and target == "000"):
        return target
    also = " (and 000: revert everything)" if down else ""
    raise UsageError(
        f"there is no migration {target}; the known versions are {', '.join(known)}{also}"
    )


# -- output --------------------------------------------------------------------------------


def _emit(as_json: bool, data: Any, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(lines))


def _ellipsis() -> str:
    try:
        "…".encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "..."
    return "…"


def _printable(text: str) -> str:
    """`text` with control characters (newlines, terminal escapes) shown as escapes."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _cut(text: str, width: int, ellipsis: str) -> str:
    return text if len(text) <= width else text[: max(width - len(ellipsis), 1)] + ellipsis


def _table(columns: Sequence[tuple[str, int]], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned lines: a header of (title, maximum width) columns, then the rows; a cell wider
    than its column ends in an ellipsis. The last column is not padded."""
    dots = _ellipsis()
    cells = [
        [_cut(_printable(c), w, dots) for c, (_, w) in zip(row, columns, strict=True)]
        for row in rows
    ]
    titles = [t for t, _ in columns]
    widths = [max([len(t)] + [len(r[i]) for r in cells]) for i, t in enumerate(titles)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return [line(titles), *(line(r) for r in cells)]


def _when(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def _tags_text(tags: Any) -> str:
    return ", ".join(k if v is None else f"{k}={v}" for k, v in sorted(tags.items()))


def _metrics_text(metrics: Any) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))


def _version_data(mv: ModelVersion) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": mv.version,
        "description": mv.description,
        "created_at": mv.created_at.isoformat(),
        "file_size_bytes": mv.file_size_bytes,
        "checksum": mv.checksum,
        "storage_path": mv.storage_path,
        "aliases": list(mv.aliases),
        "tags": dict(mv.tags),
        "metrics": dict(mv.metrics),
    }


def _model_data(m: Model) -> dict[str, Any]:
    return {
        "name": m.name,
        "description": m.description,
        "created_at": m.created_at.isoformat(),
        "updated_at": m.updated_at.isoformat(),
        "tags": dict(m.tags),
    }


_VERSION_COLUMNS = [
    ("NAME", 32),
    ("VERSION", 8),
    ("CREATED (UTC)", 19),
    ("SIZE", 10),
    ("ALIASES", 24),
    ("TAGS", 40),
    ("METRICS", 40),
]
_MODEL_COLUMNS = [("NAME", 40), ("UPDATED (UTC)", 19), ("TAGS", 32), ("DESCRIPTION", 50)]


def _version_row(mv: ModelVersion) -> list[str]:
    return [
        mv.name,
        mv.version,
        _when(mv.created_at),
        _size(mv.file_size_bytes),
        ", ".join(mv.aliases),
        _tags_text(mv.tags),
        _metrics_text(mv.metrics),
    ]


def _model_row(m: Model) -> list[str]:
    return [m.name, _when(m.updated_at), _tags_text(m.tags), m.description or ""]


# -- the data commands ---------------------------------------------------------------------


def _ls(reg: ModelRegistry, args: argparse.Namespace) -> int:
    if args.name is not None:
        versions = reg.list_versions(args.name)
        lines = _table(_VERSION_COLUMNS[1:], [_version_row(v)[1:] for v in versions])
        if not versions:
            lines = [f"model {_printable(args.name)!r} has no versions"]
        _emit(
            args.json, {"model": args.name, "versions": [_version_data(v) for v in versions]}, lines
        )
        return EXIT_OK
    models = reg.list_models()
    latest = {v.name: v.version for v in reg.latest_versions()}
    rows = [
        [m.name, latest.get(m.name, "-"), _when(m.updated_at), m.description or ""] for m in models
    ]
    columns = [("NAME", 40), ("LATEST", 8), ("UPDATED (UTC)", 19), ("DESCRIPTION", 60)]
    data = {"models": [{**_model_data(m), "latest_version": latest.get(m.name)} for m in models]}
    _emit(args.json, data, _table(columns, rows) if models else ["no models"])
    return EXIT_OK


def _find(reg: ModelRegistry, ref: Ref) -> ModelVersion:
    """The version `ref` names; with a selector that finds nothing, the latest version of a
    model named exactly as typed, if there is one (see _REF_RULE)."""
    try:
        return reg.get_version(ref.name, ref.version, alias=ref.alias)
    except NotFoundError:
        if not ref.selects:
            raise
        try:
            reg.get_model(ref.text)
        except NotFoundError:
            pass
        else:
            return reg.get_version(ref.text)
        raise


def _show(reg: ModelRegistry, args: argparse.Namespace) -> int:
    mv = _find(reg, parse_ref(args.ref))
    path = reg.artifacts.describe(mv.storage_path)
    width = max([len(k) for k in mv.tags] + [len(k) for k in mv.metrics] + [10])
    lines = [
        f"name:         {_printable(mv.name)}",
        f"version:      {mv.version}",
        f"aliases:      {_printable(', '.join(mv.aliases)) or '-'}",
        f"created at:   {_when(mv.created_at)} UTC",
        f"size:         {mv.file_size_bytes} bytes ({_size(mv.file_size_bytes)})",
        f"checksum:     {mv.checksum or '-'}",
        f"file:         {_printable(str(path))}",
        "description:  "
        + (
            "-"
            if mv.description is None
            else "\n  ".join(map(_printable, mv.description.split("\n")))
        ),
        "tags:" + ("" if mv.tags else "         -"),
        *[
            f"  {_printable(k):<{width}}  {'(no value)' if v is None else _printable(v)}"
            for k, v in sorted(mv.tags.items())
        ],
        "metrics:" + ("" if mv.metrics else "      -"),
        *[f"  {_printable(k):<{width}}  {v!r}" for k, v in sorted(mv.metrics.items())],
    ]
    _emit(args.json, {**_version_data(mv), "file": str(path)}, lines)
    return EXIT_OK


def _search(reg: ModelRegistry, args: argparse.Namespace) -> int:
    kind = "models" if args.models else "versions"
    call: Callable[..., Page[Any]] = reg.search_models if args.models else reg.search_versions
    items: list[Any] = []
    token, pages = args.page_token, 0
    while True:
        page = call(args.filter, order_by=args.order_by, page_size=args.page_size, page_token=token)
        items += page.items
        token, pages = page.next_page_token, pages + 1
        if token is None or not args.all:
            break
    if args.json:
        to_data = _model_data if args.models else _version_data
        _emit(True, {kind: [to_data(i) for i in items], "next_page_token": token}, [])
        return EXIT_OK
    if args.models:
        lines = _table(_MODEL_COLUMNS, [_model_row(m) for m in items])
    else:
        lines = _table(_VERSION_COLUMNS, [_version_row(v) for v in items])
    _emit(False, None, lines if items else [f"no {kind} match"])
    if token is not None:  # on stderr, so that the table alone goes down a pipe
        print(f"more: add --page-token {token} (or use --all)", file=sys.stderr)
    return EXIT_OK


def _writing(reg: ModelRegistry, ref: Ref, work: Callable[[], Any]) -> Any:
    """Runs `work` on `ref`; a NotFoundError about a model named NAME (of NAME@VERSION) when
    a model is named exactly as typed gets a hint instead of a fallback (see _REF_RULE)."""
    try:
        return work()
    except NotFoundError as exc:
        if ref.selects and str(exc).startswith("no model named"):
            try:
                reg.get_model(ref.text)
            except NotFoundError:
                raise exc from None
            raise NotFoundError(
                f"{exc}; a model is named {ref.text!r}: write {ref.text + '@'!r} for it"
            ) from None
        raise


def _what(ref: Ref) -> str:
    return f"version {ref.version} of {ref.name!r}" if ref.version else f"model {ref.name!r}"


def _tag(reg: ModelRegistry, args: argparse.Namespace) -> int:
    ref = parse_ref(args.ref, aliases=False)
    number = ref.version
    if number is None:
        _writing(reg, ref, lambda: reg.set_model_tag(ref.name, args.key, args.value))
    else:
        _writing(reg, ref, lambda: reg.set_tag(ref.name, number, args.key, args.value))
    data = {"name": ref.name, "version": ref.version, "key": args.key, "value": args.value}
    _emit(args.json, data, [f"{_printable(_what(ref))}: tag {_printable(args.key)!r} set"])
    return EXIT_OK


def _untag(reg: ModelRegistry, args: argparse.Namespace) -> int:
    ref = parse_ref(args.ref, aliases=False)
    number = ref.version
    if number is None:
        _writing(reg, ref, lambda: reg.delete_model_tag(ref.name, args.key))
    else:
        _writing(reg, ref, lambda: reg.delete_tag(ref.name, number, args.key))
    data = {"name": ref.name, "version": ref.version, "key": args.key, "deleted": True}
    _emit(args.json, data, [f"{_printable(_what(ref))}: tag {_printable(args.key)!r} removed"])
    return EXIT_OK


def _alias(reg: ModelRegistry, args: argparse.Namespace) -> int:
    shown = f"model {_printable(args.name)!r}: alias {_printable(args.alias)!r}"
    if args.delete:
        reg.delete_alias(args.name, args.alias)
        data = {"name": args.name, "alias": args.alias, "deleted": True}
        _emit(args.json, data, [f"{shown} removed"])
    else:
        reg.set_alias(args.name, args.alias, args.version)
        data = {"name": args.name, "alias": args.alias, "version": args.version}
        _emit(args.json, data, [f"{shown} -> version {args.version}"])
    return EXIT_OK


def _rm(reg: ModelRegistry, args: argparse.Namespace) -> int:
    ref = parse_ref(args.ref, aliases=False)
    number = ref.version
    if number is not None:
        mv = _writing(reg, ref, lambda: reg.get_version(ref.name, number))
        what = f"version {mv.version} of {mv.name!r} and its file ({_size(mv.file_size_bytes)})"
        target: dict[str, Any] = {"name": mv.name, "version": mv.version}
        if mv.aliases:
            what += f"; aliases {', '.join(mv.aliases)} go with it"
    else:
        versions = reg.list_versions(ref.name)
        what = f"model {ref.name!r} with its {len(versions)} version(s) and their files"
        target = {"name": ref.name, "version": None, "versions": [v.version for v in versions]}
    if not args.yes:
        raise UsageError(f"would delete {what}; add --yes to delete", {"would_delete": target})
    if number is not None:
        reg.delete_version(ref.name, number)
    else:
        reg.delete_model(ref.name)
    _emit(args.json, {"deleted": target}, [_printable(f"deleted {what}")])
    return EXIT_OK


_DATA: dict[str, Callable[[ModelRegistry, argparse.Namespace], int]] = {
    "ls": _ls,
    "show": _show,
    "search": _search,
    "tag": _tag,
    "untag": _untag,
    "alias": _alias,
    "rm": _rm,
}


# -- the schema commands -------------------------------------------------------------------


def _report(
    args: argparse.Namespace, location: str, verb: str, versions: list[str], nothing: str
) -> None:
    """One line (or JSON) saying which migration versions a command changed."""
    text = f"{verb} {', '.join(versions)}" if versions else nothing
    _emit(args.json, {"database": location, verb: versions}, [f"{location}: {text}"])


def _status_data(status: MigrationStatus) -> dict[str, Any]:
    return {
        "current": status.current,
        "applied": [
            {"version": a.version, "name": a.name, "applied_at": a.applied_at, "dirty": a.dirty}
            for a in status.applied
        ],
        "pending": [{"version": m.version, "name": m.name} for m in status.pending],
        "dirty": status.dirty.version if status.dirty else None,
        "changed": status.changed,
        "unknown": status.unknown,
    }


def _status_lines(status: MigrationStatus, location: str) -> list[str]:
    lines = [f"database: {location}", f"schema version: {status.current or '(empty)'}", ""]
    lines.append(f"{'VERSION':<8} {'NAME':<32} {'STATE':<8} APPLIED AT")
    for a in status.applied:
        state = "DIRTY" if a.dirty else "applied"
        lines.append(f"{a.version:<8} {a.name or '':<32} {state:<8} {a.applied_at}")
    for m in status.pending:
        lines.append(f"{m.version:<8} {m.name:<32} {'pending':<8} -")
    if status.changed:
        lines.append(f"\nchanged since applied: {', '.join(status.changed)}")
    if status.dirty:
        doing = "reverting" if status.dirty.direction == "down" else "applying"
        lines.append(
            f"\nmigration {status.dirty.version} failed while {doing} and is dirty: fix the "
            "schema by hand, then run `registry-core repair --applied` (the schema has all of "
            "it) or `--not-applied` (none of it); README: 'Recovering a failed migration'"
        )
    return lines


def _dialect_for(name: str) -> Any:
    from registry_core.backends.mysql import MySQLDialect, ServerInfo
    from registry_core.backends.postgresql import PostgreSQLDialect
    from registry_core.backends.sqlite import SQLiteDialect

    if name == "sqlite":
        return SQLiteDialect()
    if name == "postgresql":
        return PostgreSQLDialect()
    # the current LTS series of each; the SQL is the same for every supported release but the
    # upsert (MySQL before 8.0.20 also spells it with VALUES())
    if name == "mariadb":
        return MySQLDialect(ServerInfo("MariaDB", (11, 8, 0)))
    return MySQLDialect(ServerInfo("MySQL", (8, 4, 0)))


def _missing_file(url: DatabaseURL) -> bool:
    """Whether `url` is a SQLite file that does not exist (opening it would create it)."""
    return url.scheme == "sqlite" and not url.is_memory and not Path(url.database).exists()


def _require_existing(url: DatabaseURL) -> None:
    """NoRegistryError if `url` is a SQLite file that does not exist, before anything opens
    it (opening would create the file and its folder)."""
    if _missing_file(url):
        raise NoRegistryError(
            f"no registry at {url.database}: the file does not exist (nothing was created; "
            "`registry-core migrate` creates a registry)"
        )


def _schema_command(args: argparse.Namespace, url: str, target: str | None) -> int:
    from registry_core.entrypoints import open_backend

    parsed = parse_url(url)
    location = parsed.masked()
    backend: Any = open_backend(url)
    with backend:
        if args.command == "sql":
            return _print_sql(backend.dry_run(target=target, down=args.down), args)
        if args.command == "status":
            status = backend.migration_status()
            _emit(
                args.json,
                {"database": location, "exists": True, **_status_data(status)},
                _status_lines(status, location),
            )
            if status.dirty:
                return EXIT_DIRTY
            if status.changed:
                return EXIT_CHANGED
            return EXIT_PENDING if status.pending else EXIT_OK
        if args.command == "migrate":
            done = backend.migrate(target=target)
            _report(args, location, "applied", done, "already up to date")
        elif args.command == "downgrade":
            done = backend.downgrade(target)
            _report(args, location, "reverted", done, f"nothing above {target}")
        elif args.command == "repair":
            fixed = backend.repair(applied=args.applied)
            verb = "recorded as applied" if args.applied else "forgot (migrate reruns it)"
            _report(args, location, verb, [fixed] if fixed else [], "nothing to repair")
        elif args.command == "stats":
            return _print_stats(backend, args)
        elif args.command == "fsck":
            return _fsck(backend, parsed, args)
    return EXIT_OK


def _absent_database(args: argparse.Namespace, url: DatabaseURL, target: str | None) -> int:
    """`status` and `sql` on a SQLite file that does not exist, without creating it: an empty
    database, on which every migration is pending (what `migrate` would create)."""
    status = MigrationStatus([], load_migrations())
    if args.command == "sql":
        migrator = Migrator(_dialect_for("sqlite"), _no_connection)
        return _print_sql(list(migrator.sql(target=target, down=args.down, status=status)), args)
    location = url.masked()
    lines = _status_lines(status, location)
    lines[1] += f" (no file at {url.database} yet: `registry-core migrate` creates it)"
    _emit(args.json, {"database": location, "exists": False, **_status_data(status)}, lines)
    return EXIT_PENDING


def _copy(args: argparse.Namespace, secrets: list[str]) -> int:
    for url in (args.source, args.target):
        secrets += parse_url(url).secrets()
    report = copy_registry(
        args.source,
        args.target,
        source_artifacts=args.source_artifacts,
        target_artifacts=args.target_artifacts,
        models=args.model,
        progress=args.progress,
        shared_artifacts=args.shared_artifacts,
    )
    _emit(args.json, report.as_dict(), _copy_lines(report))
    return EXIT_OK


def _copy_lines(r: CopyReport) -> list[str]:
    lines = [
        f"copied {r.source} to {r.target} in {r.seconds:.1f} s",
        f"models:   {r.models_copied} copied, {r.models_updated} updated, "
        f"{r.models_present} already there",
        f"versions: {r.versions_copied} copied, {r.versions_present} already there",
        f"files:    {r.files_copied} copied ({_size(r.bytes_copied)}), "
        f"{r.files_skipped} already there",
        f"lineage:  {r.edges_copied} edge(s) copied, {r.edges_skipped} skipped",
    ]
    if r.shared_artifacts:
        lines.append(
            "note: the source and the target share one artifact store (--shared-artifacts): "
            "the target has no copy of its own of the files"
        )
    for model, version, parent, parent_version in r.skipped_edges:
        lines.append(
            _printable(
                f"  skipped: {model!r} version {version} <- {parent!r} version "
                f"{parent_version} (not selected, not on the target)"
            )
        )
    return lines


def _dispatch(args: argparse.Namespace, secrets: list[str]) -> int:
    if args.command == "copy":
        return _copy(args, secrets)
    target = _migration_target(args)
    if args.command == "downgrade" and not args.yes:
        raise UsageError("downgrade drops tables and their data; add --yes to confirm")
    if args.command == "alias" and args.delete == (args.version is not None):
        raise UsageError("alias takes a VERSION to point at, or --delete (not both)")
    if args.command == "sql" and args.dialect:
        migrator = Migrator(_dialect_for(args.dialect), _no_connection)
        return _print_sql(list(migrator.sql(target=target, down=args.down)), args)
    url = resolve_url(args.url)
    parsed = parse_url(url)
    secrets += parsed.secrets()
    if _missing_file(parsed) and args.command in ("status", "sql"):
        return _absent_database(args, parsed, target)
    if args.command != "migrate":
        _require_existing(parsed)
    if args.command in _DATA:
        artifacts = getattr(args, "artifacts", None)
        with connect(url, artifacts=artifacts, migrate=False) as reg:
            return _DATA[args.command](reg, args)
    return _schema_command(args, url, target)


def _exit_code(exc: RegistryError) -> int:
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, SchemaOutOfDateError):
        return EXIT_PENDING
    reason = exc.reason if isinstance(exc, MigrationError) else None
    return {"dirty": EXIT_DIRTY, "changed": EXIT_CHANGED}.get(reason or "", EXIT_FAILED)


def _error(as_json: bool, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
    """An error: a line on stderr, or with `as_json` the error object on stdout."""
    if as_json:
        print(json.dumps({"error": {"type": kind, "message": message}, **(details or {})}))
    else:
        print(f"registry-core: error: {message}", file=sys.stderr)


def _wants_json(argv: Sequence[str]) -> bool:
    end = list(argv).index("--") if "--" in argv else len(argv)
    return "--json" in argv[:end]


def run(argv: Sequence[str] | None = None) -> int:
    """The CLI; returns the exit code (argparse's usage errors, --help and --version raise
    SystemExit with 2 or 0, after printing)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as exc:
        if _wants_json(argv):
            _error(True, "UsageError", str(exc))
        else:
            exc.parser.print_usage(sys.stderr)
            print(f"{exc.parser.prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    if hasattr(args, "json"):
        args.json = args.json or args.json_before
    if getattr(args, "url", None) is None and args.url_before is not None:
        args.url = args.url_before
    secrets: list[str] = []
    try:
        return _dispatch(args, secrets)
    except RegistryError as exc:
        details = exc.details if isinstance(exc, UsageError) else None
        _error(args.json, type(exc).__name__, scrub(str(exc), tuple(secrets)), details)
        return _exit_code(exc)


def _no_connection() -> Any:
    raise RegistryError("this command needs --url, not --dialect")


def _print_sql(statements: list[tuple[str, str]], args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([{"migration": label, "sql": sql} for label, sql in statements], indent=2))
        return EXIT_OK
    current = None
    for label, sql in statements:
        if label != current:
            print(f"-- {label}{' (down)' if args.down else ''}")
            current = label
        print(sql + ";\n")
    return EXIT_OK


def _print_stats(backend: Any, args: argparse.Namespace) -> int:
    if backend.migration_status().current is None:
        raise RegistryError("this database has no registry schema yet; run `registry-core migrate`")
    db = backend.database_stats()
    reg = backend.stats()
    data = {**db.as_dict(), "registry": reg.__dict__}
    lines = [
        f"backend:         {db.backend} {db.server_version}",
        f"database:        {db.location}",
        f"schema version:  {db.schema_version}",
        f"size:            {db.size_bytes} bytes ({db.size_bytes / 1_048_576:.2f} MiB)",
        f"models:          {reg.total_models}",
        f"versions:        {reg.total_versions} ({reg.total_size_bytes} bytes of files, "
        f"{reg.avg_size_bytes:.0f} on average)",
        "rows:",
        *[f"  {table:<22} {count}" for table, count in db.row_counts.items()],
    ]
    _emit(args.json, data, lines)
    return EXIT_OK


def _fsck(backend: Any, url: DatabaseURL, args: argparse.Namespace) -> int:
    if backend.migration_status().current is None:
        raise RegistryError("this database has no registry schema yet; run `registry-core migrate`")
    store = artifact_store_for(url, args.artifacts)
    with store_errors("checking the artifact store", store):
        report = verify(
            backend, store, checksums=not args.quick, grace=args.grace, repair=args.repair
        )
    lines = [
        f"artifact store: {store.location}",
        f"checked {report.versions} versions against {report.files} files "
        f"({report.bytes} bytes){' (sizes only)' if args.quick else ''}",
    ]
    for p in report.missing:
        lines.append(f"MISSING   {p.name!r} version {p.version}: {p.storage_path}")
    for p in report.mismatched:
        lines.append(f"CHANGED   {p.name!r} version {p.version}: {p.storage_path}: {p.problem}")
    done = set(report.removed)
    for kind, files in (("ORPHAN", report.orphans), ("STAGING", report.stale_staging)):
        for sf in files:
            state = "removed" if sf.path in done else "remove with --repair"
            lines.append(f"{kind:<9} {sf.path} ({sf.size} bytes, {state})")
    if report.young:
        lines.append(
            f"{report.young} unreferenced file(s) younger than {args.grace:g} s left alone"
        )
    lines.append("ok" if report.ok else "problems found")
    _emit(args.json, {"artifacts": store.location, **report.as_dict()}, lines)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def main() -> None:
    """The console script: run(), then exit with its code. A reader that closes stdout early
    ends the output quietly with EXIT_PIPE (https://docs.python.org/3/library/signal.html,
    "Note on SIGPIPE"); Ctrl-C exits with EXIT_INTERRUPTED, without a traceback."""
    code: int | str | None
    try:
        try:
            code = run()
        except SystemExit as exc:  # --help, --version, usage errors
            code = exc.code
        sys.stdout.flush()
    except BrokenPipeError:
        # the interpreter flushes stdout again at exit: point it at devnull first
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_PIPE
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    sys.exit(code)
