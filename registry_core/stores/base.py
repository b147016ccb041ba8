"""The artifact store interface and what every store shares: storage paths, hashing writers
and verifying readers.

A storage path is relative to the store's root, with POSIX separators:
`models/<model-dir>/<token>-<file>`, where `<token>` is unique to one save. `<model-dir>` is a
readable slug of the name plus a hash of it, so no name can escape the root, and names that
differ only in case stay apart on case-insensitive file systems and object stores.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol

from registry_core import validate
from registry_core.errors import (
    ArtifactMissingError,
    ArtifactStoreError,
    ChecksumMismatchError,
    InvalidInputError,
    RegistryError,
)
from registry_core.urls import scrub

CHUNK = 1 << 20
#: where a local store writes files before they are placed, and where placed files live
STAGING, MODELS = ".staging", "models"
#: the file at a store's root that names the registries whose files it keeps
MARKER = ".registry-core.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str, limit: int = 40) -> str:
    """`text` reduced to letters, digits, '.', '_' and '-' (at most `limit` characters)."""
    return (_UNSAFE.sub("_", text).strip("._") or "_")[:limit]


def model_dir(name: str) -> str:
    """The folder of a model under models/: slug plus 16 hex digits of sha256(name)."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
    return f"{slug(name)}-{digest}"


def relative_path(name: str, filename: str, token: str) -> str:
    """Where a save's file lives, relative to the root (POSIX separators).

    `token` is unique to one save: a save that fails, or a model deleted and created again,
    can never touch another save's file, and a save whose COMMIT answer was lost is found by
    its path.
    """
    stem, dot, ext = filename.rpartition(".")
    safe = f"{slug(stem, 80)}.{slug(ext, 16)}" if dot and stem else slug(filename, 100)
    return str(PurePosixPath(MODELS, model_dir(name), f"{token}-{safe}"))


def checked_relative(storage_path: str) -> str:
    """`storage_path` if it is a plain relative POSIX path inside the root; else
    InvalidInputError (an absolute path, '..', '.', empty parts, backslashes, NUL)."""
    return validate.storage_path(storage_path)


@dataclass(frozen=True)
class StoredFile:
    """A file in the store: path relative to the root, size in bytes, modification time."""

    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Written:
    """A file written to the store: where, its size in bytes and "sha256:<hex>"."""

    storage_path: str
    size: int
    checksum: str


class Readable(Protocol):
    """What a store reads from and hands out for reading: `read(n)` until it returns b""."""

    def read(self, n: int = -1, /) -> bytes: ...


class HashingWriter:
    """A binary file wrapper that hashes and counts what passes through it."""

    def __init__(self, f: Any) -> None:
        self.f, self.hash, self.size = f, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.f.write(data)
        return len(data)

    @property
    def checksum(self) -> str:
        return "sha256:" + self.hash.hexdigest()


class VerifyingReader:
    """A binary reader that counts and hashes what is read, and raises ChecksumMismatchError
    at the end of the file (or as soon as it is longer than recorded) if it differs."""

    def __init__(self, f: Any, label: str, size: int, checksum: str | None) -> None:
        self.f, self.label, self.size, self.seen = f, label, size, 0
        algo, _, self.expected = (checksum or "").partition(":")
        self.hash = hashlib.new(algo) if checksum else None

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.f.read(n)
        self._count(data)
        if not data or n is None or n < 0:
            self._finish()
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, limit: int = -1) -> bytes:
        data: bytes = self.f.readline(limit)
        self._count(data)
        if not data:
            self._finish()
        return data

    def _count(self, data: bytes) -> None:
        self.seen += len(data)
        if self.hash is not None:
            self.hash.update(data)
        if self.seen > self.size:
            raise ChecksumMismatchError(
                f"{self.label}: size is more than the {self.size} bytes recorded"
            )

    def _finish(self) -> None:
        if self.seen != self.size:
            raise ChecksumMismatchError(
                f"{self.label}: size is {self.seen} bytes, the registry recorded {self.size}"
            )
        if self.hash is not None and self.hash.hexdigest() != self.expected:
            raise ChecksumMismatchError(
                f"{self.label}: sha256 does not match the recorded checksum"
            )


def copy_stream(source: Readable, writer: HashingWriter) -> None:
    """Copies `source` to its end into `writer`, one chunk at a time."""
    while chunk := source.read(CHUNK):
        writer.write(chunk)


class ArtifactStore(ABC):
    """Model files under a root (a local folder or an fsspec URL); storage paths recorded in
    the database are relative to it. `location` names the root in messages (never with a
    credential)."""

    location: str

    # -- what a store implements -----------------------------------------------------
    @abstractmethod
    def identity(self) -> tuple[str, str]:
        """(protocol, root as the file system names it): two stores with equal identities
        are one place (see `same_place`)."""

    def secrets(self) -> tuple[str, ...]:
        """Texts that must never appear in a message (credentials among the options)."""
        return ()

    def same_place(self, other: ArtifactStore) -> bool:
        """Whether `other` keeps its files in the same place (same folder, same bucket and
        prefix)."""
        return self.identity() == other.identity()

    @abstractmethod
    def _writing(self, storage_path: str, *, fresh: bool) -> Any:
        """A context manager yielding a HashingWriter whose bytes end up at `storage_path`
        when the block completes; when it raises, nothing is left at `storage_path` if
        `fresh` (a path unique to one save), and a file already there stays if not."""

    @abstractmethod
    def _open(self, storage_path: str) -> IO[bytes]:
        """The file opened for reading; FileNotFoundError (or IsADirectoryError) if absent."""

    @abstractmethod
    def _size(self, storage_path: str) -> int | None:
        """The file's size, None if there is no file at `storage_path`."""

    @abstractmethod
    def describe(self, storage_path: str) -> str:
        """Where the file of a storage path is, for people: a local path or a URL."""

    @abstractmethod
    def local_path(
        self, storage_path: str, size: int, checksum: str | None, *, what: str = "a version"
    ) -> Path:
        """A local file with the verified content of `storage_path` (see the subclasses)."""

    @abstractmethod
    def walk(self, folder: str) -> Iterator[StoredFile]:
        """Every file under `folder` (MODELS or STAGING) of the root: path relative to the
        root, size, modification time."""

    @abstractmethod
    def delete(self, relative: str) -> None:
        """Deletes one file found by walk(); a missing file is fine."""

    @abstractmethod
    def remove(self, storage_path: str) -> None:
        """Deletes one version's file; a missing file is fine."""

    @abstractmethod
    def read_marker(self) -> bytes | None:
        """The content of the root's MARKER file, None if there is none."""

    @abstractmethod
    def create_marker(self, data: bytes) -> bool:
        """Writes the MARKER file whole unless one exists; False if one existed."""

    @abstractmethod
    def replace_marker(self, data: bytes) -> None:
        """Writes the MARKER file whole, replacing the one there."""

    # -- writing ---------------------------------------------------------------------
    def put_object(self, obj: Any, name: str, filename: str) -> Written:
        """Pickles `obj` to a new path of its own under models/ (streamed, not built in
        memory); nothing is left there if this fails."""
        rel = relative_path(name, filename, secrets.token_hex(8))
        with self._writing(rel, fresh=True) as writer:
            try:
                pickle.dump(obj, writer, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise InvalidInputError(f"the model cannot be pickled: {exc}") from exc
        return Written(rel, writer.size, writer.checksum)

    def put_file(self, source: str | os.PathLike[str], name: str) -> Written:
        """Copies an existing file to a new path of its own under models/ (named after it)."""
        src = Path(source)
        if not src.is_file():
            raise InvalidInputError(f"no such file: {src}")
        rel = relative_path(name, src.name, secrets.token_hex(8))
        with src.open("rb") as f, self._writing(rel, fresh=True) as writer:
            copy_stream(f, writer)
        return Written(rel, writer.size, writer.checksum)

    def write_at(self, storage_path: str, source: Readable) -> Written:
        """Streams `source` (read to its end) to exactly `storage_path`, replacing a file
        already there only once the whole source was written; returns its size and sha256.
        Used by a copy, which keeps each version's storage path."""
        with self._writing(checked_relative(storage_path), fresh=False) as writer:
            copy_stream(source, writer)
        return Written(storage_path, writer.size, writer.checksum)

    # -- reading ---------------------------------------------------------------------
    def _missing(self, storage_path: str, what: str) -> ArtifactMissingError:
        return ArtifactMissingError(
            f"the file of {what} is missing from the artifact store: {self.describe(storage_path)}"
        )

    @contextmanager
    def reader(
        self, storage_path: str, size: int, checksum: str | None, *, what: str = "a version"
    ) -> Iterator[Readable]:
        """The file opened for reading, checked while it is read: the read that reaches its
        end raises ChecksumMismatchError if the size or sha256 differ from the recorded ones
        (so a caller that reads it whole has read a verified file). ArtifactMissingError
        (naming `what` and the path) if it is not there."""
        try:
            f = self._open(checked_relative(storage_path))
        except (FileNotFoundError, IsADirectoryError):
            raise self._missing(storage_path, what) from None
        with f:
            yield VerifyingReader(f, storage_path, size, checksum)

    @contextmanager
    def verified_file(
        self, storage_path: str, size: int, checksum: str | None, *, what: str = "a version"
    ) -> Iterator[IO[bytes]]:
        """A local, seekable file with the content of `storage_path`, yielded only after its
        size and sha256 were checked (read once, into a temporary file, while hashing)."""
        with tempfile.TemporaryFile() as tmp:
            with self.reader(storage_path, size, checksum, what=what) as r:
                while chunk := r.read(CHUNK):
                    tmp.write(chunk)
            tmp.seek(0)
            yield tmp

    def check(self, storage_path: str, size: int, checksum: str | None) -> str | None:
        """None if the file is there with the recorded size and sha256 (None: size only);
        else "missing" or what differs."""
        actual = self._size(checked_relative(storage_path))
        if actual is None:
            return "missing"
        if actual != size:
            return f"size is {actual} bytes, the registry recorded {size}"
        if checksum is not None:
            algo, _, expected = checksum.partition(":")
            h = hashlib.new(algo)
            try:
                with self._open(storage_path) as f:
                    while chunk := f.read(CHUNK):
                        h.update(chunk)
            except (FileNotFoundError, IsADirectoryError):
                return "missing"
            if h.hexdigest() != expected:
                return "sha256 does not match the recorded checksum"
        return None


@contextmanager
def store_errors(what: str, *stores: ArtifactStore) -> Iterator[None]:
    """Turns what a store's library raises (OSError, botocore's, azure.core's...) into
    ArtifactStoreError saying `what` failed, credentials masked; registry-core's own errors
    pass as they are."""
    try:
        yield
    except RegistryError:
        raise
    except Exception as exc:
        masked = tuple(secret for store in stores for secret in store.secrets())
        message = scrub(f"{what}: {type(exc).__name__}: {exc}", masked)
        raise ArtifactStoreError(message) from exc
