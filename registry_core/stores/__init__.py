"""Artifact stores: where model files live. `open_store` picks the store for a local path or
URL; every store implements `ArtifactStore` (registry_core/stores/base.py)."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from registry_core.errors import InvalidInputError, MissingDriverError
from registry_core.stores.base import (
    MARKER,
    MODELS,
    STAGING,
    ArtifactStore,
    Readable,
    StoredFile,
    Written,
    model_dir,
)
from registry_core.stores.local import LocalArtifactStore

__all__ = [
    "FSSPEC_SCHEMES",
    "MARKER",
    "MODELS",
    "STAGING",
    "ArtifactStore",
    "LocalArtifactStore",
    "Readable",
    "StoredFile",
    "Written",
    "model_dir",
    "open_store",
]

#: URL scheme -> (extra to install, the fsspec implementation's module)
FSSPEC_SCHEMES: dict[str, tuple[str, str]] = {
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
    "az": ("azure", "adlfs"),
    "abfs": ("azure", "adlfs"),
    "abfss": ("azure", "adlfs"),
    "memory": ("fsspec", "fsspec"),
}
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: "s3:/bucket", "s3:bucket": a scheme of two or more characters (not a drive letter) and
#: no "//"; refused rather than taken for a folder named "s3:"
_SCHEME_ONLY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def _require(module: str, extra: str, scheme: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingDriverError(f"{scheme}://", extra, module, store=True) from None


def open_store(
    location: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
) -> ArtifactStore:
    """The artifact store at `location`: a local path or `file://` URL (LocalArtifactStore),
    or an `s3://`, `gs://`, `az://`/`abfs://` or `memory://` URL (FsspecArtifactStore, with
    `storage_options` for the fsspec file system). InvalidInputError for any other scheme,
    and for credentials written into the URL; MissingDriverError naming the extra to install
    when the scheme's library is missing."""
    text = os.fspath(location)
    match = _URL.match(text) if isinstance(location, str) else None
    if match is None and isinstance(location, str) and _SCHEME_ONLY.match(text):
        raise InvalidInputError(
            f"artifact location {text[:40]!r} looks like a URL without '//' after its scheme: "
            "write s3://bucket/prefix (a folder whose name ends in ':' is refused)"
        )
    if match is None or match.group(1).lower() == "file":
        if match is not None:
            parts = urlsplit(text)
            if parts.netloc not in ("", "localhost") or not parts.path:
                raise InvalidInputError("a file:// artifact URL is file:///absolute/path (no host)")
            text = unquote(parts.path)
        if storage_options:
            raise InvalidInputError(
                "storage_options apply to fsspec stores (s3://, gs://, az://, memory://), "
                "not to a local folder"
            )
        return LocalArtifactStore(text)
    scheme = match.group(1).lower()
    if scheme not in FSSPEC_SCHEMES:
        raise InvalidInputError(
            f"unknown artifact store scheme {scheme[:20]!r}: give a local path, or a file://, "
            "s3://, gs://, az:// (abfs://) or memory:// URL"
        )
    try:
        password = urlsplit(text).password
    except ValueError:
        password = None
    if password is not None:
        raise InvalidInputError(
            f"the {scheme}:// artifact URL carries a password: keep credentials where the "
            "storage library finds them (environment, profile) or pass storage_options"
        )
    extra, module = FSSPEC_SCHEMES[scheme]
    _require("fsspec", extra, scheme)
    _require(module, extra, scheme)
    from registry_core.stores.remote import FsspecArtifactStore

    return FsspecArtifactStore(text, storage_options)
