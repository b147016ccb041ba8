"""The one implementation of MetadataBackend over the shared SQL layer.

A backend module subclasses `SQLMetadataBackend` and supplies only what truly differs: how to
open connections (`_open`, `_checkout`, `_close`), how a transaction starts (`_begin`), the
migration lock (`_migration_lock`) and its Dialect. Everything else is here, once.
"""

from __future__ import annotations

import logging
import random
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from registry_core import validate
from registry_core.backend import MetadataBackend, PlaceFile
from registry_core.dialect import Dialect, ErrorKind
from registry_core.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    NotFoundError,
    RegistryError,
)
from registry_core.migrator import MigrationStatus, Migrator
from registry_core.records import DatabaseStats, Model, ModelVersion, RegistryStats
from registry_core.session import Session, StatementCounter, parse_timestamp, utc_now
from registry_core.sql import TAG_CHUNK, Queries
from registry_core.urls import DatabaseURL, parse_url, scrub

log = logging.getLogger("registry_core")
T = TypeVar("T")

#: our tables, for row counts in database_stats()
TABLES = ("mr_models", "mr_model_versions", "mr_model_tags", "schema_migrations")


class SQLMetadataBackend(MetadataBackend):
    """MetadataBackend for any database with a Dialect and a DB-API driver."""

    #: how often a transaction that hit a deadlock or serialization failure is tried again
    retries = 5

    def __init__(self, url: str | DatabaseURL) -> None:
        self.url = parse_url(url) if isinstance(url, str) else url
        self.statements = StatementCounter()
        self._closed = False
        self.dialect: Dialect = self._open()
        self.queries = Queries(self.dialect)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url.masked()!r})"

    # -- what a backend module supplies ------------------------------------------------
    @abstractmethod
    def _open(self) -> Dialect:
        """Opens the connection pool; returns the dialect for the server it found."""

    @abstractmethod
    def _checkout(self) -> AbstractContextManager[Any]:
        """A DB-API connection for one unit of work, returned to the pool afterwards."""

    @abstractmethod
    def _close(self) -> None:
        """Closes every connection."""

    def _begin(self, session: Session, *, write: bool) -> None:
        """Starts a transaction; drivers that open one implicitly need nothing here."""

    @abstractmethod
    def _migration_lock(self, session: Session) -> AbstractContextManager[None]:
        """Held while migrations run, so that one process migrates at a time."""

    # -- transactions -------------------------------------------------------------------
    @contextmanager
    def _transaction_on(self, conn: Any, *, write: bool = True) -> Iterator[Session]:
        session = Session(conn, self.dialect, self.statements)
        self._begin(session, write=write)
        try:
            yield session
        except BaseException:
            try:
                session.rollback()
            except Exception:  # the connection may be gone; the original error matters
                log.debug("rollback failed", exc_info=True)
            raise
        session.commit()

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Session]:
        with self._checkout() as conn, self._transaction_on(conn, write=write) as session:
            yield session

    def _run(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        """Runs `work` in one transaction; retries it on deadlock; wraps driver errors."""
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        attempt = 0
        while True:
            try:
                with self._transaction(write=write) as session:
                    return work(session)
            except self.dialect.driver_errors() as exc:
                kind = self.dialect.classify(exc)
                if kind is ErrorKind.RETRY and attempt < self.retries:
                    attempt += 1
                    log.debug("retrying after %s (attempt %d)", type(exc).__name__, attempt)
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))
                    continue
                raise self._wrap(exc, kind) from exc

    def _wrap(self, exc: BaseException, kind: ErrorKind | None = None) -> RegistryError:
        """A driver exception as one of SPEC's errors, its message free of the password."""
        kind = kind or self.dialect.classify(exc)
        detail = scrub(str(exc).strip() or type(exc).__name__, self.url.secrets())
        where = f"{self.name} at {self.url.masked()}"
        if kind is ErrorKind.UNIQUE:
            return AlreadyExistsError(f"{where}: {detail}")
        if kind in (ErrorKind.UNAVAILABLE, ErrorKind.RETRY):
            return BackendUnavailableError(f"{where} is unavailable: {detail}")
        return RegistryError(f"{where}: {type(exc).__name__}: {detail}")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    # -- migrations -----------------------------------------------------------------------
    def _with_migrator(self, action: Callable[[Migrator], T]) -> T:
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        try:
            with self._checkout() as conn:
                lock_session = Session(conn, self.dialect, self.statements)
                with self._migration_lock(lock_session):
                    migrator = Migrator(
                        self.dialect, lambda: self._transaction_on(conn, write=True)
                    )
                    return action(migrator)
        except self.dialect.driver_errors() as exc:
            raise self._wrap(exc) from exc

    def migrate(self, *, target: str | None = None) -> list[str]:
        return self._with_migrator(lambda m: m.upgrade(target))

    def downgrade(self, target: str) -> list[str]:
        """Reverts migrations above `target` under the migration lock; returns them."""
        return self._with_migrator(lambda m: m.downgrade(target))

    def repair(self) -> str | None:
        """Clears a dirty migration record after an operator fixed the schema."""
        return self._with_migrator(lambda m: m.repair())

    def migration_status(self) -> MigrationStatus:
        try:
            with self._checkout() as conn:
                return Migrator(self.dialect, lambda: self._transaction_on(conn)).status()
        except self.dialect.driver_errors() as exc:
            raise self._wrap(exc) from exc

    def migrator(self) -> Migrator:
        """A Migrator for dry runs (`sql()`); it opens no connection until used."""
        return Migrator(self.dialect, lambda: self._transaction())

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Runs one SQL statement of the caller's (`:name` parameters) in its own transaction
        and returns its rows; for monitoring and ad-hoc reports, e.g. the seed's queries."""
        return self._run(lambda s: s.all(sql, params), write=False)

    # -- helpers --------------------------------------------------------------------------
    def _missing(self, s: Session, name: str, what: str) -> NotFoundError:
        """NotFoundError naming the model, or `what` of an existing model."""
        if s.one(self.queries.model_exists, {"name": name}) is None:
            return NotFoundError(f"no model named {name!r}")
        return NotFoundError(f"model {name!r} has no {what}")

    def _version_row(self, s: Session, name: str, version: str | None) -> tuple[Any, ...]:
        q = self.queries
        if version is None:
            row = s.one(q.get_latest_version, {"name": name})
        else:
            row = s.one(q.get_version, {"name": name, "version": version})
        if row is None:
            raise self._missing(s, name, "versions" if version is None else f"version {version}")
        return row

    # -- models ---------------------------------------------------------------------------
    def get_model(self, name: str) -> Model:
        name = validate.name(name)

        def work(s: Session) -> Model:
            row = s.one(self.queries.get_model, {"name": name})
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            return _model(row)

        return self._run(work, write=False)

    def list_models(self) -> list[Model]:
        return self._run(
            lambda s: [_model(r) for r in s.all(self.queries.list_models)], write=False
        )

    def update_model(self, name: str, *, description: str | None) -> Model:
        name = validate.name(name)
        description = validate.description(description)

        def work(s: Session) -> Model:
            params = {"name": name, "description": description, "now": utc_now()}
            if s.rowcount(self.queries.update_model, params) == 0:
                raise NotFoundError(f"no model named {name!r}")
            return _model(s.one(self.queries.get_model, {"name": name}) or ())

        return self._run(work)

    def delete_model(self, name: str) -> list[str]:
        name = validate.name(name)

        def work(s: Session) -> list[str]:
            paths = [r[0] for r in s.all(self.queries.model_storage_paths, {"name": name})]
            if s.rowcount(self.queries.delete_model, {"name": name}) == 0:
                raise NotFoundError(f"no model named {name!r}")
            return paths

        return self._run(work)

    # -- versions ---------------------------------------------------------------------------
    def create_version(
        self,
        name: str,
        *,
        description: str | None,
        tags: Mapping[str, str | None],
        file_size_bytes: int,
        checksum: str,
        place_file: PlaceFile,
    ) -> ModelVersion:
        name = validate.name(name)
        description = validate.description(description)
        tag_map = validate.tags(tags)
        q = self.queries

        def work(s: Session) -> ModelVersion:
            now = utc_now()
            s.rowcount(
                q.create_model_if_absent,
                {
                    "name": name,
                    "description": description,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            s.rowcount(q.bump_version_counter, {"name": name, "now": now})
            counter = s.one(q.read_version_counter, {"name": name})
            assert counter is not None  # created above, locked by the UPDATE
            model_id, number = counter[0], str(int(counter[1]))
            storage_path = place_file(number)
            version_id = s.insert(
                q.insert_version,
                {
                    "model_id": model_id,
                    "version": number,
                    "description": description,
                    "storage_path": storage_path,
                    "file_size_bytes": file_size_bytes,
                    "checksum": checksum,
                    "created_at": now,
                },
            )
            items = list(tag_map.items())
            for start in range(0, len(items), TAG_CHUNK):
                chunk = items[start : start + TAG_CHUNK]
                params: dict[str, Any] = {"version_id": version_id}
                for i, (k, v) in enumerate(chunk):
                    params[f"k{i}"], params[f"v{i}"] = k, v
                s.rowcount(Queries.insert_tags(len(chunk)), params)
            return ModelVersion(
                name,
                number,
                description,
                storage_path,
                file_size_bytes,
                parse_timestamp(now),
                dict(sorted(tag_map.items())),
                checksum,
            )

        return self._run(work)

    def get_version(self, name: str, version: str | None = None) -> ModelVersion:
        name = validate.name(name)
        number = None if version is None else validate.version(version)

        def work(s: Session) -> ModelVersion:
            row = self._version_row(s, name, number)
            tags = _tags(s.all(self.queries.tags_of_version, {"version_id": row[7]}))
            return _version(row, tags)

        return self._run(work, write=False)

    def list_versions(self, name: str) -> list[ModelVersion]:
        name = validate.name(name)

        def work(s: Session) -> list[ModelVersion]:
            rows = s.all(self.queries.list_versions, {"name": name})
            if not rows and s.one(self.queries.model_exists, {"name": name}) is None:
                raise NotFoundError(f"no model named {name!r}")
            tags = _tags(s.all(self.queries.tags_of_model, {"name": name}) if rows else [])
            return [_version(r, tags) for r in rows]

        return self._run(work, write=False)

    def delete_version(self, name: str, version: str) -> ModelVersion:
        name = validate.name(name)
        number = validate.version(version)
        q = self.queries

        def work(s: Session) -> ModelVersion:
            row = self._version_row(s, name, number)
            tags = _tags(s.all(q.tags_of_version, {"version_id": row[7]}))
            s.rowcount(q.delete_version, {"version_id": row[7]})
            s.rowcount(q.touch_model, {"name": name, "now": utc_now()})
            return _version(row, tags)

        return self._run(work)

    def latest_versions(self) -> list[ModelVersion]:
        def work(s: Session) -> list[ModelVersion]:
            rows = s.all(self.queries.latest_versions)
            tags = _tags(s.all(self.queries.tags_of_latest_versions) if rows else [])
            return [_version(r, tags) for r in rows]

        return self._run(work, write=False)

    def find_by_tag(self, key: str, value: str | None = None) -> list[ModelVersion]:
        key = validate.tag_key(key)
        value = validate.tag_value(value)
        q = self.queries
        params = {"key": key} if value is None else {"key": key, "value": value}

        def work(s: Session) -> list[ModelVersion]:
            rows = s.all(q.find_by_tag_key if value is None else q.find_by_tag_value, params)
            tag_sql = q.tags_of_tag_key if value is None else q.tags_of_tag_value
            tags = _tags(s.all(tag_sql, params) if rows else [])
            return [_version(r, tags) for r in rows]

        return self._run(work, write=False)

    # -- tags -----------------------------------------------------------------------------
    def set_tag(self, name: str, version: str, key: str, value: str | None) -> None:
        name, number = validate.name(name), validate.version(version)
        key, value = validate.tag_key(key), validate.tag_value(value)

        def work(s: Session) -> None:
            row = self._version_row(s, name, number)
            s.rowcount(
                self.queries.upsert_tag,
                {"model_version_id": row[7], "tag_key": key, "tag_value": value},
            )

        self._run(work)

    def delete_tag(self, name: str, version: str, key: str) -> None:
        name, number, key = validate.name(name), validate.version(version), validate.tag_key(key)

        def work(s: Session) -> None:
            row = self._version_row(s, name, number)
            if s.rowcount(self.queries.delete_tag, {"version_id": row[7], "key": key}) == 0:
                raise NotFoundError(f"version {number} of {name!r} has no tag {key!r}")

        self._run(work)

    # -- statistics ---------------------------------------------------------------------------
    def stats(self) -> RegistryStats:
        def work(s: Session) -> RegistryStats:
            models, versions, total, avg = s.one(self.queries.stats) or (0, 0, None, None)
            return RegistryStats(int(models), int(versions), int(total or 0), float(avg or 0))

        return self._run(work, write=False)

    def database_stats(self) -> DatabaseStats:
        d = self.dialect

        def work(s: Session) -> DatabaseStats:
            server = str(s.scalar(d.server_version_sql))
            size = int(s.scalar(d.database_size_sql) or 0) if d.database_size_sql else 0
            counts: dict[str, int] = {}
            for table in TABLES:
                if s.one(d.table_exists_sql, {"name": table}) is not None:
                    counts[table] = int(s.scalar(Queries.row_count(table)))
            schema = None
            if "schema_migrations" in counts:
                schema = s.scalar("SELECT MAX(version) FROM schema_migrations WHERE dirty = 0")
            return DatabaseStats(
                self.name,
                server,
                None if schema is None else str(schema),
                size,
                counts,
                self.url.masked(),
            )

        return self._run(work, write=False)


def _model(row: tuple[Any, ...]) -> Model:
    return Model(row[0], row[1], parse_timestamp(row[2]), parse_timestamp(row[3]))


def _version(row: tuple[Any, ...], tags: Mapping[int, dict[str, str | None]]) -> ModelVersion:
    return ModelVersion(
        name=row[0],
        version=str(row[1]),
        description=row[2],
        storage_path=row[3],
        file_size_bytes=int(row[4] or 0),
        created_at=parse_timestamp(row[5]),
        tags=dict(tags.get(int(row[7]), {})),
        checksum=row[6],
    )


def _tags(rows: list[tuple[Any, ...]]) -> dict[int, dict[str, str | None]]:
    """Tag rows (version id, key, value) grouped by version id, keys sorted."""
    out: dict[int, dict[str, str | None]] = {}
    for vid, key, value in sorted(rows, key=lambda r: (int(r[0]), r[1])):
        out.setdefault(int(vid), {})[key] = value
    return out
