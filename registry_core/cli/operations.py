"""The operations: `stats` (registry and database statistics), `fsck` (the artifact store
against the database) and `copy` (a registry to another database, losslessly). Each command is
its parser, right above its handler."""

from __future__ import annotations

import argparse
from typing import Any

from registry_core.cli.base import EXIT_FAILED, EXIT_OK, EXIT_PROBLEMS, Context, Options
from registry_core.cli.output import emit, error, human_size, printable
from registry_core.errors import SchemaOutOfDateError
from registry_core.fsck import DEFAULT_GRACE, verify
from registry_core.registry import claim_store, registry_store
from registry_core.stores.base import store_errors
from registry_core.transfer import CopyRefusedError, CopyReport, copy_registry
from registry_core.urls import ARTIFACTS_ENV, scrub


def add_commands(sub: Any, options: Options) -> None:
    """The operations' parsers, in the order `--help` lists them."""
    for add in (_stats_parser, _fsck_parser, _copy_parser):
        add(sub, options)


def _require_schema(backend: Any) -> None:
    """SchemaOutOfDateError (exit 3, as the data commands) on a database without a registry."""
    if backend.migration_status().current is None:
        raise SchemaOutOfDateError(
            "this database has no registry schema yet; run `registry-core migrate`"
        )


# -- stats -------------------------------------------------------------------------------------
def _stats_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser("stats", parents=[options.common], help="registry and database statistics")
    p.set_defaults(func=_stats)


def _stats(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.backend() as backend:
        _require_schema(backend)
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
    emit(args.json, data, lines)
    return EXIT_OK


# -- fsck --------------------------------------------------------------------------------------
def _fsck_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "fsck",
        parents=[options.common, options.files],
        help="check the artifact store against the database (missing, changed, orphan files)",
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="delete orphan files and stale staging files (never a file a version points to)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help=f"leave files younger than this alone (default {DEFAULT_GRACE:g}: a save may be "
        "in progress)",
    )
    p.add_argument("--quick", action="store_true", help="check sizes only, not sha256")
    p.set_defaults(func=_fsck)


def _fsck(args: argparse.Namespace, ctx: Context) -> int:
    with ctx.backend() as backend:
        _require_schema(backend)
        store, _ = registry_store(backend, ctx.parsed, args.artifacts)
        if args.repair:
            claim_store(backend, store)
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
    if report.shared:
        lines.append(
            f"{report.others} file(s) this registry does not reference left alone: the store "
            "is shared with other registries"
        )
    lines.append("ok" if report.ok else "problems found")
    emit(args.json, {"artifacts": store.location, **report.as_dict()}, lines)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


# -- copy --------------------------------------------------------------------------------------
def _copy_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "copy",
        parents=[options.json],
        help="copy a registry (database and files) to another database, losslessly",
        description="Copy every model (or those named by --model) with its versions, numbers, "
        "times, tags, metrics, lineage, aliases and files from SOURCE_URL to TARGET_URL "
        "(migrated first). Resumable: run it again after an interruption; a complete copy "
        "run again writes nothing; run again after the source changed, the target follows it "
        "(renames, tags, descriptions, aliases; nothing is deleted). A copy to "
        "sqlite:///backup.db is a backup (docs/moving.md: 'Backup and restore').",
    )
    p.add_argument("source", metavar="SOURCE_URL", help="the registry to copy (only read)")
    p.add_argument("target", metavar="TARGET_URL", help="where to copy it")
    for side in ("source", "target"):
        p.add_argument(
            f"--{side}-artifacts",
            metavar="PATH",
            help=f"the {side}'s artifact store, a folder or a URL such as s3://bucket/prefix "
            f"(default: ${ARTIFACTS_ENV}, else where the {side} registry recorded its files, "
            "else a folder of its own)",
        )
    p.add_argument(
        "--shared-artifacts",
        action="store_true",
        help="allow the source and the target to share one artifact store (no files are "
        "copied; deleting a version in one registry deletes the other's file)",
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="copy only this model (repeat for more); lineage edges to models neither "
        "selected nor on the target are skipped and counted",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing (no rows, no files, no migration): print what a copy would copy, "
        "update and refuse",
    )
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="show the progress bar (default: only if stderr is a terminal)",
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=_copy)


def _copy(args: argparse.Namespace, ctx: Context) -> int:
    for url in (args.source, args.target):
        ctx.parse(url)
    try:
        report = copy_registry(
            args.source,
            args.target,
            source_artifacts=args.source_artifacts,
            target_artifacts=args.target_artifacts,
            models=args.model,
            progress=args.progress,
            shared_artifacts=args.shared_artifacts,
            dry_run=args.dry_run,
        )
    except CopyRefusedError as exc:  # the report of what was copied, then the error
        message = scrub(str(exc), tuple(ctx.secrets))
        if not args.json:
            emit(False, None, _copy_lines(exc.report))
        error(args.json, type(exc).__name__, message, {"report": exc.report.as_dict()})
        return EXIT_FAILED
    emit(args.json, report.as_dict(), _copy_lines(report))
    return EXIT_OK


def _copy_lines(r: CopyReport) -> list[str]:
    head = f"copied {r.source} to {r.target} in {r.seconds:.1f} s"
    if r.dry_run:
        head = f"dry run: nothing was written; a copy of {r.source} to {r.target} would do this"
    renamed = f" ({r.models_renamed} renamed)" if r.models_renamed else ""
    lines = [
        head,
        f"models:   {r.models_copied} copied, {r.models_updated} updated{renamed}, "
        f"{r.models_present} already there, {r.models_refused} refused",
        f"versions: {r.versions_copied} copied, {r.versions_updated} updated, "
        f"{r.versions_present} already there"
        + (
            f", {r.versions_only_on_target} only on the target" if r.versions_only_on_target else ""
        ),
        f"aliases:  {r.aliases_updated} set, moved or removed",
        f"files:    {r.files_copied} copied ({human_size(r.bytes_copied)}), "
        f"{r.files_skipped} already there",
        f"lineage:  {r.edges_copied} edge(s) copied, {r.edges_skipped} skipped",
    ]
    for model, reason in r.refused:
        lines.append(printable(f"  refused: {model!r}: {reason}"))
    if r.shared_artifacts:
        lines.append(
            "note: the source and the target share one artifact store (--shared-artifacts): "
            "the target has no copy of its own of the files"
        )
    for model, version, parent, parent_version in r.skipped_edges:
        lines.append(
            printable(
                f"  skipped: {model!r} version {version} <- {parent!r} version "
                f"{parent_version} (not selected, not on the target)"
            )
        )
    return lines
