"""The artifact store (kept importable here; the stores live in registry_core/stores/).

`ArtifactStore` is the interface every store implements; `LocalArtifactStore` keeps files in a
folder (staged, fsynced, renamed into place), `FsspecArtifactStore` (registry_core.stores.remote,
needs fsspec) in object storage. `open_store(location, storage_options)` picks one.
"""

from __future__ import annotations

from registry_core.stores import (
    FSSPEC_SCHEMES,
    MODELS,
    STAGING,
    ArtifactStore,
    LocalArtifactStore,
    Readable,
    StoredFile,
    Written,
    model_dir,
    open_store,
)
from registry_core.stores.base import relative_path, store_errors

__all__ = [
    "FSSPEC_SCHEMES",
    "MODELS",
    "STAGING",
    "ArtifactStore",
    "LocalArtifactStore",
    "Readable",
    "StoredFile",
    "Written",
    "model_dir",
    "open_store",
    "relative_path",
    "store_errors",
]
