"""The artifact store: model files in a local folder, written atomically and verified on read.

A file is first written under `<root>/.staging/` (same file system, fsynced) while its size and
sha256 are computed, then renamed (atomically) to `<root>/models/<model-dir>/<token>-<file>`,
a path unique to the save, before the save's row is committed. `<model-dir>` is a readable
slug of the name plus a hash of it, so no name can escape the root, and names that differ only
in case stay apart on case-insensitive file systems.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from registry_core.errors import (
    ArtifactMissingError,
    ChecksumMismatchError,
    InvalidInputError,
    RegistryError,
)

_CHUNK = 1 << 20
#: where files are written before they are placed, and where placed files live
STAGING, MODELS = ".staging", "models"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str, limit: int = 40) -> str:
    slug = _UNSAFE.sub("_", text).strip("._") or "_"
    return slug[:limit]


def model_dir(name: str) -> str:
    """The folder of a model under models/: slug plus 16 hex digits of sha256(name)."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
    return f"{_slug(name)}-{digest}"


@dataclass(frozen=True)
class StoredFile:
    """A file in the store: path relative to the root, size in bytes, modification time."""

    path: str
    size: int
    mtime: float


@dataclass
class Staged:
    """A file written to the staging area, not yet part of the registry."""

    path: Path
    size: int
    checksum: str  # "sha256:<hex>"


class _HashingWriter:
    """A binary file wrapper that hashes and counts what passes through it."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.hash, self.size = f, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.f.write(data)


class Readable(Protocol):
    """What a store reads from and hands out for reading: `read(n)` until it returns b""."""

    def read(self, n: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Written:
    """A file written to the store: where, its size in bytes and "sha256:<hex>"."""

    storage_path: str
    size: int
    checksum: str


class _VerifyingReader:
    """A binary reader that counts and hashes what is read, and raises ChecksumMismatchError
    at the end of the file (or as soon as it is longer than recorded) if it differs."""

    def __init__(self, f: IO[bytes], label: str, size: int, checksum: str | None) -> None:
        self.f, self.label, self.size, self.seen = f, label, size, 0
        algo, _, self.expected = (checksum or "").partition(":")
        self.hash = hashlib.new(algo) if checksum else None

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.seen += len(data)
        if self.hash is not None:
            self.hash.update(data)
        if self.seen > self.size:
            raise ChecksumMismatchError(f"{self.label}: longer than the {self.size} bytes recorded")
        if not data or n is None or n < 0:
            self._finish()
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, limit: int = -1) -> bytes:
        data = self.f.readline(limit)
        self.seen += len(data)
        if self.hash is not None:
            self.hash.update(data)
        if self.seen > self.size:
            raise ChecksumMismatchError(f"{self.label}: longer than the {self.size} bytes recorded")
        if not data:
            self._finish()
        return data

    def _finish(self) -> None:
        if self.seen != self.size:
            raise ChecksumMismatchError(
                f"{self.label}: size is {self.seen} bytes, the registry recorded {self.size}"
            )
        if self.hash is not None and self.hash.hexdigest() != self.expected:
            raise ChecksumMismatchError(
                f"{self.label}: sha256 does not match the recorded checksum"
            )


class ArtifactStore:
    """Model files under `root`; storage paths recorded in the database are relative to it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root)!r})"

    # -- writing ---------------------------------------------------------------------
    def _staging_dir(self) -> Path:
        """`<root>/.staging`, made if missing; RegistryError if it leads outside the root (a
        symlink), where a save would write its file."""
        staging = self.root / STAGING
        staging.mkdir(parents=True, exist_ok=True)
        if staging.is_symlink() or not staging.resolve().is_relative_to(self.root.resolve()):
            raise RegistryError(
                f"{staging} leads outside the artifact root {self.root}; registry-core writes "
                "only inside it: remove that link"
            )
        return staging

    @contextmanager
    def _staging_file(self) -> Iterator[tuple[Path, _HashingWriter]]:
        staging = self._staging_dir()
        fd, tmp = tempfile.mkstemp(dir=staging, prefix="upload-", suffix=".part")
        path = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                writer = _HashingWriter(f)
                yield path, writer
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def stage_object(self, obj: Any) -> Staged:
        """Pickles `obj` into the staging area."""
        with self._staging_file() as (path, writer):
            try:
                pickle.dump(obj, writer, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise InvalidInputError(f"the model cannot be pickled: {exc}") from exc
        return Staged(path, writer.size, "sha256:" + writer.hash.hexdigest())

    def stage_file(self, source: str | os.PathLike[str]) -> Staged:
        """Copies an existing file into the staging area."""
        src = Path(source)
        if not src.is_file():
            raise InvalidInputError(f"no such file: {src}")
        with self._staging_file() as (path, writer), src.open("rb") as f:
            while chunk := f.read(_CHUNK):
                writer.write(chunk)
        return Staged(path, writer.size, "sha256:" + writer.hash.hexdigest())

    def write_at(self, storage_path: str, source: Readable) -> Written:
        """Streams `source` (read to its end) to exactly `storage_path`, staged, fsynced and
        renamed into place, replacing a file already there; returns its size and sha256.
        Used by a copy, which keeps each version's storage path."""
        with self._staging_file() as (path, writer):
            while chunk := source.read(_CHUNK):
                writer.write(chunk)
        try:
            self.move(path, storage_path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Written(storage_path, writer.size, "sha256:" + writer.hash.hexdigest())

    def relative_path(self, name: str, filename: str, token: str) -> str:
        """Where a save's file lives, relative to the root (POSIX separators).

        `token` is unique to one save: a save that fails, or a model deleted and created
        again, can never touch another save's file, and a save whose COMMIT answer was lost
        is found by its path.
        """
        stem, dot, ext = filename.rpartition(".")
        safe = f"{_slug(stem, 80)}.{_slug(ext, 16)}" if dot and stem else _slug(filename, 100)
        return str(PurePosixPath(MODELS, model_dir(name), f"{token}-{safe}"))

    def place(self, staged: Staged, name: str, filename: str) -> str:
        """Moves a staged file to a path of its own under models/; returns that path. The
        staged file is removed if this fails."""
        rel = self.relative_path(name, filename, secrets.token_hex(8))
        try:
            self.move(staged.path, rel)
        except BaseException:
            staged.path.unlink(missing_ok=True)
            raise
        return rel

    def absolute(self, storage_path: str) -> Path:
        """The file behind a storage path; refuses paths that leave the root."""
        path = (self.root / storage_path).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise InvalidInputError(f"storage path {storage_path!r} is outside the artifact root")
        return path

    def move(self, current: Path, storage_path: str) -> Path:
        """Renames a staged (or already placed) file to `storage_path`; returns the new path."""
        dest = self.absolute(storage_path)
        for attempt in (1, 2):
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(current, dest)
                break
            except FileNotFoundError:
                # a concurrent remove() of the last file may have removed the empty folder
                if attempt == 2 or not current.exists():
                    raise
        return dest

    # -- reading ---------------------------------------------------------------------
    def verified(
        self, storage_path: str, size: int, checksum: str | None, *, what: str = "a version"
    ) -> Path:
        """The file, after checking its size and sha256 against the recorded ones.
        ArtifactMissingError (naming `what` and the path) if it is not there."""
        path = self.absolute(storage_path)
        problem = self.check(storage_path, size, checksum)
        if problem == "missing":
            raise ArtifactMissingError(
                f"the file of {what} is missing from the artifact store: {path}"
            )
        if problem is not None:
            raise ChecksumMismatchError(f"{storage_path}: {problem}")
        return path

    @contextmanager
    def reader(
        self, storage_path: str, size: int, checksum: str | None, *, what: str = "a version"
    ) -> Iterator[Readable]:
        """The file opened for reading, checked while it is read: the read that reaches its
        end raises ChecksumMismatchError if the size or sha256 differ from the recorded ones
        (so a caller that reads it whole has read a verified file). ArtifactMissingError
        (naming `what` and the path) if it is not there."""
        path = self.absolute(storage_path)
        try:
            f = path.open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise ArtifactMissingError(
                f"the file of {what} is missing from the artifact store: {path}"
            ) from None
        with f:
            yield _VerifyingReader(f, storage_path, size, checksum)

    def check(self, storage_path: str, size: int, checksum: str | None) -> str | None:
        """None if the file is there with the recorded size and sha256 (None: size only);
        else "missing" or what differs."""
        path = self.absolute(storage_path)
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            return "missing"
        if not path.is_file():
            return "missing"
        if actual != size:
            return f"size is {actual} bytes, the registry recorded {size}"
        if checksum is not None:
            algo, _, expected = checksum.partition(":")
            h = hashlib.new(algo)
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
            if h.hexdigest() != expected:
                return "sha256 does not match the recorded checksum"
        return None

    def walk(self, folder: str) -> Iterator[StoredFile]:
        """Every file under `folder` (MODELS or STAGING) of the root: path relative to the
        root, size, modification time. Symlinks are listed, never followed."""
        top = self.root / folder
        for dirpath, _dirs, files in os.walk(top):
            for fname in files:
                full = Path(dirpath) / fname
                try:
                    st = full.lstat()
                except FileNotFoundError:  # removed meanwhile
                    continue
                rel = full.relative_to(self.root).as_posix()
                yield StoredFile(rel, st.st_size, st.st_mtime)

    def delete(self, relative: str) -> None:
        """Deletes one file found by walk() (and the folders it leaves empty under models/)."""
        path = self.root / relative
        if relative.startswith(MODELS + "/"):
            self.remove_file(path)
        else:
            path.unlink(missing_ok=True)

    # -- removing --------------------------------------------------------------------
    def remove(self, storage_path: str) -> None:
        """Deletes one version's file, then its version and model folders if empty; missing
        files are fine."""
        self.remove_file(self.absolute(storage_path))

    def remove_file(self, path: Path) -> None:
        """Deletes a file under models/ and the version and model folders it leaves empty."""
        path.unlink(missing_ok=True)
        models = self.root / MODELS
        for parent in (path.parent, path.parent.parent):
            if parent == models or not parent.is_relative_to(models):
                break
            try:
                parent.rmdir()
            except OSError:
                break
