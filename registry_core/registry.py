"""The public entry point: `connect()` and `ModelRegistry`, which pairs a MetadataBackend with
an ArtifactStore. It talks to the database only through MetadataBackend."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from registry_core import validate
from registry_core.backend import Direction, MetadataBackend
from registry_core.entrypoints import open_backend, parse_backend_url
from registry_core.errors import OutcomeUnknownError, RegistryError, SchemaOutOfDateError
from registry_core.events import default_actor
from registry_core.fsck import DEFAULT_GRACE, VerifyReport, verify
from registry_core.migrator import Migrator
from registry_core.records import DatabaseStats, Event, Model, ModelVersion, Page, RegistryStats
from registry_core.stores import ArtifactStore, Written, open_store, owners
from registry_core.stores.base import store_errors
from registry_core.urls import (
    ARTIFACTS_ENV,
    DatabaseURL,
    default_artifacts,
    earlier_defaults,
    resolve_url,
)

log = logging.getLogger("registry_core")

PICKLE_FILENAME = "model.pkl"


def connect(
    url: str | None = None,
    *,
    artifacts: str | os.PathLike[str] | None = None,
    migrate: bool = True,
    storage_options: Mapping[str, Any] | None = None,
    shared_artifacts: bool = False,
    actor: str | None = None,
) -> ModelRegistry:
    """Opens a registry.

    `url` None reads $MODEL_REGISTRY_URL, else uses the SQLite file ./registry.db.
    `artifacts` (a local folder, or a file://, s3://, gs://, az://, abfs:// or memory:// URL)
    None reads $MODEL_REGISTRY_ARTIFACTS, else where the registry recorded its files (see
    `registry_store`), else a folder of the registry's own (see `default_artifacts`).
    `storage_options` go to the fsspec file system of a URL store (endpoint, credentials,
    region...; they are kept by that file system alone, never shown or stored).
    `migrate=True` applies pending migrations under the migration lock; `migrate=False`
    raises SchemaOutOfDateError if any are pending.
    `shared_artifacts=True` lets this registry use a store that keeps another registry's
    files (InvalidInputError otherwise); in a shared store no file is ever deleted that this
    registry does not reference, and deletes leave the deleted versions' files in place.
    `actor` names who makes this registry's changes in the event log (`history()`); None
    reads $MODEL_REGISTRY_ACTOR, else the OS user.

    Returns a `ModelRegistry` (close it, or use it as a context manager). Raises
    InvalidInputError (a malformed URL, an unknown option or artifact scheme, another
    registry's store), MissingDriverError (the driver or storage library is not installed),
    BackendUnavailableError (the database cannot be reached), SchemaOutOfDateError and
    MigrationError.
    """
    raw = resolve_url(url)
    parsed = parse_backend_url(raw)
    who = default_actor(actor)
    if artifacts is not None:  # a bad location fails before the database is opened
        open_store(artifacts, storage_options)
    backend = open_backend(raw)
    backend.actor = who
    try:
        if migrate:
            backend.migrate()
        else:
            status = backend.migration_status()
            Migrator.check_runnable(status)
            todo = [m.label for m in status.pending]
            if status.dirty is not None:  # resumable: check_runnable let it through
                todo.insert(0, f"{status.dirty.version} (half-applied)")
            if todo:
                raise SchemaOutOfDateError(
                    f"the schema of {parsed.masked()} is at "
                    f"{status.current or 'nothing (empty database)'}; "
                    f"{len(todo)} migration(s) pending ({', '.join(todo)}). Run: "
                    f"registry-core migrate --url '{parsed.masked()}' "
                    "(with the real password), or connect with migrate=True"
                )
        store, shared = registry_store(
            backend,
            parsed,
            artifacts,
            storage_options=storage_options,
            shared_artifacts=shared_artifacts,
        )
    except BaseException:
        backend.close()
        raise
    return ModelRegistry(backend, store, shared_artifacts=shared_artifacts or shared)


def artifact_store_for(
    database: DatabaseURL,
    artifacts: str | os.PathLike[str] | None,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> ArtifactStore:
    """The artifact store at `artifacts` (a path or URL) if given, else
    $MODEL_REGISTRY_ARTIFACTS, else the default location of a registry on `database` made
    before 0.2 (`default_artifacts`), without asking the registry where its files are (see
    `registry_store`). A URL's store gets `storage_options`; InvalidInputError for an
    unknown scheme, MissingDriverError (naming the extra) when the scheme's library is not
    installed."""
    return open_store(default_artifacts(database, artifacts), storage_options)


def registry_store(
    backend: MetadataBackend,
    database: DatabaseURL,
    artifacts: str | os.PathLike[str] | None,
    *,
    storage_options: Mapping[str, Any] | None = None,
    shared_artifacts: bool = False,
) -> tuple[ArtifactStore, bool]:
    """The artifact store of the registry `backend` opens, and whether other registries
    share it: `artifacts` if given, else $MODEL_REGISTRY_ARTIFACTS, else the location the
    registry recorded, else a folder of its own (`default_artifacts`). Only reads: a store
    whose marker names other registries and not this one is InvalidInputError unless
    `shared_artifacts` (see `registry_core.stores.owners`); `claim_store` marks it before
    the first write."""
    registry_id, recorded = backend.registry_identity()
    explicit = artifacts if artifacts is not None else (os.environ.get(ARTIFACTS_ENV) or None)
    if explicit is not None:
        location: str | os.PathLike[str] = explicit
    elif recorded is not None:
        location = recorded
    elif registry_id is None:  # a schema before 006, or a backend without an identity
        location = default_artifacts(database, None)
    elif _newest_version(backend) is None:  # a new registry: a folder of its own
        location = default_artifacts(database, None, registry_id)
    else:  # files but no record: saved before 0.2, where the rules of then put them
        location = _earlier_store(backend, database)
    store = open_store(location, storage_options)
    if registry_id is None:
        return store, False
    with store_errors("reading the artifact store's marker", store):
        found = owners.owners(store)
    if found and registry_id not in found and not shared_artifacts:
        owners.refuse(store, found)
    return store, len(set(found) | {registry_id}) > 1 if found else False


def claim_store(
    backend: MetadataBackend,
    store: ArtifactStore,
    *,
    shared_artifacts: bool = False,
    what: str = "claiming the artifact store",
) -> bool:
    """Before a registry first writes to or deletes from `store`: makes the store's marker
    name the registry (InvalidInputError if it names another and `shared_artifacts` is
    False), and records the store as where the registry's files live if nothing is recorded
    yet (absolute for a folder, never a credential), when the registry has no version yet
    or the store holds its newest version's file. A database this process may not write (a
    read-only role, a standby) records nothing. Returns whether other registries share the
    store."""
    registry_id, recorded = backend.registry_identity()
    if registry_id is None:
        return False
    with store_errors(what, store):
        if recorded is None and not _holds_files_of(backend, store):
            log.warning(
                "the artifact store %s does not hold this registry's newest file: not claimed "
                "nor recorded (pass artifacts= where its files are)",
                store.location,
            )
            return False
        shared = owners.claim(store, registry_id, share=shared_artifacts).shared
    if recorded is None:
        _record(backend, store)
    return shared


def _earlier_store(backend: MetadataBackend, database: DatabaseURL) -> Path:
    """The first of the earlier default locations that holds the registry's newest file
    (else the first of them: the registry then says so at its first write)."""
    candidates = earlier_defaults(database)
    for folder in candidates:
        if _holds_files_of(backend, open_store(folder)):
            return folder
    return candidates[0]


def _holds_files_of(backend: MetadataBackend, store: ArtifactStore) -> bool:
    """Whether `store` has the registry's newest version's file (or it has no version)."""
    newest = _newest_version(backend)
    return newest is None or store.check(newest.storage_path, newest.file_size_bytes, None) is None


def _newest_version(backend: MetadataBackend) -> ModelVersion | None:
    page = backend.search_versions(None, order_by="created_at DESC", page_size=1)
    return page.items[0] if page.items else None


def _record(backend: MetadataBackend, store: ArtifactStore) -> None:
    """Records the store's location as the registry's; a database this process may not write
    (a read-only role, a standby) keeps none, which costs a lookup at the next connect."""
    if "?" in store.location or "#" in store.location:  # a URL whose query may hold a token
        log.info("artifact location %s not recorded: it has a query part", store.location)
        return
    try:
        backend.record_artifacts_location(store.location)
    except RegistryError as exc:
        log.info("artifact location not recorded (%s)", exc)


class ModelRegistry:
    """Models, their numbered versions, tags and files. Use as a context manager.

    Made by `connect()`. Every method reads or writes the database through its
    `MetadataBackend` (and the files through its artifact store) and may raise, besides what
    it names: InvalidInputError for an argument out of the input limits (empty or over-long
    names, NUL characters, a non-finite metric), BackendUnavailableError when the database
    cannot be reached or does not answer within `call_timeout`, and, for a write whose
    COMMIT answer was lost, OutcomeUnknownError (running it again is safe). A write refused
    by a standby or read-only server is ReadOnlyError, by a database user without the
    privilege PermissionDeniedError (nothing changed; a refused save removes its file); a
    call that finds the schema gone or behind is SchemaOutOfDateError.
    """

    def __init__(
        self, backend: MetadataBackend, artifacts: ArtifactStore, *, shared_artifacts: bool = False
    ) -> None:
        self.backend = backend
        self.artifacts = artifacts
        #: this registry may share its store with others (asked for, or found so): in a
        #: shared store deletes leave files in place and fsck deletes no unreferenced file
        self.shared_artifacts = shared_artifacts
        self._claimed = False

    def _claim(self, what: str) -> None:
        """Marks the store as this registry's before its first write or delete here (see
        `claim_store`); once per process. `what` names the call in a store error."""
        if not self._claimed:
            share = self.shared_artifacts  # asked for sharing: stays shared, whatever the marker
            found = claim_store(self.backend, self.artifacts, shared_artifacts=share, what=what)
            self.shared_artifacts = share or found
            self._claimed = True

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
        """Releases the backend's connections; the registry is unusable afterwards (calls
        raise BackendUnavailableError)."""
        self.backend.close()

    # -- saving ----------------------------------------------------------------------
    def save_model(
        self,
        model: Any,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        metrics: Mapping[str, float] | None = None,
        parents: Sequence[tuple[str, str | int]] | None = None,
    ) -> ModelVersion:
        """Pickles `model` into the artifact store and records a new version with its tags,
        metrics and parents (lineage: (name, version) pairs), all or nothing; creates the
        model on its first save. Returns the new `ModelVersion` (numbers 1, 2, 3, ... per
        model, never reused). Raises InvalidInputError (an object that cannot be pickled, bad
        tags or metrics), NotFoundError (a parent that does not exist), ArtifactStoreError
        (the store failed: nothing was recorded)."""
        extras = _Extras(name, description, tags, metrics, parents)
        self._claim(f"saving a version of {extras.name!r}")
        with store_errors(f"saving a version of {extras.name!r}", self.artifacts):
            written = self.artifacts.put_object(model, extras.name, PICKLE_FILENAME)
        return self._record(written, extras)

    def save_model_file(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        metrics: Mapping[str, float] | None = None,
        parents: Sequence[tuple[str, str | int]] | None = None,
    ) -> ModelVersion:
        """Copies the file at `path` into the store and records a new version, as
        `save_model` does (same arguments, returns and errors; InvalidInputError if `path` is
        not a readable file). Load it back with `model_path`."""
        extras = _Extras(name, description, tags, metrics, parents)
        self._claim(f"saving a version of {extras.name!r}")
        with store_errors(f"saving a version of {extras.name!r}", self.artifacts):
            written = self.artifacts.put_file(path, extras.name)
        return self._record(written, extras)

    def _record(self, written: Written, x: _Extras) -> ModelVersion:
        # The file went to its own path first (unique to this save; on an object store: the
        # upload completed), then the row commits: a version never points at a file that is
        # not there. A failed save deletes its file.
        storage_path = written.storage_path
        try:
            return self.backend.create_version(
                x.name,
                description=x.description,
                tags=x.tags,
                file_size_bytes=written.size,
                checksum=written.checksum,
                storage_path=storage_path,
                metrics=x.metrics,
                parents=x.parents,
            )
        except OutcomeUnknownError:
            # The version may be committed: its file stays (an orphan is repairable, a version
            # without its file is lost data); `registry-core fsck` tells which it is.
            log.warning("save of %r: outcome unknown, keeping its file %s", x.name, storage_path)
            raise
        except BaseException:
            self._remove_file(storage_path)
            raise

    # -- loading ---------------------------------------------------------------------
    def load_model(
        self,
        name: str,
        version: str | int | None = None,
        *,
        alias: str | None = None,
        as_of: datetime | None = None,
    ) -> Any:
        """The unpickled model (by version, by alias, else the latest), after verifying its
        size and sha256 (a remote file is streamed into a temporary file while it is hashed,
        and unpickled only once the check passed). Unpickling runs code from the file: load
        only what you trust. Raises NotFoundError (no such model, version or alias),
        ArtifactMissingError (the file is gone), ChecksumMismatchError (it changed),
        ArtifactStoreError (the store failed). With `alias` and `as_of`: the version the
        alias pointed at then (see `get_version`)."""
        mv = self.get_version(name, version, alias=alias, as_of=as_of)
        what = f"version {mv.version} of {mv.name!r}"
        with contextlib.ExitStack() as stack:
            with store_errors(f"reading {what}", self.artifacts):
                f = stack.enter_context(
                    self.artifacts.verified_file(
                        mv.storage_path, mv.file_size_bytes, mv.checksum, what=what
                    )
                )
            return pickle.load(f)

    def model_path(
        self, name: str, version: str | int | None = None, *, alias: str | None = None
    ) -> Path:
        """The verified local path of a version's file (for files saved with save_model_file).
        On a local store, the file itself; on a URL store, a verified copy in the download
        cache ($MODEL_REGISTRY_CACHE, else ~/.cache/registry-core), fetched once per
        checksum. Raises as `load_model` does."""
        mv = self.get_version(name, version, alias=alias)
        what = f"version {mv.version} of {mv.name!r}"
        with store_errors(f"reading {what}", self.artifacts):
            return self.artifacts.local_path(
                mv.storage_path, mv.file_size_bytes, mv.checksum, what=what
            )

    # -- models ----------------------------------------------------------------------
    def get_model(self, name: str) -> Model:
        """The model named `name` (exactly: case and trailing spaces count), with its tags;
        NotFoundError if there is none."""
        return self.backend.get_model(name)

    def list_models(self) -> list[Model]:
        """Every model (with its tags), ordered by name in code point order; [] when there is
        none. For many models, `search_models` reads them a page at a time."""
        return self.backend.list_models()

    def update_model(self, name: str, *, description: str | None) -> Model:
        """Sets a model's description (None clears it) and updated_at; returns the model.
        NotFoundError if there is no such model."""
        model = self.backend.update_model(name, description=description)
        log.info("model %r: description updated", name)
        return model

    def rename_model(self, name: str, new_name: str) -> Model:
        """Renames a model; its versions, tags, aliases and files stay with it (the files keep
        their paths); returns the renamed model. NotFoundError if there is no model `name`,
        AlreadyExistsError if `new_name` is taken."""
        model = self.backend.rename_model(name, new_name)
        log.info("model %r renamed to %r", name, new_name)
        return model

    def set_model_tag(self, name: str, key: str, value: str | None) -> None:
        """Creates or overwrites a tag of the model itself (`Model.tags`; `value` may be
        None). NotFoundError if there is no such model."""
        self.backend.set_model_tag(name, key, value)
        log.info("model %r: tag %r set", name, key)

    def delete_model_tag(self, name: str, key: str) -> None:
        """Removes a tag of the model; NotFoundError if it has none of that key."""
        self.backend.delete_model_tag(name, key)
        log.info("model %r: tag %r deleted", name, key)

    def delete_model(self, name: str) -> None:
        """Removes the model, its versions, tags, metrics, aliases and lineage edges in one
        transaction, then its files (in a shared store the files stay; a file that cannot be
        deleted is logged and left for `verify(repair=True)`). NotFoundError if absent."""
        # Only the files this model's versions recorded: a model of the same name created
        # meanwhile keeps its own (their names carry a per-save token).
        self._claim(f"deleting {name!r}")
        paths = self.backend.delete_model(name)
        log.info("model %r deleted with %d version(s)", name, len(paths))
        self._remove_files(paths)

    # -- versions --------------------------------------------------------------------
    def get_version(
        self,
        name: str,
        version: str | int | None = None,
        *,
        alias: str | None = None,
        as_of: datetime | None = None,
    ) -> ModelVersion:
        """One version: by number, by alias, or (neither) the latest. NotFoundError if the
        model, the version or the alias does not exist; InvalidInputError if both a version
        and an alias are given.

        With `alias` and `as_of` (an aware datetime): the version the alias pointed at that
        moment, according to the event log ("which version was in production at time T"),
        as it is now, or as it was saved if it has been deleted since. NotFoundError if the
        alias pointed nowhere then (before its first set, after its delete);
        InvalidInputError for a naive datetime."""
        if as_of is not None:
            return self.backend.get_version(name, _number(version), alias=alias, as_of=as_of)
        return self.backend.get_version(name, _number(version), alias=alias)

    def update_version(
        self, name: str, version: str | int, *, description: str | None
    ) -> ModelVersion:
        """Sets a version's description (None clears it) and the model's updated_at; returns
        the version. NotFoundError if the model or the version does not exist."""
        updated = self.backend.update_version(name, str(version), description=description)
        log.info("model %r version %s: description updated", name, version)
        return updated

    def best_version(
        self, name: str, metric: str, *, higher_is_better: bool = True
    ) -> ModelVersion:
        """The version with the highest value of `metric` (the lowest with
        `higher_is_better=False`; ties: the newest). NotFoundError if the model does not
        exist or no version of it has that metric."""
        return self.backend.best_version(name, metric, higher_is_better=higher_is_better)

    def lineage(
        self, name: str, version: str | int, *, direction: Direction = "ancestors"
    ) -> list[ModelVersion]:
        """The versions this one derives from ("ancestors") or that derive from it
        ("descendants"), nearest first, across models, through every generation; [] if
        none. NotFoundError if the version does not exist; InvalidInputError for another
        `direction`."""
        return self.backend.lineage(name, str(version), direction=direction)

    def set_alias(self, name: str, alias: str, version: str | int) -> None:
        """Points `alias` ("champion") at a version, creating it or moving it in one atomic
        statement. NotFoundError if the version does not exist; InvalidInputError for an
        alias of digits only (it would read as a version)."""
        self.backend.set_alias(name, alias, str(version))
        log.info("model %r: alias %r -> version %s", name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        """Removes an alias; NotFoundError if the model has none of that name."""
        self.backend.delete_alias(name, alias)
        log.info("model %r: alias %r deleted", name, alias)

    def list_versions(self, name: str) -> list[ModelVersion]:
        """The model's versions in numeric order (10 after 9), with their tags, metrics and
        aliases. NotFoundError if there is no such model."""
        return self.backend.list_versions(name)

    def delete_version(self, name: str, version: str | int) -> None:
        """Removes one version with its tags, metrics, aliases and lineage edges, then its
        file (as `delete_model` does); its number is never given out again. NotFoundError if
        the model or the version does not exist."""
        self._claim(f"deleting version {version} of {name!r}")
        removed = self.backend.delete_version(name, str(version))
        log.info("model %r version %s deleted", name, removed.version)
        self._remove_files([removed.storage_path])

    def latest_versions(self) -> list[ModelVersion]:
        """The latest version of every model that has one, ordered by model name."""
        return self.backend.latest_versions()

    def find_by_tag(self, key: str, value: str | None = None) -> list[ModelVersion]:
        """The versions carrying tag `key` (with `value`, unless None), by name then version;
        [] if none."""
        return self.backend.find_by_tag(key, value)

    def set_tag(self, name: str, version: str | int, key: str, value: str | None) -> None:
        """Creates or overwrites one tag of a version (`value` may be None). NotFoundError
        if the model or the version does not exist."""
        self.backend.set_tag(name, str(version), key, value)
        log.info("model %r version %s: tag %r set", name, version, key)

    def delete_tag(self, name: str, version: str | int, key: str) -> None:
        """Removes one tag of a version; NotFoundError if absent."""
        self.backend.delete_tag(name, str(version), key)
        log.info("model %r version %s: tag %r deleted", name, version, key)

    # -- search ------------------------------------------------------------------------
    def search_versions(
        self,
        filter: str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """One page of the versions that match `filter`, e.g. ``"tags.stage = 'prod' AND
        metrics.auc > 0.9 OR alias = 'champion'"`` (docs: "Searching"), ordered by
        `order_by` ("name", "version", "created_at", "metrics.KEY", each optionally ASC or
        DESC; default name, then version). Pass `Page.next_page_token` back as `page_token`
        for the next page (None: the last). Returns a `Page`; raises InvalidInputError for a
        filter, order or token it cannot use (naming the position in the filter) or a
        `page_size` outside 1..1000."""
        return self.backend.search_versions(
            filter, order_by=order_by, page_size=page_size, page_token=page_token
        )

    def search_models(
        self,
        filter: str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Model]:
        """One page of the models that match `filter` (fields name, description, created_at,
        updated_at, tags.KEY), ordered by `order_by` (name, created_at, updated_at), paged
        and refused as `search_versions` is. Returns a `Page` of `Model`."""
        return self.backend.search_models(
            filter, order_by=order_by, page_size=page_size, page_token=page_token
        )

    # -- the event log -----------------------------------------------------------------
    def history(
        self,
        name: str | None = None,
        *,
        version: str | int | None = None,
        actions: str | Sequence[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Event]:
        """One page of the event log, newest first (`Event`). With `name`: the events of
        the model now called `name`, under all its earlier names; if no model has that name
        now, the events recorded under it (a deleted model's events stay). Filters combine
        with AND: `version`, `actions` (one or a list, e.g. "alias.set"), `actor`, `since`
        (inclusive) and `until` (exclusive), aware datetimes. Pages are keyset: pass
        `next_page_token` back as `page_token` (None: the last page). InvalidInputError for
        an unknown action, a naive datetime, a token from other filters or a `page_size`
        outside 1..1000."""
        number = None if version is None else str(version)
        return self.backend.history(
            name,
            version=number,
            actions=actions,
            actor=actor,
            since=since,
            until=until,
            page_size=page_size,
            page_token=page_token,
        )

    def events(
        self, after: int | str | None = None, *, limit: int = 100, wait: float = 0.0
    ) -> Page[Event]:
        """The change feed: up to `limit` events with ids above `after` (an event id or a
        `next_page_token`; None: from the start), oldest first. Ids are 1, 2, 3, ... in
        commit order without gaps: continuing from `next_page_token` (always set: the
        position reached) yields every event that commits later, exactly once, in order,
        however many processes write. `wait` > 0 waits up to that many seconds for the
        first new event (polling)."""
        return self.backend.events(after, limit=limit, wait=wait)

    def consumer_position(self, name: str) -> int:
        """The last event id the durable consumer `name` acknowledged (0: none yet), stored
        in the database: `events(after=reg.consumer_position(name))` resumes it."""
        return self.backend.consumer_position(name)

    def acknowledge(self, name: str, event_id: int) -> None:
        """Stores `event_id` as the durable consumer `name`'s position (after it handled
        that event). InvalidInputError for an id the feed has not reached."""
        self.backend.acknowledge(name, event_id)

    # -- statistics --------------------------------------------------------------------
    def stats(self) -> RegistryStats:
        """Model and version counts and file sizes (the seed document's statistics query),
        as a `RegistryStats`; reads the database only."""
        return self.backend.stats()

    def database_stats(self) -> DatabaseStats:
        """What the database reports: backend, server, driver, schema version, size, rows
        and the registry's id, as a `DatabaseStats`."""
        return self.backend.database_stats()

    # -- checking the artifact store -------------------------------------------------
    def verify(
        self, *, checksums: bool = True, grace: float = DEFAULT_GRACE, repair: bool = False
    ) -> VerifyReport:
        """Checks the artifact store against the database: files missing or changed (size,
        and sha256 unless `checksums=False`), files no version points to (orphans) and
        leftovers of saves that died (stale staging files). `repair=True` deletes orphans and
        stale staging files older than `grace` seconds, never a file a version points to (nor,
        in a shared store, one another registry may reference). Returns a `VerifyReport`
        (`ok` when nothing needs attention); raises ArtifactStoreError if the store fails."""
        if repair:
            self._claim("checking the artifact store")
        with store_errors("checking the artifact store", self.artifacts):
            return verify(
                self.backend, self.artifacts, checksums=checksums, grace=grace, repair=repair
            )

    def _remove_files(self, paths: Sequence[str]) -> None:
        """Removes the files of deleted versions, except those another version still points
        at (two models could share one in registries copied before models kept their
        identity: a delete in one must not take the other's file)."""
        try:
            in_use = self.backend.paths_in_use(paths)
        except RegistryError as exc:  # the delete is done: keep the files (orphans, which
            # `registry-core fsck --repair` removes) rather than risk another version's
            log.warning("could not tell which files are still in use; kept them: %s", exc)
            return
        for path in dict.fromkeys(paths):
            if path in in_use:
                log.warning("file %s stays: another version points at it", path)
            else:
                self._remove_file(path)

    def _remove_file(self, storage_path: str) -> None:
        # The metadata is already gone; a file we cannot delete is logged, not raised.
        if self.shared_artifacts:  # another registry may reference it (a copy sharing files)
            log.info("kept %s: the artifact store is shared with another registry", storage_path)
            return
        try:
            with store_errors(f"removing {storage_path}", self.artifacts):
                self.artifacts.remove(storage_path)
        except RegistryError as exc:
            log.warning("could not remove model file %s: %s", storage_path, exc)


def _number(version: str | int | None) -> str | None:
    return None if version is None else str(version)


class _Extras:
    """A save's metadata, validated before any file is written."""

    def __init__(
        self,
        name: str,
        description: str | None,
        tags: Mapping[str, str | None] | None,
        metrics: Mapping[str, float] | None,
        parents: Sequence[tuple[str, str | int]] | None,
    ) -> None:
        self.name = validate.name(name)
        self.description = validate.description(description)
        self.tags = validate.tags(tags)
        self.metrics = validate.metrics(metrics)
        self.parents = validate.parents(parents)
