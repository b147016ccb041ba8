"""`registry-core` (also `python -m registry_core`): migrations and statistics from a shell.

Exit codes: 0 done (for `status`: up to date), 1 failed, 2 bad usage,
3 `status` found pending migrations, 4 the schema is dirty (a migration failed part-way),
5 applied migration files have changed since they were applied, 6 `fsck` found problems.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from registry_core.artifacts import ArtifactStore
from registry_core.errors import MigrationError, RegistryError
from registry_core.fsck import DEFAULT_GRACE, verify
from registry_core.migrator import MigrationStatus, Migrator, normalize_target
from registry_core.urls import (
    ARTIFACTS_ENV,
    URL_ENV,
    DatabaseURL,
    default_artifacts,
    parse_url,
    resolve_url,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PENDING, EXIT_DIRTY, EXIT_CHANGED = 0, 1, 2, 3, 4, 5
EXIT_PROBLEMS = 6  # fsck found missing or changed files, or debris it did not remove


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="registry-core",
        description="Manage a registry-core database: migrations, status, statistics.",
        epilog=f"The URL comes from --url, else ${URL_ENV}, else sqlite:///registry.db.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"connection string (default: ${URL_ENV})")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
        parents=[common],
        help="check the artifact store against the database (missing, changed, orphan files)",
    )
    f.add_argument(
        "--artifacts",
        metavar="PATH",
        help=f"the artifact store (default: ${ARTIFACTS_ENV}, else beside a SQLite file, "
        "else ./artifacts)",
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
    return p


def _version_arg(value: str | None) -> str | None:
    return None if value is None else normalize_target(value)


def _emit(as_json: bool, data: Any, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(lines))


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


def run(argv: Sequence[str] | None = None) -> int:
    """The CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    from registry_core.entrypoints import open_backend

    try:
        target = _version_arg(getattr(args, "to", None) or getattr(args, "version", None))
    except MigrationError as exc:
        print(f"registry-core: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "downgrade" and not args.yes:
        print("downgrade drops tables and their data; add --yes to confirm", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "sql" and args.dialect:
            migrator = Migrator(_dialect_for(args.dialect), _no_connection)
            return _print_sql(list(migrator.sql(target=target, down=args.down)), args)
        url = resolve_url(args.url)
        location = parse_url(url).masked()
        backend: Any = open_backend(url)
        with backend:
            if args.command == "sql":
                return _print_sql(backend.dry_run(target=target, down=args.down), args)
            if args.command == "status":
                status = backend.migration_status()
                _emit(
                    args.json,
                    {"database": location, **_status_data(status)},
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
                return _fsck(backend, parse_url(url), args)
        return EXIT_OK
    except RegistryError as exc:
        print(f"registry-core: error: {exc}", file=sys.stderr)
        reason = exc.reason if isinstance(exc, MigrationError) else None
        return {"dirty": EXIT_DIRTY, "changed": EXIT_CHANGED}.get(reason or "", EXIT_FAILED)


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
    store = ArtifactStore(default_artifacts(url, args.artifacts))
    report = verify(backend, store, checksums=not args.quick, grace=args.grace, repair=args.repair)
    lines = [
        f"artifact store: {store.root}",
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
    _emit(args.json, {"artifacts": str(store.root), **report.as_dict()}, lines)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def main() -> None:
    sys.exit(run())
