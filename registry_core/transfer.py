"""Moving a registry (SPEC section 8): `copy_registry(source_url, target_url)` copies every model
(or those named), whole, from one database and artifact store to another, through the backend
contract (`MetadataBackend.export_models` / `import_model`).

Order of work, so that a copy killed at any moment loses nothing and leaves no committed row
pointing to a missing file:
1. the target is migrated; the source is read in one consistent snapshot, a batch of models at
   a time;
2. per model, in one transaction on the target: the target's copy of the model is compared
   (a version that differs is AlreadyExistsError, nothing of the model written); the files of
   the versions to write are copied to the same storage paths on the target store, each one
   verified by size and sha256 while it is read (a file already there with the right size and
   sha256 is kept); then the rows are written and committed;
3. lineage edges whose parent model comes later are written in a second pass, once every
   model is there. Edges to models outside `models=` that the target lacks are skipped and
   counted (`CopyReport.edges_skipped`).
Run it again after an interruption: what is there and identical is left alone. Run it again
after the source changed (a nightly backup) and the target follows it: new versions and
models are added, what can change takes the source's values, a renamed model is renamed
(models keep their identity, `ExportedModel.uid`), and nothing is deleted but replaced tags,
metrics and aliases. A model the target refuses (another model of that name, a version that
differs in its file or creation time) is skipped and named; the others are copied, and the
copy then raises CopyRefusedError with its report. `dry_run=True` compares only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from registry_core.backend import MetadataBackend
from registry_core.entrypoints import open_backend, parse_backend_url
from registry_core.errors import (
    AlreadyExistsError,
    ChecksumMismatchError,
    InvalidInputError,
    NotFoundError,
)
from registry_core.progress import CopyProgress, Progress, Reporter, reporter
from registry_core.records import ExportedModel, ExportedVersion, ImportResult
from registry_core.registry import claim_store, registry_store
from registry_core.stores import ArtifactStore, open_store
from registry_core.stores.base import store_errors
from registry_core.urls import ARTIFACTS_ENV, DatabaseURL

log = logging.getLogger("registry_core")

__all__ = ["CopyProgress", "CopyRefusedError", "CopyReport", "copy_registry"]

#: models per snapshot in the second pass (lineage edges to models copied later)
_SECOND_PASS_BATCH = 500


@dataclass(frozen=True)
class CopyReport:
    """What `copy_registry` did (with `dry_run`: would do). Models: created on the target
    (`models_copied`), brought up to date there (`models_updated`: new versions, edges,
    aliases, fields, tags, a name: `models_renamed` of them were renamed), already there
    exactly (`models_present`), or refused (`models_refused`; `refused` lists the first 20 as
    (model, reason); nothing of them was written). Versions written, updated (description,
    tags or metrics took the source's), already there exactly, or only on the target (deleted
    in the source since: a copy never deletes them). Aliases set, moved or removed. Files
    copied (`bytes_copied` of them) or skipped because the target had them with the right
    sha256 (a dry run counts every file of a version to write as copied); lineage edges
    written, and edges skipped because their parent model is neither selected nor on the
    target (`skipped_edges`: a few of them, as (model, version, parent model, parent
    version))."""

    source: str
    target: str
    models_copied: int = 0
    models_updated: int = 0
    models_present: int = 0
    models_renamed: int = 0
    models_refused: int = 0
    versions_copied: int = 0
    versions_updated: int = 0
    versions_present: int = 0
    versions_only_on_target: int = 0
    aliases_updated: int = 0
    files_copied: int = 0
    files_skipped: int = 0
    bytes_copied: int = 0
    edges_copied: int = 0
    edges_skipped: int = 0
    #: events of the copied models written on the target (each once: a re-run writes none)
    events_copied: int = 0
    seconds: float = 0.0
    skipped_edges: tuple[tuple[str, str, str, str], ...] = field(default=())
    #: the source and the target use one artifact store (two SQLite files in one folder,
    #: say): the files were there already, and the target is no independent copy of them
    shared_artifacts: bool = False
    #: the models the target refused, (name, reason), the first 20
    refused: tuple[tuple[str, str], ...] = field(default=())
    #: a dry run: nothing was written, the counts say what a copy would do
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        data = asdict(self)
        data["skipped_edges"] = [list(e) for e in self.skipped_edges]
        data["refused"] = [list(r) for r in self.refused]
        return data


class CopyRefusedError(AlreadyExistsError):
    """The target refused some models (another model under the name, a version whose file or
    creation time differs, a renamed model whose new name is taken): nothing of those was
    written, the other models were copied. `report` is the copy's report, `refused` in it
    names each model and why."""

    def __init__(self, report: CopyReport) -> None:
        reasons = "; ".join(reason for _, reason in report.refused)
        more = report.models_refused - len(report.refused)
        super().__init__(
            f"{report.models_refused} model(s) refused, the others copied: {reasons}"
            + (f"; and {more} more" if more > 0 else "")
        )
        self.report = report


#: how many skipped edges a report lists
_LISTED = 20


def copy_registry(
    source_url: str,
    target_url: str,
    *,
    source_artifacts: str | os.PathLike[str] | None = None,
    target_artifacts: str | os.PathLike[str] | None = None,
    models: Iterable[str] | None = None,
    progress: Progress = None,
    source_storage_options: Mapping[str, Any] | None = None,
    target_storage_options: Mapping[str, Any] | None = None,
    shared_artifacts: bool = False,
    dry_run: bool = False,
) -> CopyReport:
    """Copies the registry at `source_url` (database and artifact store) to `target_url`,
    losslessly: names, descriptions, model tags, timestamps, version numbers with their gaps
    and each model's counter, tags, metrics, lineage, aliases, checksums and file bytes.

    `source_artifacts` / `target_artifacts`: the two artifact stores, paths or URLs such as
    s3://bucket/models (None: as `connect()` finds them for each URL), with
    `source_storage_options` / `target_storage_options` passed to fsspec as `connect()`'s
    `storage_options` are. Two stores in one place (the same folder, bucket and prefix: the
    source's store given as `target_artifacts`, or $MODEL_REGISTRY_ARTIFACTS for both) are
    refused with InvalidInputError: deleting a version in one registry would delete the
    other's file. `shared_artifacts=True` allows it (the copy then writes no files).

    `models`: copy only these models (NotFoundError if one is not in the source).
    `progress`: None shows a bar (models, versions, bytes) on stderr only if it is a
    terminal; True always (tqdm, the `progress` extra); False never; a callable gets a
    `CopyProgress` after each file and each model. The target is migrated first; the source
    is only read (it must have a registry schema).

    Each model lands in one transaction: run it again after an interruption and it finishes
    the job; a complete copy run again writes nothing; run it again after the source changed
    and the target follows it (what can change takes the source's values, a renamed model is
    renamed; nothing is deleted). A model the target refuses (another model under its name, a
    version that differs from the source's in its file or creation time) is skipped, nothing
    of it written; once the others are copied, CopyRefusedError (an AlreadyExistsError)
    names them and carries the report. A source file whose size or sha256 differs from its
    record is ChecksumMismatchError, and nothing of its model is committed.
    Copies into one target may run at the same time: each model is written by one of them.

    `dry_run=True` writes nothing, neither rows nor files, and does not migrate the target:
    it returns the report of what a copy would write, update and refuse (refusals listed,
    not raised).

    Returns a `CopyReport`. Also raises InvalidInputError (a source without a registry, a
    copy onto itself), ArtifactMissingError (a source file is gone), ArtifactStoreError and
    BackendUnavailableError.
    """
    started = time.monotonic()
    source_parsed, target_parsed = parse_backend_url(source_url), parse_backend_url(target_url)
    names = _names(models)
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise InvalidInputError(f"progress is None, True, False or a callable, not {progress!r}")
    _check_pair(source_parsed, target_parsed)
    for given, options in (
        (source_artifacts, source_storage_options),
        (target_artifacts, target_storage_options),
    ):
        if given is not None:  # a bad location fails before a database is opened
            open_store(given, options)
    source = open_backend(source_url)
    try:
        status = source.migration_status()
        if status.current is None:
            raise InvalidInputError(
                f"{source_parsed.masked()} has no registry schema: nothing to copy"
            )
        source_store, _ = registry_store(
            source,
            source_parsed,
            source_artifacts,
            storage_options=source_storage_options,
            shared_artifacts=True,  # only read: whoever else the store serves
        )
        before = _store_before_migration(
            target_url, target_parsed, target_artifacts, target_storage_options
        )
        shared = _check_sharing(source_store, before, shared_artifacts)
        report = CopyReport(
            source_parsed.masked(), target_parsed.masked(), shared_artifacts=shared, dry_run=dry_run
        )
        copier = _Copier(source, None, source_store, before, reporter(progress, source, names))
        try:
            if dry_run:  # the target as it is, and its store as found: nothing written
                with _target_as_it_is(target_url, target_parsed) as copier.target:
                    report = copier.run(names, report)
            else:
                with _migrated(target_url) as target:
                    copier.target_store, shared = _target_store(
                        source,
                        source_store,
                        target,
                        target_parsed,
                        target_artifacts,
                        storage_options=target_storage_options,
                        shared_artifacts=shared_artifacts,
                    )
                    copier.target = target
                    report = copier.run(names, _replace(report, shared_artifacts=shared))
                    if report.versions_copied or report.models_copied:
                        target.refresh_statistics()  # the planner has not seen the new rows
        finally:
            copier.close_progress()
    finally:
        source.close()
    report = _replace(report, seconds=round(time.monotonic() - started, 3))
    log.info(
        "%s %s to %s: %d model(s) copied, %d updated (%d renamed), %d already there, %d "
        "refused; %d version(s) copied, %d updated, %d already there; %d file(s), %d bytes",
        "would copy" if dry_run else "copied",
        report.source,
        report.target,
        report.models_copied,
        report.models_updated,
        report.models_renamed,
        report.models_present,
        report.models_refused,
        report.versions_copied,
        report.versions_updated,
        report.versions_present,
        report.files_copied,
        report.bytes_copied,
    )
    if report.models_refused and not dry_run:
        raise CopyRefusedError(report)
    return report


def _store_before_migration(
    url: str,
    parsed: DatabaseURL,
    artifacts: str | os.PathLike[str] | None,
    options: Mapping[str, Any] | None,
) -> ArtifactStore | None:
    """The target's artifact store, found before the target is migrated (a SQLite file that
    does not exist is not created, so that a refused copy leaves nothing behind); None when
    the target has no registry yet and will get a folder of its own."""
    explicit = artifacts if artifacts is not None else (os.environ.get(ARTIFACTS_ENV) or None)
    if explicit is not None:
        return open_store(explicit, options)
    if parsed.scheme == "sqlite" and (parsed.is_memory or not os.path.exists(parsed.database)):
        return None
    target = open_backend(url)
    try:
        if target.migration_status().current is None:
            return None
        store, _ = registry_store(
            target, parsed, None, storage_options=options, shared_artifacts=True
        )
        return store
    finally:
        target.close()


def _check_sharing(source: ArtifactStore, target: ArtifactStore | None, allowed: bool) -> bool:
    """Whether the two stores are one place; InvalidInputError if so and not `allowed`."""
    shared = target is not None and source.same_place(target)
    if shared and not allowed:
        raise InvalidInputError(
            f"the source and the target would share one artifact store ({source}): "
            "deleting a version from one registry would delete the other's file. Give the "
            "target its own (target_artifacts / --target-artifacts), or allow it with "
            "shared_artifacts=True (--shared-artifacts)"
        )
    return shared


@contextlib.contextmanager
def _target_as_it_is(url: str, parsed: DatabaseURL) -> Iterator[MetadataBackend | None]:
    """A dry run's target: its backend as it is (not migrated), or None where it has no
    registry yet (a SQLite file that does not exist is not created)."""
    missing = parsed.scheme == "sqlite" and not parsed.is_memory
    if missing and not os.path.exists(parsed.database):
        yield None
        return
    target = open_backend(url)
    try:
        yield None if target.migration_status().current is None else target
    finally:
        target.close()


@contextlib.contextmanager
def _migrated(url: str) -> Iterator[MetadataBackend]:
    """The target's backend, migrated first; closed after the block."""
    target = open_backend(url)
    try:
        target.migrate()
        yield target
    finally:
        target.close()


def _target_store(
    source: MetadataBackend,
    source_store: ArtifactStore,
    target: MetadataBackend,
    parsed: DatabaseURL,
    artifacts: str | os.PathLike[str] | None,
    *,
    storage_options: Mapping[str, Any] | None,
    shared_artifacts: bool,
) -> tuple[ArtifactStore, bool]:
    """The migrated target's artifact store, claimed for the copy's writes, and whether it
    is the source's (InvalidInputError unless `shared_artifacts`)."""
    target_store, _ = registry_store(
        target,
        parsed,
        artifacts,
        storage_options=storage_options,
        shared_artifacts=shared_artifacts,
    )
    shared = _check_sharing(source_store, target_store, shared_artifacts)
    if shared:  # both registries in the marker: neither deletes the other's files
        claim_store(source, source_store, shared_artifacts=True)
    claim_store(
        target,
        target_store,
        shared_artifacts=shared_artifacts,
        what="copying files to the target's artifact store",
    )
    return target_store, shared


def _names(models: Iterable[str] | None) -> list[str] | None:
    if models is None:
        return None
    if isinstance(models, (str, bytes)):
        raise InvalidInputError("models is a list of model names, not one string")
    names = list(dict.fromkeys(models))
    if not names:
        raise InvalidInputError("models is empty: give at least one name, or None for all")
    return names


def _check_pair(source: DatabaseURL, target: DatabaseURL) -> None:
    """Refuses a copy onto its own source, and a SQLite source file that does not exist
    (opening it would create an empty one)."""
    missing = not source.is_memory and not os.path.exists(source.database)
    if source.scheme == "sqlite" and missing:
        raise InvalidInputError(
            f"no registry at {source.database}: the file does not exist (nothing was created)"
        )
    if source.is_memory:
        raise InvalidInputError("the source is an in-memory SQLite database: it is empty")
    same = (
        source.scheme == "sqlite"
        and target.scheme == "sqlite"
        and not target.is_memory
        and os.path.realpath(source.database) == os.path.realpath(target.database)
    ) or (source.scheme != "sqlite" and source.masked() == target.masked())
    if same:
        raise InvalidInputError(f"the source and the target are the same: {source.masked()}")


def _replace(report: CopyReport, **changes: Any) -> CopyReport:
    return CopyReport(**{**asdict(report), **changes})


class _Copier:
    """The two passes of a copy (or a dry run's one), with their tallies."""

    def __init__(
        self,
        source: MetadataBackend,
        target: MetadataBackend | None,
        source_store: ArtifactStore,
        target_store: ArtifactStore | None,
        reporter: Reporter,
    ) -> None:
        self.source, self.target = source, target  # target None: a dry run into nothing
        self.source_store, self.target_store = source_store, target_store
        self.reporter = reporter
        self.tally: dict[str, Any] = {}
        self.skipped: list[tuple[str, str, str, str]] = []
        self.refused: list[tuple[str, str]] = []
        #: a dry run's edges to models after them: (model, child, parent model, version)
        self.pending: list[tuple[str, str, str, str]] = []

    def close_progress(self) -> None:
        self.reporter.close()

    def run(self, names: list[str] | None, report: CopyReport) -> CopyReport:
        self.tally = asdict(report)
        dry = report.dry_run
        later: list[str] = []  # models with edges to models not on the target yet
        copied: set[str] = set()  # (a dry run's) names of the models of this copy
        with _closing(self.source.export_models(names)) as models:
            for model in models:
                copied.add(model.name)
                try:
                    result = self._copy(model, dry=dry)
                except AlreadyExistsError as exc:  # this model only: the others go on
                    self._refuse(model.name, exc)
                else:
                    self._count(result)
                    if result.edges_missing:
                        later.append(model.name)
                        self.pending += [(model.name, *e) for e in result.edges_missing]
                self.reporter.model_done(model)
        if dry:  # an edge to a model of this copy would be written by its second pass
            for model_name, child, pname, pversion in self.pending:
                if pname in copied:
                    self.tally["edges_copied"] += 1
                else:
                    self._skip_edge(model_name, child, pname, pversion)
        else:
            for start in range(0, len(later), _SECOND_PASS_BATCH):
                self._second_pass(later[start : start + _SECOND_PASS_BATCH])
        if self.skipped:
            log.warning(
                "%d lineage edge(s) not copied: their parent model is not selected and not "
                "on the target (first: %r)",
                self.tally["edges_skipped"],
                self.skipped[0],
            )
        self.tally["skipped_edges"] = tuple(self.skipped)
        self.tally["refused"] = tuple(self.refused)
        return CopyReport(**self.tally)

    def _count(self, result: ImportResult) -> None:
        t = self.tally
        if result.created:
            t["models_copied"] += 1
        elif result.changed:
            t["models_updated"] += 1
        else:
            t["models_present"] += 1
        t["models_renamed"] += result.renamed_from is not None
        t["versions_updated"] += len(result.versions_updated)
        t["versions_only_on_target"] += result.versions_only_here
        t["aliases_updated"] += result.aliases_updated
        t["events_copied"] += result.events_written

    def _refuse(self, name: str, exc: AlreadyExistsError) -> None:
        self.tally["models_refused"] += 1
        if len(self.refused) < _LISTED:  # the report lists the first few
            self.refused.append((name, str(exc)))
        log.warning("model %r not copied: %s", name, exc)

    def _skip_edge(self, model: str, child: str, pname: str, pversion: str) -> None:
        self.tally["edges_skipped"] += 1
        if len(self.skipped) < _LISTED:  # the report lists the first few
            self.skipped.append((model, child, pname, pversion))

    def _second_pass(self, names: Sequence[str]) -> None:
        """The models whose edges lead to models copied after them, once more (a new
        snapshot): now their parents are there. Edges still without a parent are skipped."""
        try:
            exported = list(_exhaust(self.source, names))
        except NotFoundError:  # one was deleted from the source meanwhile: one at a time
            exported = []
            for name in names:
                with contextlib.suppress(NotFoundError):
                    exported += _exhaust(self.source, [name])
        for model in exported:
            try:
                result = self._copy(model, second=True)
            except AlreadyExistsError as exc:  # changed on the target since the first pass
                self._refuse(model.name, exc)
                continue
            for child, pname, pversion in result.edges_missing:
                self._skip_edge(model.name, child, pname, pversion)

    def _copy(
        self, model: ExportedModel, *, second: bool = False, dry: bool = False
    ) -> ImportResult:
        """One model in one target transaction, its new versions' files put in place first
        (a dry run: what that would write, nothing written).

        A copy that fails part-way removes none of the files it put: another copy running at
        the same time may have found one there and committed a version that points to it.
        They are files no version points to (orphans): the next run uses them, and
        `registry-core fsck --repair` removes those left over."""
        copied: dict[str, int | None] = {}  # storage path -> bytes written, None: was there

        def put_files(versions: Sequence[ExportedVersion]) -> None:
            for v in versions:
                if v.storage_path not in copied:  # (a retried transaction asks again)
                    copied[v.storage_path] = self._put(model.name, v)
                    self.reporter.bytes(model.name, v.file_size_bytes)

        if dry:
            result = (
                _as_new(model)
                if self.target is None
                else self.target.import_model(model, dry_run=True)
            )
            written = set(result.versions_written)
            for v in model.versions:  # each file of a version to write counts as copied
                if v.version in written and v.storage_path not in copied:
                    copied[v.storage_path] = v.file_size_bytes
        else:
            assert self.target is not None
            result = self.target.import_model(model, before_write=put_files)
        t = self.tally
        t["versions_copied"] += len(result.versions_written)
        if not second:
            t["versions_present"] += result.versions_present
            # the versions present had their bytes counted by no file copy
            written = set(result.versions_written)
            present = sum(v.file_size_bytes for v in model.versions if v.version not in written)
            self.reporter.versions(model.name, len(model.versions))
            self.reporter.bytes(model.name, present)
        sizes = [n for n in copied.values() if n is not None]
        t["files_copied"] += len(sizes)
        t["files_skipped"] += len(copied) - len(sizes)
        t["bytes_copied"] += sum(sizes)
        t["edges_copied"] += result.edges_written
        return result

    def _put(self, name: str, v: ExportedVersion) -> int | None:
        """Copies one version's file to the same storage path on the target, verified while
        it is read; returns the bytes written, None if the target has it already (right size
        and sha256)."""
        assert self.target_store is not None  # (a dry run puts no file)
        with store_errors(f"checking {v.storage_path} on the target", self.target_store):
            present = self.target_store.check(v.storage_path, v.file_size_bytes, v.checksum)
        if present is None:
            return None
        what = f"version {v.version} of {name!r}"
        with (
            store_errors(f"copying the file of {what}", self.source_store, self.target_store),
            self.source_store.reader(
                v.storage_path, v.file_size_bytes, v.checksum, what=what
            ) as reader,
        ):
            written = self.target_store.write_at(v.storage_path, reader)
        if written.size != v.file_size_bytes or (
            v.checksum is not None and written.checksum != v.checksum
        ):  # the reader checks both; a store that wrote something else is caught here
            raise ChecksumMismatchError(
                f"{what}: the file written to the target differs from the source's record"
            )
        return written.size


def _as_new(model: ExportedModel) -> ImportResult:
    """What an import into an empty registry would do with `model`: write it whole, its
    edges to its own versions too (those to other models wait for the second pass)."""
    edges = [(v.version, p) for v in model.versions for p in v.parents]
    numbers = {v.version for v in model.versions}
    own = [e for e in edges if e[1][0] == model.name and e[1][1] in numbers]
    missing = tuple((c, pn, pv) for c, (pn, pv) in edges if (c, (pn, pv)) not in own)
    return ImportResult(
        model.name, True, tuple(sorted(numbers, key=int)), 0, len(own), missing, True
    )


def _exhaust(source: MetadataBackend, names: Sequence[str]) -> list[ExportedModel]:
    with _closing(source.export_models(names)) as models:
        return list(models)


@contextlib.contextmanager
def _closing(models: Iterator[ExportedModel]) -> Iterator[Iterator[ExportedModel]]:
    """Ends an export's snapshot (closes its generator) however the loop over it ends."""
    try:
        yield models
    finally:
        close = getattr(models, "close", None)
        if close is not None:
            close()
