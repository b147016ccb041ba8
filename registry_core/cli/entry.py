"""The entry: the parser of `registry-core` (each command group adds its own commands), one
dispatch through the `func` each command sets, errors reported as text or JSON with their
exit code, and `main()`, the console script."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from registry_core import __version__
from registry_core.cli import data, events, migrations, operations
from registry_core.cli.base import (
    EXIT_INTERRUPTED,
    EXIT_PIPE,
    EXIT_USAGE,
    ArgumentError,
    Context,
    Options,
    Parser,
    UsageError,
    exit_code,
)
from registry_core.cli.output import error
from registry_core.errors import RegistryError
from registry_core.urls import URL_ENV, scrub


def parser() -> argparse.ArgumentParser:
    """The whole command line: the top-level options, then every command's parser."""
    p = Parser(
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
    p.add_argument(
        "--actor",
        metavar="NAME",
        help="who makes the changes, as the event log records it (default: "
        "$MODEL_REGISTRY_ACTOR, else the OS user)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    options = Options()
    for group in (data, events, migrations, operations):
        group.add_commands(sub, options)
    return p


def _wants_json(argv: Sequence[str]) -> bool:
    end = list(argv).index("--") if "--" in argv else len(argv)
    return "--json" in argv[:end]


def run(argv: Sequence[str] | None = None) -> int:
    """The CLI; returns the exit code (argparse's usage errors, --help and --version raise
    SystemExit with 2 or 0, after printing)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser().parse_args(argv)
    except ArgumentError as exc:
        if _wants_json(argv):
            error(True, "UsageError", str(exc))
        else:
            exc.parser.print_usage(sys.stderr)
            print(f"{exc.parser.prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    if hasattr(args, "json"):
        args.json = args.json or args.json_before
    if getattr(args, "url", None) is None and args.url_before is not None:
        args.url = args.url_before
    ctx = Context(args)
    try:
        code: int = args.func(args, ctx)
        return code
    except RegistryError as exc:
        details = exc.details if isinstance(exc, UsageError) else None
        error(args.json, type(exc).__name__, scrub(str(exc), tuple(ctx.secrets)), details)
        return exit_code(exc)


def main() -> None:
    """The console script: run(), then exit with its code. A reader that closes stdout early
    ends the output quietly with EXIT_PIPE (https://docs.python.org/3/library/signal.html,
    "Note on SIGPIPE"); Ctrl-C exits with EXIT_INTERRUPTED, saying so on stderr without a
    traceback."""
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
        print("registry-core: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    sys.exit(code)
