"""The abstract metadata backend: the only thing ModelRegistry talks to.

Every method reads or writes metadata only; model files are the registry's business. The three
concrete backends (SQLite, PostgreSQL, MySQL) share one implementation over the SQL layer
(`registry_core.sqlbackend.SQLMetadataBackend`); a third party can implement this class for
another store and register it under the `registry_core.backends` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

from registry_core.errors import RegistryError
from registry_core.migrator import MigrationStatus
from registry_core.records import (
    DatabaseStats,
    Event,
    ExportedModel,
    ExportedVersion,
    ImportResult,
    Model,
    ModelVersion,
    Page,
    RegistryStats,
    VersionFile,
)

#: which way lineage() follows the edges
Direction = Literal["ancestors", "descendants"]


class MetadataBackend(ABC):
    """Models, versions and tags in a database. Construct from a connection string.

    The only thing `ModelRegistry` talks to, and what a third-party backend implements
    (registered under the entry-point group `registry_core.backends`). It holds metadata
    only, never files. Every call may raise BackendUnavailableError (the database cannot be
    reached or does not answer in time) and InvalidInputError (an argument out of the input
    limits); a write whose COMMIT answer was lost raises OutcomeUnknownError. No driver
    exception escapes unwrapped: it is the `__cause__` of a RegistryError.
    """

    #: the name users see in `database_stats()` and error messages ("sqlite", ...)
    name: str = "abstract"

    # -- lifecycle -------------------------------------------------------------------
    @abstractmethod
    def migrate(self, *, target: str | None = None) -> list[str]:
        """Apply pending migrations (up to `target`) under the migration lock; returns the
        versions applied. Raises MigrationError."""

    @abstractmethod
    def migration_status(self) -> MigrationStatus:
        """Applied, pending and dirty migrations; reads schema_migrations only."""

    @abstractmethod
    def downgrade(self, target: str) -> list[str]:
        """Reverts migrations above `target` ("000": all) under the lock; returns them."""

    @abstractmethod
    def repair(self, *, applied: bool) -> str | None:
        """Resolves a dirty migration after the operator fixed the schema by hand: records it
        as applied (`applied=True`) or forgets it so that it runs again; returns its version."""

    @abstractmethod
    def close(self) -> None:
        """Release every connection; the backend is unusable afterwards."""

    def __enter__(self) -> MetadataBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- models ----------------------------------------------------------------------
    @abstractmethod
    def get_model(self, name: str) -> Model:
        """The model; NotFoundError if absent."""

    @abstractmethod
    def list_models(self) -> list[Model]:
        """Every model, ordered by name (code point order)."""

    @abstractmethod
    def update_model(self, name: str, *, description: str | None) -> Model:
        """Sets the description and updated_at; NotFoundError if absent."""

    @abstractmethod
    def delete_model(self, name: str) -> list[str]:
        """Deletes the model, its versions and tags; returns the storage paths it held."""

    @abstractmethod
    def rename_model(self, name: str, new_name: str) -> Model:
        """Renames a model (its versions, tags and aliases go with it); NotFoundError if
        absent, AlreadyExistsError if `new_name` is taken."""

    @abstractmethod
    def set_model_tag(self, name: str, key: str, value: str | None) -> None:
        """Creates or overwrites one tag of the model itself."""

    @abstractmethod
    def delete_model_tag(self, name: str, key: str) -> None:
        """Removes one tag of the model; NotFoundError if the model or the tag is absent."""

    # -- search ----------------------------------------------------------------------
    @abstractmethod
    def search_versions(
        self,
        filter: str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """One page of the versions matching `filter` (SPEC section 7), with their tags,
        metrics and aliases; keyset pagination by `page_token`."""

    @abstractmethod
    def search_models(
        self,
        filter: str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Model]:
        """One page of the models matching `filter`, with their tags."""

    # -- versions ----------------------------------------------------------------------
    @abstractmethod
    def create_version(
        self,
        name: str,
        *,
        description: str | None,
        tags: Mapping[str, str | None],
        file_size_bytes: int,
        checksum: str,
        storage_path: str,
        metrics: Mapping[str, float] | None = None,
        parents: Sequence[tuple[str, str]] = (),
    ) -> ModelVersion:
        """Creates the model if needed and its next version with tags, metrics and lineage
        edges to `parents` (existing (name, version) pairs), all or nothing. `storage_path`
        names the version's file, already in the artifact store and unique to this save (so a
        save whose COMMIT answer was lost is found by it). Raises OutcomeUnknownError when the
        outcome cannot be found out, any other error when nothing was recorded."""

    @abstractmethod
    def get_version(
        self,
        name: str,
        version: str | None = None,
        *,
        alias: str | None = None,
        as_of: Any = None,
    ) -> ModelVersion:
        """One version: by number, by alias (with `as_of`, an aware datetime: the version the
        alias pointed at then, by the event log), or (neither) the latest; NotFoundError if
        absent."""

    @abstractmethod
    def best_version(
        self, name: str, metric: str, *, higher_is_better: bool = True
    ) -> ModelVersion:
        """The version with the best value of `metric` (ties: the newest)."""

    @abstractmethod
    def lineage(
        self, name: str, version: str, *, direction: Direction = "ancestors"
    ) -> list[ModelVersion]:
        """Every version the given one derives from ("ancestors") or that derives from it
        ("descendants"), nearest first, in one recursive query."""

    @abstractmethod
    def update_version(self, name: str, version: str, *, description: str | None) -> ModelVersion:
        """Sets a version's description (and the model's updated_at); NotFoundError if absent."""

    @abstractmethod
    def list_versions(self, name: str) -> list[ModelVersion]:
        """The model's versions in numeric order; NotFoundError if the model is absent."""

    @abstractmethod
    def delete_version(self, name: str, version: str) -> ModelVersion:
        """Deletes one version and its tags; returns it. Its number is never reused."""

    @abstractmethod
    def latest_versions(self) -> list[ModelVersion]:
        """The latest version of every model that has one, ordered by model name."""

    @abstractmethod
    def find_by_tag(self, key: str, value: str | None = None) -> list[ModelVersion]:
        """Versions carrying tag `key` (with `value` unless None), by name then version."""

    # -- tags ------------------------------------------------------------------------
    @abstractmethod
    def set_tag(self, name: str, version: str, key: str, value: str | None) -> None:
        """Creates or overwrites one tag of a version."""

    @abstractmethod
    def delete_tag(self, name: str, version: str, key: str) -> None:
        """Removes one tag; NotFoundError if the version or the tag is absent."""

    # -- aliases ---------------------------------------------------------------------
    @abstractmethod
    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Points `alias` of the model at `version`, creating or moving it atomically."""

    @abstractmethod
    def delete_alias(self, name: str, alias: str) -> None:
        """Removes an alias; NotFoundError if absent."""

    @abstractmethod
    def version_files(self) -> Iterator[VersionFile]:
        """Every version's file record (name, version, storage path, size, checksum), read in
        batches, for checking the artifact store against the database."""

    # -- moving a registry (copy_registry) --------------------------------------------
    @abstractmethod
    def export_models(self, names: Sequence[str] | None = None) -> Iterator[ExportedModel]:
        """Every model (or the models named), whole, with its identity (`ExportedModel.uid`,
        which renames keep), in the order they were created, all read in ONE consistent
        snapshot of the database (a copy taken while others save holds each
        version whole), in batches: memory holds one batch of models, not the registry.
        NotFoundError, before the first model, if a named model is absent. The snapshot ends
        when the iterator is exhausted or closed (use `contextlib.closing`); until then it
        holds a connection, which on SQLite is the backend's only one: export from a backend
        of its own (as copy_registry does), not from one the same program saves through."""

    @abstractmethod
    def import_model(
        self,
        model: ExportedModel,
        *,
        before_write: Callable[[Sequence[ExportedVersion]], None] | None = None,
        dry_run: bool = False,
    ) -> ImportResult:
        """Writes one exported model with its own numbers, times, counter, identity, tags,
        metrics, aliases and lineage edges, in ONE transaction. The model here is the one
        with its identity (under another name: it is renamed), else the one of its name
        and creation time. What is here and identical is left alone; versions absent here
        are added; what can change takes the exported values: the model's name,
        description, tags, updated_at and aliases (set, moved, removed), each version's
        description, tags and metrics; the counter takes the higher of the two. Nothing
        else is deleted: versions and edges only here stay. Edges whose parent version is
        not in this database are not written (returned as `edges_missing`).
        AlreadyExistsError naming the model (and version) and what to do if a version here
        differs from the exported one in what never changes (file path, size, checksum,
        creation time), the model here is another of the same name, its new name here
        belongs to another model, or another model here points at its files: then nothing
        of it is written. `dry_run=True` writes nothing and returns what it would do.
        `before_write(versions)` gets the versions about to be written after those checks,
        before the transaction that writes them (a copy puts their files in place there, so
        no committed row points to a missing file, and no upload holds a write lock); the
        write compares again, and calls it once more, inside the transaction, for versions
        that went missing here meanwhile. If it raises, nothing is written."""

    @abstractmethod
    def paths_in_use(self, paths: Sequence[str]) -> set[str]:
        """Which of these storage paths a version points at: after a delete, the files that
        must stay because another version (of another model, perhaps) references them."""

    # -- the event log (SPEC section 10) ------------------------------------------------
    #: who makes this backend's changes, as its events record
    actor: str = "unknown"

    def history(
        self,
        name: str | None = None,
        *,
        version: str | None = None,
        actions: str | Sequence[str] | None = None,
        actor: str | None = None,
        since: Any = None,
        until: Any = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Event]:
        """A page of events, newest first; this default keeps no event log."""
        raise RegistryError(f"{type(self).__name__} keeps no event log")

    def events(self, after: Any = None, *, limit: int = 100, wait: float = 0.0) -> Page[Event]:
        """The feed after `after`, oldest first; this default keeps no event log."""
        raise RegistryError(f"{type(self).__name__} keeps no event log")

    def consumer_position(self, name: str) -> int:
        """A durable consumer's position; this default keeps no event log."""
        raise RegistryError(f"{type(self).__name__} keeps no event log")

    def acknowledge(self, name: str, event_id: int) -> None:
        """Moves a durable consumer's position; this default keeps no event log."""
        raise RegistryError(f"{type(self).__name__} keeps no event log")

    # -- the registry itself ------------------------------------------------------------
    def registry_identity(self) -> tuple[str | None, str | None]:
        """(the registry's stable id, a UUID made with its schema; where its files live, as
        recorded by `record_artifacts_location`), read in one statement; (None, None) where
        the schema (before 006) or the backend keeps neither, as this default does."""
        return None, None

    def record_artifacts_location(self, location: str) -> str | None:
        """Records where the registry's files live (a path or a URL without credentials)
        unless a location is recorded already; returns the one recorded now. None where the
        backend keeps none, as this default does."""
        return None

    # -- statistics --------------------------------------------------------------------
    @abstractmethod
    def stats(self) -> RegistryStats:
        """Model and version totals (the seed document's statistics query)."""

    def refresh_statistics(self) -> None:
        """Has the database recompute the statistics its planner uses (after a bulk load
        such as a copy; PostgreSQL and MySQL otherwise plan the first queries on the new rows
        blind, and one took over a minute). A backend without such statistics does
        nothing, as this default does."""
        return None

    @abstractmethod
    def database_stats(self) -> DatabaseStats:
        """Backend, server version, schema version, size in bytes and row counts."""
