"""The schema commands: `migrate`, `downgrade`, `status`, `repair` and `sql` (the SQL migrations
would run, without running it). Only `migrate` may create a SQLite file; `status` and `sql` on
a file that does not exist report an empty database. Each command is its parser, right above
its handler."""

from __future__ import annotations

import argparse
import json
from typing import Any

from registry_core.cli.base import (
    EXIT_CHANGED,
    EXIT_DIRTY,
    EXIT_OK,
    EXIT_PENDING,
    Context,
    Options,
    UsageError,
    missing_file,
)
from registry_core.cli.output import emit
from registry_core.errors import MigrationError, RegistryError
from registry_core.migrator import MigrationStatus, Migrator, load_migrations, normalize_target


def add_commands(sub: Any, options: Options) -> None:
    """The schema commands' parsers, in the order `--help` lists them."""
    for add in (_migrate_parser, _downgrade_parser, _status_parser, _repair_parser, _sql_parser):
        add(sub, options)


def _target(raw: str | None, *, down: bool) -> str | None:
    """The migration version a command names ("2" -> "002"), checked against the shipped
    migrations; UsageError naming them if it is none of them (000: downgrades only)."""
    if raw is None:
        return None
    try:
        target = normalize_target(raw)
    except MigrationError as exc:
        raise UsageError(str(exc)) from None
    known = [m.version for m in load_migrations()]
    if target in known or (down and target == "000"):
        return target
    also = " (and 000: revert everything)" if down else ""
    raise UsageError(
        f"there is no migration {target}; the known versions are {', '.join(known)}{also}"
    )


def _report(
    args: argparse.Namespace, location: str, verb: str, versions: list[str], nothing: str
) -> None:
    """One line (or JSON) saying which migration versions a command changed."""
    text = f"{verb} {', '.join(versions)}" if versions else nothing
    emit(args.json, {"database": location, verb: versions}, [f"{location}: {text}"])


# -- migrate -----------------------------------------------------------------------------------
def _migrate_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser("migrate", parents=[options.common], help="apply pending migrations")
    p.add_argument("--to", metavar="VERSION", help="stop after this version (e.g. 002)")
    p.set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace, ctx: Context) -> int:
    target = _target(args.to, down=False)
    with ctx.backend(create=True) as backend:
        done = backend.migrate(target=target)
    _report(args, ctx.parsed.masked(), "applied", done, "already up to date")
    return EXIT_OK


# -- downgrade ---------------------------------------------------------------------------------
def _downgrade_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "downgrade", parents=[options.common], help="revert migrations above VERSION"
    )
    p.add_argument("version", help="the version to keep (000 reverts everything)")
    p.add_argument("--yes", action="store_true", help="confirm: down migrations drop data")
    p.set_defaults(func=_downgrade)


def _downgrade(args: argparse.Namespace, ctx: Context) -> int:
    target = _target(args.version, down=True)
    assert target is not None
    if not args.yes:
        raise UsageError("downgrade drops tables and their data; add --yes to confirm")
    with ctx.backend() as backend:
        done = backend.downgrade(target)
    _report(args, ctx.parsed.masked(), "reverted", done, f"nothing above {target}")
    return EXIT_OK


# -- status ------------------------------------------------------------------------------------
def _status_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "status", parents=[options.common], help="applied, pending and dirty migrations"
    )
    p.set_defaults(func=_status)


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
            "it) or `--not-applied` (none of it); docs/schema.md: 'Recovering a failed migration'"
        )
    return lines


def _status(args: argparse.Namespace, ctx: Context) -> int:
    location = ctx.parsed.masked()
    if missing_file(ctx.parsed):
        # an empty database, on which every migration is pending (what `migrate` would
        # create), reported without creating the file
        status = MigrationStatus([], load_migrations())
        lines = _status_lines(status, location)
        lines[1] += f" (no file at {ctx.parsed.database} yet: `registry-core migrate` creates it)"
        emit(args.json, {"database": location, "exists": False, **_status_data(status)}, lines)
        return EXIT_PENDING
    with ctx.backend() as backend:
        status = backend.migration_status()
    emit(
        args.json,
        {"database": location, "exists": True, **_status_data(status)},
        _status_lines(status, location),
    )
    if status.dirty:
        return EXIT_DIRTY
    if status.changed:
        return EXIT_CHANGED
    return EXIT_PENDING if status.pending else EXIT_OK


# -- repair ------------------------------------------------------------------------------------
def _repair_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "repair", parents=[options.common], help="resolve a dirty migration after fixing the schema"
    )
    state = p.add_mutually_exclusive_group(required=True)
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
    p.set_defaults(func=_repair)


def _repair(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.backend() as backend:
        fixed = backend.repair(applied=args.applied)
    verb = "recorded as applied" if args.applied else "forgot (migrate reruns it)"
    _report(args, ctx.parsed.masked(), verb, [fixed] if fixed else [], "nothing to repair")
    return EXIT_OK


# -- sql ---------------------------------------------------------------------------------------
def _sql_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "sql", parents=[options.common], help="print the SQL migrations would run (dry run)"
    )
    p.add_argument("--down", action="store_true", help="the down migrations instead")
    p.add_argument("--to", metavar="VERSION", help="only up to this version")
    p.add_argument(
        "--dialect",
        choices=["sqlite", "postgresql", "mysql", "mariadb"],
        help="render for this database without connecting",
    )
    p.set_defaults(func=_sql)


def _sql(args: argparse.Namespace, ctx: Context) -> int:
    target = _target(args.to, down=args.down)
    if args.dialect:
        migrator = Migrator(dialect_for(args.dialect), _no_connection)
        return _print_sql(list(migrator.sql(target=target, down=args.down)), args)
    if missing_file(ctx.parsed):  # what `migrate` would run on the empty file it creates
        status = MigrationStatus([], load_migrations())
        migrator = Migrator(dialect_for("sqlite"), _no_connection)
        return _print_sql(list(migrator.sql(target=target, down=args.down, status=status)), args)
    with ctx.backend() as backend:
        return _print_sql(backend.dry_run(target=target, down=args.down), args)


def dialect_for(name: str) -> Any:
    """The Dialect `sql --dialect NAME` renders for, without a server to ask."""
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
