"""The fsspec artifact store: model files in object storage (`s3://`, `gs://`, `az://`,
`abfs://`) or in fsspec's in-process `memory://` file system.

Object stores have no rename, so a save uploads straight to its own storage path (unique to
the save, see `relative_path`), streamed in parts; the save's row is committed only after the
upload completed, and the object is deleted when the save fails (an interrupted multipart
upload is aborted, so nothing shows). Reads stream too, and check size and sha256 while
reading: an ETag is never taken for a checksum. There is no staging area, so `walk(STAGING)`
lists nothing.

Credentials never pass through registry-core: each library finds them where its users keep
them (environment variables, profiles, instance metadata) or in `storage_options`, which only
the file system object holds; `repr()` and messages show the URL without them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any

from registry_core.errors import InvalidInputError
from registry_core.stores.base import (
    CHUNK,
    MARKER,
    MODELS,
    ArtifactStore,
    HashingWriter,
    StoredFile,
    checked_relative,
)

log = logging.getLogger("registry_core")

#: part size of uploads and read-ahead of downloads: what a transfer holds in memory
WRITE_BLOCK = 16 * CHUNK
READ_BLOCK = 8 * CHUNK
CACHE_ENV = "MODEL_REGISTRY_CACHE"


def cache_dir() -> Path:
    """Where `model_path()` puts verified copies of remote files: $MODEL_REGISTRY_CACHE, else
    $XDG_CACHE_HOME/registry-core, else ~/.cache/registry-core."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "registry-core"


def _mtime(info: Mapping[str, Any]) -> float:
    """The modification time in an fsspec info dict (each library names it differently);
    unknown: now, so that a file of unknown age is never taken for an old orphan."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            return value.timestamp()
    return time.time()


class FsspecArtifactStore(ArtifactStore):
    """Model files under an fsspec URL. `location` is the URL as given (registry-core refuses
    URLs that carry a password); `storage_options` go to the fsspec file system."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        import fsspec  # the factory (open_store) checked that it is installed

        self.scheme = url.split("://", 1)[0].lower()
        self.location = url.rstrip("/")
        options = dict(storage_options or {})
        if self.scheme != "memory":
            # another process's saves and deletes must show at once (fsck, loads)
            options.setdefault("use_listings_cache", False)
        self._options = options
        self.fs, base = fsspec.core.url_to_fs(url, **options)
        #: the root as the file system names it (no scheme); not `root`, which names a local
        #: folder on LocalArtifactStore
        self.base = str(base).rstrip("/")
        if not self.base.strip("/"):  # "s3://": files would go to a bucket named "models"
            raise InvalidInputError(
                f"the artifact URL {url!r} names no bucket or container: "
                f"write {self.scheme}://bucket/prefix"
            )

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self.location!r})"

    def secrets(self) -> tuple[str, ...]:
        return tuple(_secret_values(self._options))

    def identity(self) -> tuple[str, str]:
        return (
            self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0],
            self.base,
        )

    def _key(self, storage_path: str) -> str:
        return f"{self.base}/{checked_relative(storage_path)}"

    # -- writing ---------------------------------------------------------------------
    @contextmanager
    def _writing(self, storage_path: str, *, fresh: bool) -> Iterator[HashingWriter]:
        key = self._key(storage_path)
        f = self.fs.open(key, "wb", block_size=WRITE_BLOCK)
        try:
            yield HashingWriter(f)
            f.close()  # uploads the last part and completes the upload
        except BaseException:
            _abandon(f)
            if fresh:
                self._delete_key(key, quiet=True)
            raise

    def _delete_key(self, key: str, *, quiet: bool = False) -> None:
        try:
            self.fs.rm_file(key)
        except FileNotFoundError:
            pass
        except Exception as exc:
            if not quiet:
                raise
            # the save fails anyway; `registry-core fsck --repair` removes the orphan later
            log.warning("could not delete %s after a failed save: %s", self.describe_key(key), exc)

    def describe_key(self, key: str) -> str:
        return self.location + key[len(self.base) :]

    # -- reading ---------------------------------------------------------------------
    def _open(self, storage_path: str) -> IO[bytes]:
        f: IO[bytes] = self.fs.open(
            self._key(storage_path), "rb", block_size=READ_BLOCK, cache_type="readahead"
        )
        return f

    def _size(self, storage_path: str) -> int | None:
        try:
            info = self.fs.info(self._key(storage_path))
        except FileNotFoundError:
            return None
        if info.get("type") != "file":
            return None
        return int(info["size"])

    def describe(self, storage_path: str) -> str:
        return f"{self.location}/{checked_relative(storage_path)}"

    def local_path(
        self, storage_path: str, size: int, checksum: str | None, *, what: str = "a version"
    ) -> Path:
        """A verified local copy in the cache folder (see `cache_dir`), downloaded (streamed,
        checked while written) unless a copy with that sha256 is already there; the cache is
        keyed by checksum, so a copy is never stale."""
        name = PurePosixPath(checked_relative(storage_path)).name
        if checksum is not None:
            folder = checksum.replace(":", "-")
        else:
            folder = "path-" + hashlib.sha256(self.describe(storage_path).encode()).hexdigest()
        target = cache_dir() / "files" / folder / name
        if checksum is not None and target.is_file() and target.stat().st_size == size:
            h = hashlib.sha256()
            with target.open("rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
            if "sha256:" + h.hexdigest() == checksum:
                return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-", suffix=".part")
        try:
            with (
                os.fdopen(fd, "wb") as out,
                self.reader(storage_path, size, checksum, what=what) as reader,
            ):
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def walk(self, folder: str) -> Iterator[StoredFile]:
        """The objects under models/; nothing for the staging folder (there is none)."""
        if folder != MODELS:
            return
        prefix = self.base + "/"
        try:
            found = self.fs.find(prefix + MODELS, detail=True)
        except FileNotFoundError:
            return
        for path, info in sorted(found.items()):
            path = str(path)
            if info.get("type", "file") != "file" or not path.startswith(prefix):
                continue
            yield StoredFile(path[len(prefix) :], int(info.get("size") or 0), _mtime(info))

    def delete(self, relative: str) -> None:
        self._delete_key(self._key(relative))

    # -- removing --------------------------------------------------------------------
    def remove(self, storage_path: str) -> None:
        self._delete_key(self._key(storage_path))

    # -- the marker ------------------------------------------------------------------
    def read_marker(self) -> bytes | None:
        try:
            data: bytes = self.fs.cat_file(f"{self.base}/{MARKER}")
        except FileNotFoundError:
            return None
        return data

    def create_marker(self, data: bytes) -> bool:
        # Object stores have no portable "create unless it exists": two registries claiming
        # one new store in the same instant may both believe they own it (docs/artifact-stores.md
        # says so); the next connect of the loser sees the winner's marker.
        key = f"{self.base}/{MARKER}"
        if self.fs.exists(key):
            return False
        self.fs.pipe_file(key, data)
        return True

    def replace_marker(self, data: bytes) -> None:
        self.fs.pipe_file(f"{self.base}/{MARKER}", data)


def _abandon(f: Any) -> None:
    """Throws away an unfinished upload (aborts a multipart upload) so that neither an error
    nor the garbage collector completes it."""
    try:
        f.discard()
    except Exception as exc:
        log.debug("discarding an unfinished upload failed: %s", exc)
    with contextlib.suppress(AttributeError):  # io-based files (memory://): read-only
        f.closed = True


#: option names whose values are credentials (s3fs key/secret/token, adlfs account_key,
#: sas_token, connection_string, client_secret, gcsfs token...)
_SECRET_NAME = re.compile(r"secret|key|token|password|credential|connection_string|sas", re.I)


def _secret_values(options: Any, secret: bool = False) -> Iterator[str]:
    """The string values of `options` (nested mappings and lists included) that sit under
    a credential's name, and every `...Key=VALUE` part of a connection string."""
    if isinstance(options, Mapping):
        for name, value in options.items():
            yield from _secret_values(value, secret or bool(_SECRET_NAME.search(str(name))))
    elif isinstance(options, (list, tuple)):
        for value in options:
            yield from _secret_values(value, secret)
    elif isinstance(options, str) and secret and len(options) >= 4:
        yield options
        for part in options.split(";"):  # AccountKey=...;SharedAccessSignature=...
            name, _, value = part.partition("=")
            if value and _SECRET_NAME.search(name):
                yield value
