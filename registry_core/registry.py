"""The public entry point: `connect()` and `ModelRegistry`, which pairs a MetadataBackend with
an ArtifactStore. It talks to the database only through MetadataBackend."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from registry_core import validate
from registry_core.artifacts import ArtifactStore, Placer, Staged
from registry_core.backend import MetadataBackend
from registry_core.entrypoints import open_backend
from registry_core.errors import SchemaOutOfDateError
from registry_core.migrator import Migrator
from registry_core.records import DatabaseStats, Model, ModelVersion, RegistryStats
from registry_core.urls import default_artifacts, parse_url, resolve_url

log = logging.getLogger("registry_core")

PICKLE_FILENAME = "model.pkl"


def connect(
    url: str | None = None,
    *,
    artifacts: str | os.PathLike[str] | None = None,
    migrate: bool = True,
) -> ModelRegistry:
    """Opens a registry.

    `url` None reads $MODEL_REGISTRY_URL, else uses the SQLite file ./registry.db.
    `artifacts` None reads $MODEL_REGISTRY_ARTIFACTS, else `artifacts/` beside a SQLite file,
    else ./artifacts. `migrate=True` applies pending migrations under the migration lock;
    `migrate=False` raises SchemaOutOfDateError if any are pending.
    """
    raw = resolve_url(url)
    parsed = parse_url(raw)
    backend = open_backend(raw)
    try:
        if migrate:
            backend.migrate()
        else:
            status = backend.migration_status()
            Migrator.check_runnable(status)
            if status.pending:
                raise SchemaOutOfDateError(
                    f"the schema of {parsed.masked()} is at "
                    f"{status.current or 'nothing (empty database)'}; "
                    f"{len(status.pending)} migration(s) pending "
                    f"({', '.join(m.label for m in status.pending)}). Run: "
                    f"registry-core migrate --url '{parsed.masked()}' "
                    "(with the real password), or connect with migrate=True"
                )
    except BaseException:
        backend.close()
        raise
    return ModelRegistry(backend, ArtifactStore(default_artifacts(parsed, artifacts)))


class ModelRegistry:
    """Models, their numbered versions, tags and files. Use as a context manager."""

    def __init__(self, backend: MetadataBackend, artifacts: ArtifactStore) -> None:
        self.backend = backend
        self.artifacts = artifacts

    def __repr__(self) -> str:
        return f"ModelRegistry({self.backend!r}, {self.artifacts!r})"

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Releases the backend's connections."""
        self.backend.close()

    # -- saving ----------------------------------------------------------------------
    def save_model(
        self,
        model: Any,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str | None] | None = None,
    ) -> ModelVersion:
        """Pickles `model` into the artifact store and records a new version, all or nothing."""
        validate.name(name)
        validate.description(description)
        tag_map = validate.tags(tags)
        return self._record(
            self.artifacts.stage_object(model), name, PICKLE_FILENAME, description, tag_map
        )

    def save_model_file(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str | None] | None = None,
    ) -> ModelVersion:
        """Copies an existing file into the store and records a new version."""
        validate.name(name)
        validate.description(description)
        tag_map = validate.tags(tags)
        staged = self.artifacts.stage_file(path)
        return self._record(staged, name, Path(path).name, description, tag_map)

    def _record(
        self,
        staged: Staged,
        name: str,
        filename: str,
        description: str | None,
        tags: dict[str, str | None],
    ) -> ModelVersion:
        placer = Placer(self.artifacts, staged, name, filename)
        try:
            return self.backend.create_version(
                name,
                description=description,
                tags=tags,
                file_size_bytes=staged.size,
                checksum=staged.checksum,
                place_file=placer,
            )
        except BaseException:
            placer.discard()
            raise

    # -- loading ---------------------------------------------------------------------
    def load_model(self, name: str, version: str | int | None = None) -> Any:
        """The unpickled model (None: the latest version), after verifying size and sha256.

        Unpickling runs code from the file: load only from registries you trust.
        """
        with self.model_path(name, version).open("rb") as f:
            return pickle.load(f)

    def model_path(self, name: str, version: str | int | None = None) -> Path:
        """The verified local path of a version's file (for files saved with save_model_file)."""
        mv = self.get_version(name, version)
        return self.artifacts.verified(mv.storage_path, mv.file_size_bytes, mv.checksum)

    # -- models ----------------------------------------------------------------------
    def get_model(self, name: str) -> Model:
        return self.backend.get_model(name)

    def list_models(self) -> list[Model]:
        return self.backend.list_models()

    def update_model(self, name: str, *, description: str | None) -> Model:
        return self.backend.update_model(name, description=description)

    def delete_model(self, name: str) -> None:
        """Removes the model, its versions and tags, then its files."""
        paths = self.backend.delete_model(name)
        for path in paths:
            self._remove_file(path)
        self.artifacts.remove_model(name)

    # -- versions --------------------------------------------------------------------
    def get_version(self, name: str, version: str | int | None = None) -> ModelVersion:
        return self.backend.get_version(name, None if version is None else str(version))

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self.backend.list_versions(name)

    def delete_version(self, name: str, version: str | int) -> None:
        """Removes one version, its tags and file; its number is never given out again."""
        removed = self.backend.delete_version(name, str(version))
        self._remove_file(removed.storage_path)

    def latest_versions(self) -> list[ModelVersion]:
        return self.backend.latest_versions()

    def find_by_tag(self, key: str, value: str | None = None) -> list[ModelVersion]:
        return self.backend.find_by_tag(key, value)

    def set_tag(self, name: str, version: str | int, key: str, value: str | None) -> None:
        self.backend.set_tag(name, str(version), key, value)

    def delete_tag(self, name: str, version: str | int, key: str) -> None:
        self.backend.delete_tag(name, str(version), key)

    # -- statistics --------------------------------------------------------------------
    def stats(self) -> RegistryStats:
        return self.backend.stats()

    def database_stats(self) -> DatabaseStats:
        return self.backend.database_stats()

    def _remove_file(self, storage_path: str) -> None:
        # The metadata is already gone; a file we cannot delete is logged, not raised.
        try:
            self.artifacts.remove(storage_path)
        except (OSError, ValueError) as exc:
            log.warning("could not remove model file %s: %s", storage_path, exc)
