"""The data commands: `ls`, `show`, `search`, `tag`, `untag`, `alias`, `rm`. Each opens the
registry with `migrate=False` (a registry behind its migrations is SchemaOutOfDateError, exit 3)
and never creates a SQLite file. Each command is its parser, right above its handler."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry_core.cli.base import EXIT_OK, Context, Options, UsageError, exit_code, parse_time
from registry_core.cli.output import (
    MODEL_COLUMNS,
    VERSION_COLUMNS,
    emit,
    human_size,
    model_data,
    model_row,
    printable,
    table,
    version_data,
    version_row,
    when,
)
from registry_core.errors import NotFoundError, RegistryError
from registry_core.records import ModelVersion, Page
from registry_core.registry import ModelRegistry
from registry_core.search import MAX_PAGE_SIZE
from registry_core.stores.base import store_errors
from registry_core.urls import scrub

REF_RULE = """\
REF is NAME[@VERSION|@ALIAS], split at the last '@' (names may contain '@'):
  churn          the latest version of churn
  churn@7        version 7 (all digits: a version; aliases are never all digits)
  churn@champion the version alias 'champion' points to (show only)
  team@ml@       the model 'team@ml' (a trailing '@' ends the name: no version)
No '@', or nothing before it: the whole text is the name. show falls back: if
NAME@X finds nothing and a model is named exactly NAME@X, its latest version is
shown. tag, untag and rm take @VERSION only (a word after '@' is part of the name)
and never fall back."""


@dataclass(frozen=True)
class Ref:
    """A NAME[@VERSION|@ALIAS] argument, split (see REF_RULE); `text` is as typed."""

    text: str
    name: str
    version: str | None = None
    alias: str | None = None

    @property
    def selects(self) -> bool:
        return self.version is not None or self.alias is not None


def parse_ref(text: str, *, aliases: bool = True) -> Ref:
    """Splits REF at its last '@' (see REF_RULE); `aliases=False` for the writes, where a
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


Handler = Callable[[ModelRegistry, argparse.Namespace], int]


def add_commands(sub: Any, options: Options) -> None:
    """The data commands' parsers, in the order `--help` lists them."""
    for add in (_ls_parser, _show_parser, _search_parser, _tag_parser, _untag_parser):
        add(sub, options)
    for add in (_alias_parser, _rm_parser):
        add(sub, options)


def _dispatch(handler: Handler) -> Callable[[argparse.Namespace, Context], int]:
    """A data command's entry: its handler on the registry the context opens."""

    def run(args: argparse.Namespace, ctx: Context) -> int:
        with ctx.registry() as reg:
            return handler(reg, args)

    return run


def _with_ref(
    sub: Any, options: Options, name: str, summary: str, handler: Handler, *, files: bool = False
) -> argparse.ArgumentParser:
    """A subcommand that takes a REF, with the REF rule as its epilog."""
    parents = [options.common, options.files] if files else [options.common]
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        parents=parents,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=REF_RULE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=_dispatch(handler))
    return p


# -- ls ----------------------------------------------------------------------------------------
def _ls_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "ls",
        parents=[options.common],
        help="the models, or one model's versions",
        description="Without NAME: every model with its latest version. With NAME (exactly, "
        "'@' included): that model's versions.",
    )
    p.add_argument("name", nargs="?", metavar="NAME")
    p.set_defaults(func=_dispatch(_ls))


def _ls(reg: ModelRegistry, args: argparse.Namespace) -> int:
    if args.name is not None:
        versions = reg.list_versions(args.name)
        lines = table(VERSION_COLUMNS[1:], [version_row(v)[1:] for v in versions])
        if not versions:
            lines = [f"model {printable(args.name)!r} has no versions"]
        data = {"model": args.name, "versions": [version_data(v) for v in versions]}
        emit(args.json, data, lines)
        return EXIT_OK
    models = reg.list_models()
    latest = {v.name: v.version for v in reg.latest_versions()}
    rows = [
        [m.name, latest.get(m.name, "-"), when(m.updated_at), m.description or ""] for m in models
    ]
    columns = [("NAME", 40), ("LATEST", 8), ("UPDATED (UTC)", 19), ("DESCRIPTION", 60)]
    data = {"models": [{**model_data(m), "latest_version": latest.get(m.name)} for m in models]}
    emit(args.json, data, table(columns, rows) if models else ["no models"])
    return EXIT_OK


# -- show --------------------------------------------------------------------------------------
def _show_parser(sub: Any, options: Options) -> None:
    p = _with_ref(sub, options, "show", "one version in full", _show, files=True)
    p.add_argument("ref", metavar="REF", help="NAME[@VERSION|@ALIAS]")
    p.add_argument(
        "--as-of",
        type=parse_time,
        metavar="TIME",
        help="with NAME@ALIAS: the version the alias pointed at TIME (ISO-8601; UTC if no zone)",
    )


def _find(reg: ModelRegistry, ref: Ref, as_of: datetime | None = None) -> ModelVersion:
    """The version `ref` names; with a selector that finds nothing, the latest version of a
    model named exactly as typed, if there is one (see REF_RULE). With `as_of`, where the
    alias pointed then (no fallback)."""
    if as_of is not None:
        if ref.alias is None:
            raise UsageError("--as-of takes NAME@ALIAS")
        return reg.get_version(ref.name, alias=ref.alias, as_of=as_of)
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
    mv = _find(reg, parse_ref(args.ref), args.as_of)
    path = reg.artifacts.describe(mv.storage_path)
    with store_errors(f"checking the file of version {mv.version} of {mv.name!r}", reg.artifacts):
        problem = reg.artifacts.check(mv.storage_path, mv.file_size_bytes, None)
    width = max([len(k) for k in mv.tags] + [len(k) for k in mv.metrics] + [10])
    lines = [
        f"name:         {printable(mv.name)}",
        f"version:      {mv.version}",
        f"aliases:      {printable(', '.join(mv.aliases)) or '-'}",
        f"created at:   {when(mv.created_at)} UTC",
        f"size:         {mv.file_size_bytes} bytes ({human_size(mv.file_size_bytes)})",
        f"checksum:     {mv.checksum or '-'}",
        f"file:         {printable(str(path))}" + (f" ({problem})" if problem else ""),
        "description:  "
        + (
            "-"
            if mv.description is None
            else "\n  ".join(map(printable, mv.description.split("\n")))
        ),
        "tags:" + ("" if mv.tags else "         -"),
        *[
            f"  {printable(k):<{width}}  {'(no value)' if v is None else printable(v)}"
            for k, v in sorted(mv.tags.items())
        ],
        "metrics:" + ("" if mv.metrics else "      -"),
        *[f"  {printable(k):<{width}}  {v!r}" for k, v in sorted(mv.metrics.items())],
    ]
    emit(args.json, {**version_data(mv), "file": str(path), "file_problem": problem}, lines)
    return EXIT_OK


# -- search ------------------------------------------------------------------------------------
def _search_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "search",
        parents=[options.common],
        help="versions (or models) matching a filter, one page or all",
        description="Versions (with --models: models) matching FILTER, e.g. "
        "\"tags.stage = 'prod' AND metrics.auc > 0.9\" (docs/searching.md). One page, and "
        "the token of the next (on stderr for people, 'next_page_token' in JSON); --all: "
        "every page.",
    )
    p.add_argument("filter", nargs="?", metavar="FILTER", help="default: everything")
    p.add_argument("--models", action="store_true", help="search models, not versions")
    p.add_argument(
        "--order-by",
        action="append",
        metavar="FIELD",
        help="versions: name, version, created_at or metrics.KEY; models (--models): name, "
        "created_at or updated_at; each optionally followed by ASC or DESC (quote it); "
        "repeat for ties (default: name, then version)",
    )
    p.add_argument("--page-size", type=int, default=100, metavar="N", help="1..1000")
    p.add_argument("--page-token", metavar="TOKEN", help="continue where a page ended")
    p.add_argument("--all", action="store_true", help="every page, not one")
    p.set_defaults(func=_search)


def _search(args: argparse.Namespace, ctx: Context) -> int:
    if not 1 <= args.page_size <= MAX_PAGE_SIZE:  # bad usage (exit 2), before connecting
        raise UsageError(f"--page-size is a whole number from 1 to {MAX_PAGE_SIZE}")
    with ctx.registry() as reg:
        kind = "models" if args.models else "versions"
        call: Callable[..., Page[Any]] = reg.search_models if args.models else reg.search_versions
        pages = _pages(call, args)
        if args.all:
            return _stream(pages, kind, args, ctx)
        return _one_page(next(pages), kind, args)


def _one_page(page: Page[Any], kind: str, args: argparse.Namespace) -> int:
    if args.json:
        to_data = model_data if args.models else version_data
        data = {kind: [to_data(i) for i in page.items], "next_page_token": page.next_page_token}
        emit(True, data, [])
        return EXIT_OK
    emit(False, None, _rows(page.items, args) if page.items else [f"no {kind} match"])
    if page.next_page_token is not None:  # on stderr, so that the table alone goes down a pipe
        print(f"more: add --page-token {page.next_page_token} (or use --all)", file=sys.stderr)
    return EXIT_OK


def _pages(call: Callable[..., Page[Any]], args: argparse.Namespace) -> Iterator[Page[Any]]:
    """The pages of the search from --page-token on, read one at a time."""
    token = args.page_token
    while True:
        page = call(args.filter, order_by=args.order_by, page_size=args.page_size, page_token=token)
        yield page
        token = page.next_page_token
        if token is None:
            return


def _rows(items: Sequence[Any], args: argparse.Namespace, *, first: bool = True) -> list[str]:
    if args.models:
        return table(MODEL_COLUMNS, [model_row(m) for m in items], header=first, fixed=args.all)
    return table(VERSION_COLUMNS, [version_row(v) for v in items], header=first, fixed=args.all)


def _stream(pages: Iterator[Page[Any]], kind: str, args: argparse.Namespace, ctx: Context) -> int:
    """`search --all`: each page printed as it comes (memory holds one page). In JSON, one
    object whose list grows page by page; a failure part-way closes it with the token to go
    on from and the error, and exits with the error's code."""
    to_data = model_data if args.models else version_data
    out, shown, resume = sys.stdout, 0, args.page_token
    first = next(pages)  # a bad filter or token fails before anything is printed
    if args.json:
        out.write(f'{{"{kind}": [')
    try:
        for page in itertools.chain([first], pages):
            if args.json:
                for item in page.items:
                    text = json.dumps(to_data(item), default=str)
                    out.write(("\n  " if shown == 0 else ",\n  ") + text)
                    shown += 1
            elif page.items:
                print("\n".join(_rows(page.items, args, first=shown == 0)))
                shown += len(page.items)
            out.flush()
            resume = page.next_page_token
    except RegistryError as exc:
        if not args.json:
            raise
        error = {"type": type(exc).__name__, "message": scrub(str(exc), tuple(ctx.secrets))}
        out.write(f"\n], {json.dumps('next_page_token')}: {json.dumps(resume)}, ")
        out.write(f'"error": {json.dumps(error)}}}\n')
        return exit_code(exc)
    if args.json:
        out.write(("\n" if shown else "") + '], "next_page_token": null}\n')
    elif shown == 0:
        print(f"no {kind} match")
    return EXIT_OK


# -- tag, untag ----------------------------------------------------------------------------
def _writing(reg: ModelRegistry, ref: Ref, work: Callable[[], Any]) -> Any:
    """Runs `work` on `ref`; a NotFoundError about a model named NAME (of NAME@VERSION) when
    a model is named exactly as typed gets a hint instead of a fallback (see REF_RULE)."""
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


def _tag_parser(sub: Any, options: Options) -> None:
    summary = "set a tag of a version (REF with @VERSION) or of the model"
    p = _with_ref(sub, options, "tag", summary, _tag)
    p.add_argument("ref", metavar="REF", help="NAME[@VERSION]")
    p.add_argument("key", metavar="KEY")
    p.add_argument("value", metavar="VALUE")


def _tag(reg: ModelRegistry, args: argparse.Namespace) -> int:
    ref = parse_ref(args.ref, aliases=False)
    number = ref.version
    if number is None:
        _writing(reg, ref, lambda: reg.set_model_tag(ref.name, args.key, args.value))
    else:
        _writing(reg, ref, lambda: reg.set_tag(ref.name, number, args.key, args.value))
    data = {"name": ref.name, "version": ref.version, "key": args.key, "value": args.value}
    emit(args.json, data, [f"{printable(_what(ref))}: tag {printable(args.key)!r} set"])
    return EXIT_OK


def _untag_parser(sub: Any, options: Options) -> None:
    summary = "remove a tag of a version (REF with @VERSION) or of the model"
    p = _with_ref(sub, options, "untag", summary, _untag)
    p.add_argument("ref", metavar="REF", help="NAME[@VERSION]")
    p.add_argument("key", metavar="KEY")


def _untag(reg: ModelRegistry, args: argparse.Namespace) -> int:
    ref = parse_ref(args.ref, aliases=False)
    number = ref.version
    if number is None:
        _writing(reg, ref, lambda: reg.delete_model_tag(ref.name, args.key))
    else:
        _writing(reg, ref, lambda: reg.delete_tag(ref.name, number, args.key))
    data = {"name": ref.name, "version": ref.version, "key": args.key, "deleted": True}
    emit(args.json, data, [f"{printable(_what(ref))}: tag {printable(args.key)!r} removed"])
    return EXIT_OK


# -- alias ---------------------------------------------------------------------------------
def _alias_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "alias",
        parents=[options.common],
        help="point an alias at a version, or remove it",
        description="`alias NAME ALIAS VERSION` points ALIAS at VERSION of the model NAME "
        "(exactly, '@' included); `alias NAME ALIAS --delete` removes it.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("alias", metavar="ALIAS")
    p.add_argument("version", nargs="?", metavar="VERSION")
    p.add_argument("--delete", action="store_true", help="remove the alias")
    p.set_defaults(func=_alias_command)


def _alias_command(args: argparse.Namespace, ctx: Context) -> int:
    if args.delete == (args.version is not None):
        raise UsageError("alias takes a VERSION to point at, or --delete (not both)")
    return _dispatch(_alias)(args, ctx)


def _alias(reg: ModelRegistry, args: argparse.Namespace) -> int:
    shown = f"model {printable(args.name)!r}: alias {printable(args.alias)!r}"
    if args.delete:
        reg.delete_alias(args.name, args.alias)
        data = {"name": args.name, "alias": args.alias, "deleted": True}
        emit(args.json, data, [f"{shown} removed"])
    else:
        reg.set_alias(args.name, args.alias, args.version)
        data = {"name": args.name, "alias": args.alias, "version": args.version}
        emit(args.json, data, [f"{shown} -> version {args.version}"])
    return EXIT_OK


# -- rm ------------------------------------------------------------------------------------
def _rm_parser(sub: Any, options: Options) -> None:
    summary = "delete a version (REF with @VERSION) or a model with its files"
    p = _with_ref(sub, options, "rm", summary, _rm, files=True)
    p.add_argument("ref", metavar="REF", help="NAME[@VERSION]")
    p.add_argument("--yes", action="store_true", help="confirm: deletes metadata and files")


def _rm(reg: ModelRegistry, args: argparse.Namespace) -> int:
    ref = parse_ref(args.ref, aliases=False)
    number = ref.version
    if number is not None:
        mv = _writing(reg, ref, lambda: reg.get_version(ref.name, number))
        what = (
            f"version {mv.version} of {mv.name!r} and its file ({human_size(mv.file_size_bytes)})"
        )
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
    emit(args.json, {"deleted": target}, [printable(f"deleted {what}")])
    return EXIT_OK
