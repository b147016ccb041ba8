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

from registry_core import urls
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

#: the features a backend may declare in `MetadataBackend.capabilities`, beyond the core every
#: backend gives (models, versions, tags, statistics, migrate): the contract suite
#: (`registry_core.contract`) skips, with the reason, the tests of any feature not declared
CAPABILITIES = frozenset(
    {
        "aliases",  # set_alias / delete_alias / get_version(alias=...)
        "lineage",  # parents on save, lineage()
        "metrics",  # metrics on save, best_version()
        "model-tags",  # set_model_tag / delete_model_tag, rename_model
        "search",  # search_versions / search_models (SPEC section 7)
        "copy",  # export_models / import_model / paths_in_use (copy_registry, backups)
        "migrations",  # migration_status history, downgrade, repair, the migration files
        "sql",  # query()/execute(): the seed's SQL, statement counts, schema inspection
        "events",  # the event log: history(), events(), consumers, get_version(as_of=...)
    }
)


class MetadataBackend(ABC):
    """Models, versions and tags in a database. Construct from a connection string.

    The only thing `ModelRegistry` talks to, and what a third-party backend implements
    (registered under the entry-point group `registry_core.backends`). It holds metadata
    only, never files. Every call may raise BackendUnavailableError (the database cannot be
    reached or does not answer in time) and InvalidInputError (an argument out of the input
    limits); a write whose COMMIT answer was lost raises OutcomeUnknownError; a write a
    read-only server or role refuses raises ReadOnlyError or PermissionDeniedError. No driver
    exception escapes unwrapped: it is the `__cause__` of a RegistryError.
    """

    #: the name users see in `database_stats()` and error messages ("sqlite", ...)
    name: str = "abstract"
    #: the optional features this backend implements, names from `CAPABILITIES`; the
    #: contract suite skips the tests of the others (the built-in backends declare all)
    capabilities: frozenset[str] = frozenset()

    @classmethod
    def parse_url(cls, url: str) -> urls.DatabaseURL:
        """A connection string of this backend's scheme, parsed (InvalidInputError, without
        the password, if malformed). This default reads the built-in forms
        (`scheme://user:pw@host:port/database?options`, SQLite's paths); a backend whose URLs
        look otherwise overrides it: `connect()` and `open_backend()` hand it every URL of a
        scheme it is registered for, before anything else reads the URL."""
        return urls.parse_url(url)

    # -- lifecycle -------------------------------------------------------------------
    @abstractmethod
    def migrate(self, *, target: str | None = None) -> list[str]:
        """Apply pending migrations (up to `target`) under the migration lock; returns the
        versions applied ([] when current). Writes the schema and schema_migrations. Raises
        MigrationError (a dirty migration, an applied file changed since, a malformed
        `target`, tables made by hand that cannot be adopted, a failed statement)."""

    @abstractmethod
    def migration_status(self) -> MigrationStatus:
        """Applied, pending and dirty migrations, as a `MigrationStatus`; reads
        schema_migrations only, in a read transaction that never waits for a writer."""

    @abstractmethod
    def downgrade(self, target: str) -> list[str]:
        """Reverts migrations above `target` ("000": all) under the lock, newest first,
        dropping what they made (and its data); returns the versions reverted. Raises
        MigrationError (a dirty migration, a migration without a down file, another process
        changing the schema meanwhile)."""

    @abstractmethod
    def repair(self, *, applied: bool) -> str | None:
        """Resolves a dirty migration after the operator fixed the schema by hand: records it
        as applied (`applied=True`) or forgets it so that it runs again; returns its version
        (None: nothing was dirty). Writes schema_migrations only."""

    @abstractmethod
    def close(self) -> None:
        """Release every connection; the backend is unusable afterwards (calls raise
        BackendUnavailableError). Closing twice does nothing."""

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
        """The model, with its tags; NotFoundError if absent."""

    @abstractmethod
    def list_models(self) -> list[Model]:
        """Every model with its tags, ordered by name (code point order); [] if none."""

    @abstractmethod
    def update_model(self, name: str, *, description: str | None) -> Model:
        """Sets the description (None clears it) and updated_at; returns the model.
        NotFoundError if absent."""

    @abstractmethod
    def delete_model(self, name: str) -> list[str]:
        """Deletes the model, its versions, tags, metrics, aliases and lineage edges in one
        transaction; returns the storage paths its versions held (the caller deletes the
        files). NotFoundError if absent."""

    @abstractmethod
    def rename_model(self, name: str, new_name: str) -> Model:
        """Renames a model (its versions, tags and aliases go with it); NotFoundError if
        absent, AlreadyExistsError if `new_name` is taken."""

    @abstractmethod
    def set_model_tag(self, name: str, key: str, value: str | None) -> None:
        """Creates or overwrites one tag of the model itself (`value` may be None);
        NotFoundError if the model is absent."""

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
        """One page (a `Page` of `ModelVersion`) of the versions matching `filter`, with
        their tags, metrics and aliases, in one statement; keyset pagination by
        `page_token`. InvalidInputError for a bad filter, order or token (docs/searching.md)."""

    @abstractmethod
    def search_models(
        self,
        filter: str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Model]:
        """One page (a `Page` of `Model`) of the models matching `filter`, with their tags;
        refused as `search_versions` is."""

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
        alias pointed at then, by the event log), or (neither) the latest (the highest number);
        NotFoundError if the model, version or alias is absent (or the alias pointed nowhere
        at `as_of`), InvalidInputError if both a version and an alias are given or `as_of` is
        naive."""

    @abstractmethod
    def best_version(
        self, name: str, metric: str, *, higher_is_better: bool = True
    ) -> ModelVersion:
        """The version with the best value of `metric` (the highest, or the lowest with
        `higher_is_better=False`; ties: the newest). NotFoundError if the model is absent or
        no version of it has that metric."""

    @abstractmethod
    def lineage(
        self, name: str, version: str, *, direction: Direction = "ancestors"
    ) -> list[ModelVersion]:
        """Every version the given one derives from ("ancestors") or that derives from it
        ("descendants"), nearest first, across models and through every generation (one
        recursive query per 500 generations); [] if none. NotFoundError if the version is
        absent."""

    @abstractmethod
    def update_version(self, name: str, version: str, *, description: str | None) -> ModelVersion:
        """Sets a version's description (and the model's updated_at); returns the version.
        NotFoundError if the model or the version is absent."""

    @abstractmethod
    def list_versions(self, name: str) -> list[ModelVersion]:
        """The model's versions in numeric order (10 after 9), with their tags, metrics and
        aliases; NotFoundError if the model is absent."""

    @abstractmethod
    def delete_version(self, name: str, version: str) -> ModelVersion:
        """Deletes one version with its tags, metrics, aliases and lineage edges; returns it
        (the caller deletes its file). Its number is never reused. NotFoundError if the model
        or the version is absent."""

    @abstractmethod
    def latest_versions(self) -> list[ModelVersion]:
        """The latest version of every model that has one, ordered by model name."""

    @abstractmethod
    def find_by_tag(self, key: str, value: str | None = None) -> list[ModelVersion]:
        """Versions carrying tag `key` (with `value` unless None), by name then version;
        [] if none."""

    # -- tags ------------------------------------------------------------------------
    @abstractmethod
    def set_tag(self, name: str, version: str, key: str, value: str | None) -> None:
        """Creates or overwrites one tag of a version (`value` may be None); NotFoundError if
        the model or the version is absent."""

    @abstractmethod
    def delete_tag(self, name: str, version: str, key: str) -> None:
        """Removes one tag; NotFoundError if the version or the tag is absent."""

    # -- aliases ---------------------------------------------------------------------
    @abstractmethod
    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Points `alias` of the model at `version`, creating or moving it atomically;
        NotFoundError if the model or the version is absent, InvalidInputError for an alias
        of digits only."""

    @abstractmethod
    def delete_alias(self, name: str, alias: str) -> None:
        """Removes an alias; NotFoundError if the model or the alias is absent."""

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
        """Model and version totals and file sizes (the seed document's statistics query),
        as a `RegistryStats`; reads only."""

    def refresh_statistics(self) -> None:
        """Has the database recompute the statistics its planner uses (after a bulk load
        such as a copy; PostgreSQL and MySQL otherwise plan the first queries on the new rows
        blind, and one took over a minute). A backend without such statistics does
        nothing, as this default does."""
        return None

    @abstractmethod
    def database_stats(self) -> DatabaseStats:
        """Backend, server version, driver, schema version, size in bytes, row counts and
        the registry's id, as a `DatabaseStats`; reads the server's catalog."""
