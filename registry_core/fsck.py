"""Checking the artifact store against the database (`ModelRegistry.verify`, `registry-core
fsck`): files missing or changed, files no version points to, and leftovers of saves that died.

The store is listed before the database is read, so a save that commits while the check runs
is never taken for an orphan: its file either was not listed yet, or its row is read. A save in
progress has a file under models/ (placed, or uploaded, before its row commits) or .staging/
(local stores only: an object store has no staging) that no committed row names yet; both are
left alone until they are older than the grace period (an object's age is its last-modified
time as the store reports it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from registry_core.backend import MetadataBackend
from registry_core.stores import MODELS, STAGING, ArtifactStore, StoredFile
from registry_core.stores.owners import owners

log = logging.getLogger("registry_core")

#: files younger than this are never reported as orphans or stale, nor removed (seconds)
DEFAULT_GRACE = 3600.0


@dataclass(frozen=True)
class FileProblem:
    """A version whose file is missing or differs from what the database recorded."""

    name: str
    version: str
    storage_path: str
    problem: str  # "missing", or what differs (size, sha256)


@dataclass
class VerifyReport:
    """What `verify()` (and `registry-core fsck`) found; `ok` when nothing needs attention.

    Counts of the versions checked and of the files and bytes in the store; the versions
    whose file is `missing` or `mismatched` (size or sha256); `orphans` (files no version
    points to) and `stale_staging` files (leftovers of saves that died), both older than the
    grace period (`young` counts those inside it); and what a repair `removed`.
    """

    versions: int = 0
    files: int = 0
    bytes: int = 0
    missing: list[FileProblem] = field(default_factory=list)
    mismatched: list[FileProblem] = field(default_factory=list)
    orphans: list[StoredFile] = field(default_factory=list)
    stale_staging: list[StoredFile] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    young: int = 0  # unreferenced or staging files inside the grace period, left alone
    #: the store keeps other registries' files too (its marker names them): files this
    #: registry does not reference are theirs as far as it knows, counted here, never orphans
    shared: bool = False
    others: int = 0

    @property
    def ok(self) -> bool:
        """No missing or changed file, and no debris left (after a repair: none remaining)."""
        left = {f.path for f in self.orphans + self.stale_staging} - set(self.removed)
        return not (self.missing or self.mismatched or left)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {
            "ok": self.ok,
            "versions": self.versions,
            "files": self.files,
            "bytes": self.bytes,
            "missing": [p.__dict__ for p in self.missing],
            "mismatched": [p.__dict__ for p in self.mismatched],
            "orphans": [f.__dict__ for f in self.orphans],
            "stale_staging": [f.__dict__ for f in self.stale_staging],
            "removed": list(self.removed),
            "young": self.young,
            "shared": self.shared,
            "others": self.others,
        }


def verify(
    backend: MetadataBackend,
    store: ArtifactStore,
    *,
    checksums: bool = True,
    grace: float = DEFAULT_GRACE,
    repair: bool = False,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Checks every version's file (size, and sha256 unless `checksums=False`) and lists the
    files no version points to. `repair=True` deletes orphans and stale staging files older
    than `grace` seconds, and nothing else: never a file a version points to, and in a store
    other registries share (its marker names them) no file under models/ at all: a file this
    registry does not reference may be another's (`VerifyReport.others`)."""
    report = VerifyReport(shared=len(owners(store)) > 1)
    cutoff = time.time() - grace
    # 1. the store first (see the module docstring)
    listed = list(store.walk(MODELS))
    staging = list(store.walk(STAGING))
    # 2. then every version the database records
    referenced: set[str] = set()
    for vf in backend.version_files():
        report.versions += 1
        referenced.add(vf.storage_path)
        problem = store.check(
            vf.storage_path, vf.file_size_bytes, vf.checksum if checksums else None
        )
        if problem == "missing":
            report.missing.append(FileProblem(vf.name, vf.version, vf.storage_path, problem))
        elif problem is not None:
            report.mismatched.append(FileProblem(vf.name, vf.version, vf.storage_path, problem))
        if progress is not None:
            progress(report.versions)
    for f in listed:
        report.files += 1
        report.bytes += f.size
        if f.path in referenced:
            continue
        if report.shared:
            report.others += 1
        elif f.mtime < cutoff:
            report.orphans.append(f)
        else:
            report.young += 1
    for f in staging:
        if f.mtime < cutoff:
            report.stale_staging.append(f)
        else:
            report.young += 1
    if repair:
        for f in report.orphans + report.stale_staging:
            store.delete(f.path)
            report.removed.append(f.path)
            log.info("fsck removed %s (%d bytes)", f.path, f.size)
    return report
