"""The local artifact store: model files in a folder, written atomically.

A file is first written under `<root>/.staging/` (same file system, fsynced) while its size and
sha256 are computed, then renamed (atomically) to its storage path before the save's row is
committed. Nothing is ever written outside the root.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from registry_core.errors import ChecksumMismatchError, InvalidInputError, RegistryError
from registry_core.stores.base import (
    CHUNK,
    MARKER,
    MODELS,
    STAGING,
    ArtifactStore,
    HashingWriter,
    StoredFile,
    VerifyingReader,
    checked_relative,
)


class LocalArtifactStore(ArtifactStore):
    """Model files under the folder `root`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()
        self.location = str(self.root)

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.location!r})"

    def _real_root(self) -> Path:
        """The root with its links resolved, once (a copy checks 100,000 paths)."""
        real: Path | None = getattr(self, "_resolved", None)
        if real is None:
            real = self._resolved = self.root.resolve()
        return real

    def identity(self) -> tuple[str, str]:
        return ("file", os.path.realpath(self.root))

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
    def _staging_file(self) -> Iterator[tuple[Path, HashingWriter]]:
        staging = self._staging_dir()
        fd, tmp = tempfile.mkstemp(dir=staging, prefix="upload-", suffix=".part")
        path = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                writer = HashingWriter(f)
                yield path, writer
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    @contextmanager
    def _writing(self, storage_path: str, *, fresh: bool) -> Iterator[HashingWriter]:
        self.absolute(storage_path)  # refused before anything is written
        with self._staging_file() as (path, writer):
            yield writer
        try:
            self.move(path, storage_path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def absolute(self, storage_path: str) -> Path:
        """The file behind a storage path; refuses paths that leave the root."""
        path = (self.root / storage_path).resolve()
        if not path.is_relative_to(self._real_root()):
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
    def _open(self, storage_path: str) -> IO[bytes]:
        return self.absolute(storage_path).open("rb")

    def _size(self, storage_path: str) -> int | None:
        path = self.absolute(storage_path)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        return size if path.is_file() else None

    def describe(self, storage_path: str) -> str:
        return str(self.absolute(storage_path))

    def verified(
        self, storage_path: str, size: int, checksum: str | None, *, what: str = "a version"
    ) -> Path:
        """The file, after checking its size and sha256 against the recorded ones.
        ArtifactMissingError (naming `what` and the path) if it is not there."""
        path = self.absolute(checked_relative(storage_path))
        problem = self.check(storage_path, size, checksum)
        if problem == "missing":
            raise self._missing(storage_path, what)
        if problem is not None:
            raise ChecksumMismatchError(f"{storage_path}: {problem}")
        return path

    def local_path(
        self, storage_path: str, size: int, checksum: str | None, *, what: str = "a version"
    ) -> Path:
        """The file itself, after checking its size and sha256."""
        return self.verified(storage_path, size, checksum, what=what)

    @contextmanager
    def verified_file(
        self, storage_path: str, size: int, checksum: str | None, *, what: str = "a version"
    ) -> Iterator[IO[bytes]]:
        """The file opened for reading, yielded after the open file was read through and its
        size and sha256 checked (no copy)."""
        try:
            f = self._open(checked_relative(storage_path))
        except (FileNotFoundError, IsADirectoryError):
            raise self._missing(storage_path, what) from None
        with f:
            reader = VerifyingReader(f, storage_path, size, checksum)
            while reader.read(CHUNK):
                pass
            f.seek(0)
            yield f

    def walk(self, folder: str) -> Iterator[StoredFile]:
        """Symlinks are listed, never followed."""
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
        """Deletes one version's file, then its model folder if empty; missing files are
        fine."""
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

    # -- the marker ------------------------------------------------------------------
    def read_marker(self) -> bytes | None:
        try:
            return (self.root / MARKER).read_bytes()
        except FileNotFoundError:
            return None

    def create_marker(self, data: bytes) -> bool:
        # written whole in staging, then linked into place: the link fails if a marker is
        # there, and a reader never sees half of one
        with self._staging_file() as (path, writer):
            writer.write(data)
        try:
            os.link(path, self.root / MARKER)
            return True
        except FileExistsError:
            return False
        finally:
            path.unlink(missing_ok=True)

    def replace_marker(self, data: bytes) -> None:
        with self._staging_file() as (path, writer):
            writer.write(data)
        try:
            os.replace(path, self.root / MARKER)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
