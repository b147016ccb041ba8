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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any, TypeVar

from registry_core import validate
from registry_core.backend import MetadataBackend, PlaceFile
from registry_core.dialect import Dialect, ErrorKind
from registry_core.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    InvalidInputError,
    MigrationError,
    NotFoundError,
    OutcomeUnknownError,
    RegistryError,
    SchemaOutOfDateError,
)
from registry_core.migrator import (
    Migration,
    MigrationStatus,
    Migrator,
    load_migrations,
    normalize_target,
)
from registry_core.records import (
    DatabaseStats,
    Model,
    ModelVersion,
    RegistryStats,
    VersionFile,
)
from registry_core.session import (
    GuardFactory,
    Session,
    StatementCounter,
    TimedOut,
    parse_timestamp,
    utc_now,
)
from registry_core.sql import ALIASES, CHUNK, LINEAGE, METRICS, Queries
from registry_core.urls import DatabaseURL, parse_url, scrub

log = logging.getLogger("registry_core")
T = TypeVar("T")

#: our tables, for row counts in database_stats()
TABLES = (
    "mr_models",
    "mr_model_versions",
    "mr_model_tags",
    "mr_model_metrics",
    "mr_model_lineage",
    "mr_model_aliases",
    "schema_migrations",
)


class CommitLost(Exception):
    """COMMIT was sent and the connection died (or timed out) before its answer."""

    def __init__(self, cause: BaseException, session_id: int | None) -> None:
        super().__init__(str(cause))
        self.session_id = session_id


class SQLMetadataBackend(MetadataBackend):
    """MetadataBackend for any database with a Dialect and a DB-API driver."""

    #: how often a transaction that hit a deadlock or serialization failure is tried again
    retries = 5
    #: the server's product and version ("PostgreSQL 17.12", "MariaDB 11.8.9"), set by _open
    server: str = ""

    def __init__(self, url: str | DatabaseURL) -> None:
        self.url = parse_url(url) if isinstance(url, str) else url
        self.statements = StatementCounter()
        self._closed = False
        self.dialect: Dialect = self._open()
        self.migrations: list[Migration] = load_migrations()
        self._queries: Queries | None = None

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

    #: the call_timeout deadline around each wait on the server, for drivers without one
    _guard: GuardFactory | None = None
    #: seconds a call waits for an answer from the server (URL option call_timeout)
    call_timeout: float = 60.0

    def _drop_idle(self) -> None:
        """Closes the pool's idle connections: one connection was found dead."""

    def _session_id(self, conn: Any) -> int | None:
        """The server's id of this connection's session (no round trip), if it has one."""
        return None

    def _end_session(self, s: Session, session_id: int) -> bool:
        """Ends another connection's session if the server still has it; True once it is
        gone, when that session's last transaction has an outcome that can be read."""
        return True

    # -- transactions -------------------------------------------------------------------
    @contextmanager
    def _transaction_on(
        self, conn: Any, *, write: bool = True, session: Session | None = None
    ) -> Iterator[Session]:
        """One transaction on `conn`: commits when the block ends, rolls back if it raises.
        A COMMIT whose answer is lost raises CommitLost (the change may have been made)."""
        s = session or Session(conn, self.dialect, self.statements, self._guard)
        try:
            self._begin(s, write=write)
            try:
                yield s
            except BaseException:
                self._rollback_quietly(s)
                raise
            session_id = self._session_id(conn)
            try:
                s.commit()
            except BaseException as exc:
                self._rollback_quietly(s)  # SQLite's shared connection must not stay in BEGIN
                if not self.dialect.commit_outcome_known and self._lost_or_timed_out(exc):
                    raise CommitLost(exc, session_id) from exc
                raise
        finally:
            s.close()

    def _lost_or_timed_out(self, exc: BaseException) -> bool:
        if isinstance(exc, TimedOut):
            return True
        return isinstance(exc, self.dialect.driver_errors()) and self.dialect.classify(exc) in (
            ErrorKind.LOST,
            ErrorKind.TIMEOUT,
        )

    def _rollback_quietly(self, s: Session) -> None:
        try:
            s.rollback()
        except Exception:  # the connection may be gone; the original error matters
            log.debug("rollback failed", exc_info=True)

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Session]:
        with self._checkout() as conn, self._transaction_on(conn, write=write) as session:
            yield session

    def _run(
        self,
        work: Callable[[Session], T],
        *,
        write: bool = True,
        settle: Callable[[Session], T] | None = None,
    ) -> T:
        """Runs `work` in one transaction and wraps driver errors. Retries it on deadlock, and
        once on a new connection when its connection was dead before it did anything. When
        COMMIT's answer is lost, `settle` (run on a new connection, after the server has ended
        the old session) says what was committed; without it that is OutcomeUnknownError."""
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        attempt, refreshed, reconnected = 0, False, False
        while True:
            _ = self.queries  # resolve the schema level outside the transaction
            session: Session | None = None
            try:
                with self._checkout() as conn:
                    session = Session(conn, self.dialect, self.statements, self._guard)
                    with self._transaction_on(conn, write=write, session=session):
                        return work(session)
            except CommitLost as lost:
                self._drop_idle()
                if settle is None:
                    raise OutcomeUnknownError(
                        f"{self._where()}: the connection was lost at COMMIT, so the change "
                        f"may or may not have been made: {self._detail(lost.__cause__)}"
                    ) from lost.__cause__
                return self._settle(lost, settle)
            except TimedOut as exc:
                raise self._timed_out(exc) from exc.__cause__
            except self.dialect.driver_errors() as exc:
                kind = self.dialect.classify(exc)
                if kind is ErrorKind.LOST:
                    self._drop_idle()  # a dead server's connections die together
                    if not reconnected and session is not None and session.completed == 0:
                        reconnected = True  # dead before anything was sent: nothing happened
                        log.debug("retrying on a new connection after %s", type(exc).__name__)
                        continue
                if kind is ErrorKind.RETRY and attempt < self.retries:
                    attempt += 1
                    log.debug("retrying after %s (attempt %d)", type(exc).__name__, attempt)
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))
                    continue
                if kind is ErrorKind.MISSING_TABLE and not refreshed:
                    # another process downgraded the schema: re-read its level, try once more
                    refreshed, self._queries = True, None
                    continue
                raise self._wrap(exc, kind) from exc

    def _settle(self, lost: CommitLost, settle: Callable[[Session], T]) -> T:
        """After a lost COMMIT answer: on a new connection, end the old session if the server
        still runs it (its transaction then has a final outcome), then run `settle`. Tries for
        call_timeout seconds; OutcomeUnknownError if the server cannot be asked."""
        deadline = time.monotonic() + self.call_timeout
        last: BaseException = lost
        retryable: tuple[type[BaseException], ...] = (
            TimedOut,
            CommitLost,
            *self.dialect.driver_errors(),
        )
        while time.monotonic() < deadline:
            try:
                with self._transaction(write=False) as s:
                    # one check per transaction: PostgreSQL's pg_stat_activity is a snapshot
                    # taken once per transaction
                    gone = lost.session_id is None or self._end_session(s, lost.session_id)
                    if gone:
                        return settle(s)
                time.sleep(0.05)
                continue
            except retryable as exc:
                last = exc
                self._drop_idle()
                time.sleep(0.2)
        cause = last.__cause__ if isinstance(last, CommitLost) else last
        raise OutcomeUnknownError(
            f"{self._where()}: the connection was lost at COMMIT and the server could not be "
            f"asked within {self.call_timeout:g} s whether the change was made: "
            f"{self._detail(cause)}"
        ) from cause

    def _where(self) -> str:
        return f"{self.name} at {self.url.masked()}"

    def _detail(self, exc: BaseException | None) -> str:
        text = "" if exc is None else str(exc).strip()
        return scrub(" ".join(text.split()) or type(exc).__name__, self.url.secrets())

    def _timed_out(self, exc: BaseException) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"{self._where()} sent no answer within {self.call_timeout:g} s (URL option "
            "call_timeout); the connection was closed"
        )

    def _wrap_lost(self, exc: TimedOut | CommitLost) -> BackendUnavailableError:
        if isinstance(exc, TimedOut):
            return self._timed_out(exc)
        return OutcomeUnknownError(
            f"{self._where()}: the connection was lost at COMMIT: {self._detail(exc.__cause__)}"
        )

    def _wrap(self, exc: BaseException, kind: ErrorKind | None = None) -> RegistryError:
        """A driver exception as one of SPEC's errors, its message free of the password."""
        kind = kind or self.dialect.classify(exc)
        detail = self._detail(exc)
        if kind is ErrorKind.UNIQUE:
            return AlreadyExistsError(f"{self._where()}: {detail}")
        if kind is ErrorKind.TIMEOUT:
            return self._timed_out(exc)
        if kind in (ErrorKind.LOST, ErrorKind.UNAVAILABLE, ErrorKind.RETRY):
            return BackendUnavailableError(f"{self._where()} is unavailable: {detail}")
        return RegistryError(f"{self._where()}: {type(exc).__name__}: {detail}")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    # -- migrations -----------------------------------------------------------------------
    def _with_migrator(self, action: Callable[[Migrator], T]) -> T:
        """Runs `action` on one connection holding the migration lock."""
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        try:
            with self._checkout() as conn:
                lock_session = Session(conn, self.dialect, self.statements, self._guard)
                try:
                    with self._migration_lock(lock_session):
                        migrator = Migrator(
                            self.dialect,
                            lambda: self._transaction_on(conn, write=True),
                            self.migrations,
                        )
                        return action(migrator)
                finally:
                    lock_session.close()
        except self.dialect.driver_errors() as exc:
            raise self._wrap(exc) from exc
        except (TimedOut, CommitLost) as exc:
            raise self._wrap_lost(exc) from exc.__cause__
        except MigrationError as exc:  # its text quotes the driver's message
            clean = scrub(str(exc), self.url.secrets())
            if clean == str(exc):
                raise
            raise MigrationError(clean, reason=exc.reason) from exc.__cause__
        finally:
            self._queries = None  # the schema may have changed: re-read the level on next use

    def migrate(self, *, target: str | None = None) -> list[str]:
        # Without the lock first: when nothing is pending (every connect after the first),
        # this costs one read and takes no lock.
        target = None if target is None else normalize_target(target)
        status = self.migration_status()
        Migrator.check_runnable(status)
        todo = [m for m in status.pending if target is None or m.version <= target]
        if not todo and status.dirty is None:
            self._queries = Queries(self.dialect, status.level)
            return []
        done = self._with_migrator(lambda m: m.upgrade(target))
        self._queries = Queries(self.dialect, self.migration_status().level)
        return done

    def downgrade(self, target: str) -> list[str]:
        return self._with_migrator(lambda m: m.downgrade(target))

    def repair(self, *, applied: bool) -> str | None:
        return self._with_migrator(lambda m: m.repair(applied=applied))

    def migration_status(self) -> MigrationStatus:
        status = self._read_status()
        if status.dirty is not None and not self.dialect.transactional_ddl:
            # On MySQL a migration still running looks dirty (its DDL commits as it goes):
            # read again once the migration lock is free.
            status = self._with_migrator(lambda m: m.status())
        return status

    def _read_status(self) -> MigrationStatus:
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        try:
            with self._checkout() as conn:
                migrator = Migrator(
                    self.dialect, lambda: self._transaction_on(conn), self.migrations
                )
                return migrator.status()
        except self.dialect.driver_errors() as exc:
            raise self._wrap(exc) from exc
        except (TimedOut, CommitLost) as exc:
            raise self._wrap_lost(exc) from exc.__cause__

    def dry_run(self, *, target: str | None = None, down: bool = False) -> list[tuple[str, str]]:
        """(migration, statement) pairs that `migrate`/`downgrade` would run on this database
        now, expanded for its dialect; runs nothing."""
        status = self.migration_status()
        return list(
            Migrator(self.dialect, self._transaction, self.migrations).sql(
                target=target, down=down, status=status
            )
        )

    @property
    def queries(self) -> Queries:
        """The statements for the schema level found on first use, so a process opened before
        an upgrade keeps its queries. Read again after a migration through this backend, when
        a feature of a higher level is asked for, and when a table has gone (a downgrade)."""
        if self._queries is None:
            self._queries = Queries(self.dialect, self.migration_status().level)
        return self._queries

    def _require(self, level: int, feature: str) -> None:
        if self.queries.level < level:
            self._queries = None  # another process may have migrated since: look again
        if self.queries.level < level:
            raise SchemaOutOfDateError(
                f"{feature} need schema {level:03d}; this database is at "
                f"{self.queries.level:03d}. Run `registry-core migrate`"
            )

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Runs one SQL statement of the caller's (`:name` parameters) in its own transaction
        and returns its rows; for monitoring and ad-hoc reports, e.g. the seed's queries."""
        return self._run(lambda s: s.all(sql, params), write=False)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Runs one statement of the caller's that returns no rows (DDL, INSERT, UPDATE...)
        in its own transaction; returns the number of rows it matched."""
        return self._run(lambda s: s.rowcount(sql, params))

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
        metrics: Mapping[str, float] | None = None,
        parents: Sequence[tuple[str, str]] = (),
    ) -> ModelVersion:
        name = validate.name(name)
        description = validate.description(description)
        tag_map = validate.tags(tags)
        metric_map = validate.metrics(metrics)
        parent_list = validate.parents(parents)
        if metric_map:
            self._require(METRICS, "metrics")
        if parent_list:
            self._require(LINEAGE, "parents (lineage)")

        def work(s: Session) -> ModelVersion:
            q = self.queries
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
            attempt[:] = [number, storage_path]
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
            _insert_pairs(s, "mr_model_tags", ("tag_key", "tag_value"), version_id, tag_map)
            _insert_pairs(
                s, "mr_model_metrics", ("metric_name", "metric_value"), version_id, metric_map
            )
            if parent_list:
                self._link_parents(s, (name, number, version_id), parent_list)
            return ModelVersion(
                name,
                number,
                description,
                storage_path,
                file_size_bytes,
                parse_timestamp(now),
                dict(sorted(tag_map.items())),
                checksum,
                dict(sorted(metric_map.items())),
                (),
            )

        attempt: list[str] = []  # the number and path of the transaction last sent

        def settle(s: Session) -> ModelVersion:
            # COMMIT's answer was lost: the row exists iff it committed (the path carries the
            # save's own token, so another save that took the number is told apart)
            number, storage_path = attempt
            row = s.one(self.queries.get_version, {"name": name, "version": number})
            if row is None or row[3] != storage_path:
                raise BackendUnavailableError(
                    f"{self._where()}: the connection was lost at COMMIT and the save of "
                    f"{name!r} was not recorded; nothing was saved"
                )
            log.info("COMMIT's answer was lost; version %s of %r was committed", number, name)
            return self._with_attributes(
                s, [row], self.queries.attributes_of_version, {"version_id": row[7]}
            )[0]

        return self._run(work, settle=settle)

    def _link_parents(
        self, s: Session, child: tuple[str, str, int], parents: list[tuple[str, str]]
    ) -> None:
        """One INSERT ... SELECT of every lineage edge; NotFoundError if a parent is absent."""
        name, number, child_id = child
        if (name, number) in parents:
            raise InvalidInputError(f"version {number} of {name!r} cannot be its own parent")
        params: dict[str, Any] = {"child_id": child_id}
        for i, (pname, pversion) in enumerate(parents):
            params[f"pn{i}"], params[f"pv{i}"] = pname, pversion
        sql = self.queries.insert_parents_prefix + Queries.parents_condition(len(parents))
        if s.rowcount(sql, params) != len(parents):
            missing = [
                f"{n!r} version {v}"
                for n, v in parents
                if s.one(self.queries.get_version, {"name": n, "version": v}) is None
            ]
            raise NotFoundError(f"parent versions not found: {', '.join(missing)}")

    def get_version(
        self, name: str, version: str | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        name = validate.name(name)
        number = None if version is None else validate.version(version)
        if alias is not None:
            if number is not None:
                raise InvalidInputError("give a version or an alias, not both")
            alias = validate.alias(alias)
            self._require(ALIASES, "aliases")

        def work(s: Session) -> ModelVersion:
            row: tuple[Any, ...] | None
            if alias is None:
                row = self._version_row(s, name, number)
            else:
                row = s.one(self.queries.get_version_by_alias, {"name": name, "alias": alias})
            if row is None:
                raise self._missing(s, name, f"alias {alias!r}")
            return self._with_attributes(
                s, [row], self.queries.attributes_of_version, {"version_id": row[7]}
            )[0]

        return self._run(work, write=False)

    def list_versions(self, name: str) -> list[ModelVersion]:
        name = validate.name(name)

        def work(s: Session) -> list[ModelVersion]:
            rows = s.all(self.queries.list_versions, {"name": name})
            if not rows and s.one(self.queries.model_exists, {"name": name}) is None:
                raise NotFoundError(f"no model named {name!r}")
            return self._with_attributes(s, rows, self.queries.attributes_of_model, {"name": name})

        return self._run(work, write=False)

    def delete_version(self, name: str, version: str) -> ModelVersion:
        name = validate.name(name)
        number = validate.version(version)

        def work(s: Session) -> ModelVersion:
            q = self.queries
            row = self._version_row(s, name, number)
            removed = self._with_attributes(
                s, [row], q.attributes_of_version, {"version_id": row[7]}
            )[0]
            s.rowcount(q.delete_version, {"version_id": row[7]})  # cascades to tags etc.
            s.rowcount(q.touch_model, {"name": name, "now": utc_now()})
            return removed

        return self._run(work)

    def latest_versions(self) -> list[ModelVersion]:
        def work(s: Session) -> list[ModelVersion]:
            rows = s.all(self.queries.latest_versions)
            return self._with_attributes(s, rows, self.queries.attributes_of_latest, {})

        return self._run(work, write=False)

    def find_by_tag(self, key: str, value: str | None = None) -> list[ModelVersion]:
        key = validate.tag_key(key)
        value = validate.tag_value(value)
        params = {"key": key} if value is None else {"key": key, "value": value}

        def work(s: Session) -> list[ModelVersion]:
            q = self.queries
            if value is None:
                sql, attrs = q.find_by_tag_key, q.attributes_of_tag_key
            else:
                sql, attrs = q.find_by_tag_value, q.attributes_of_tag_value
            return self._with_attributes(s, s.all(sql, params), attrs, params)

        return self._run(work, write=False)

    def best_version(
        self, name: str, metric: str, *, higher_is_better: bool = True
    ) -> ModelVersion:
        name = validate.name(name)
        metric = validate.tag_key(metric)
        self._require(METRICS, "metrics")

        def work(s: Session) -> ModelVersion:
            q = self.queries
            sql = q.best_version_highest if higher_is_better else q.best_version_lowest
            row = s.one(sql, {"name": name, "metric": metric})
            if row is None:
                raise self._missing(s, name, f"version with metric {metric!r}")
            return self._with_attributes(s, [row], q.attributes_of_version, {"version_id": row[7]})[
                0
            ]

        return self._run(work, write=False)

    def lineage(
        self, name: str, version: str, *, direction: str = "ancestors"
    ) -> list[ModelVersion]:
        name, number = validate.name(name), validate.version(version)
        if direction not in ("ancestors", "descendants"):
            raise InvalidInputError(f"direction is 'ancestors' or 'descendants', not {direction!r}")
        self._require(LINEAGE, "lineage")

        def work(s: Session) -> list[ModelVersion]:
            q = self.queries
            sql = q.ancestors if direction == "ancestors" else q.descendants
            start = self._version_row(s, name, number)
            rows = s.all(sql, {"start_id": start[7]})
            out: list[ModelVersion] = []
            for i in range(0, len(rows), CHUNK):
                chunk = rows[i : i + CHUNK]
                params = {f"i{j}": r[7] for j, r in enumerate(chunk)}
                out += self._with_attributes(s, chunk, q.attributes_of_ids(len(chunk)), params)
            return out

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

    # -- aliases ---------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: str) -> None:
        name, alias, number = validate.name(name), validate.alias(alias), validate.version(version)
        self._require(ALIASES, "aliases")

        def work(s: Session) -> None:
            row = self._version_row(s, name, number)
            s.rowcount(
                self.queries.upsert_alias,
                {
                    "model_id": row[8],
                    "alias": alias,
                    "model_version_id": row[7],
                    "updated_at": utc_now(),
                },
            )

        self._run(work)

    def delete_alias(self, name: str, alias: str) -> None:
        name, alias = validate.name(name), validate.alias(alias)
        self._require(ALIASES, "aliases")

        def work(s: Session) -> None:
            if s.rowcount(self.queries.delete_alias, {"name": name, "alias": alias}) == 0:
                raise self._missing(s, name, f"alias {alias!r}")

        self._run(work)

    def _with_attributes(
        self,
        s: Session,
        rows: list[tuple[Any, ...]],
        attributes_sql: str,
        params: Mapping[str, Any],
    ) -> list[ModelVersion]:
        """Version rows as ModelVersions with their tags, metrics and aliases (one query)."""
        if not rows:
            return []
        tags: dict[int, dict[str, str | None]] = {}
        metrics: dict[int, dict[str, float]] = {}
        aliases: dict[int, list[str]] = {}
        for kind, vid, key, text, number in sorted(
            s.all(attributes_sql, params), key=lambda r: (str(r[0]), int(r[1]), str(r[2]))
        ):
            if kind == "t":
                tags.setdefault(int(vid), {})[key] = text
            elif kind == "m":
                metrics.setdefault(int(vid), {})[key] = float(number)
            else:
                aliases.setdefault(int(vid), []).append(key)
        out = []
        for row in rows:
            vid = int(row[7])
            out.append(
                ModelVersion(
                    name=row[0],
                    version=str(row[1]),
                    description=row[2],
                    storage_path=row[3],
                    file_size_bytes=int(row[4] or 0),
                    created_at=parse_timestamp(row[5]),
                    tags=tags.get(vid, {}),
                    checksum=row[6],
                    metrics=metrics.get(vid, {}),
                    aliases=tuple(aliases.get(vid, [])),
                )
            )
        return out

    def version_files(self) -> Iterator[VersionFile]:
        after = 0
        while True:
            page = partial(_all, self.queries.version_files, {"after": after})
            rows = self._run(page, write=False)
            for name, number, path, size, checksum, _ in rows:
                yield VersionFile(name, str(number), path, int(size or 0), checksum)
            if len(rows) < CHUNK:
                return
            after = int(rows[-1][5])

    # -- statistics ---------------------------------------------------------------------------
    def stats(self) -> RegistryStats:
        def work(s: Session) -> RegistryStats:
            models, versions, total, avg = s.one(self.queries.stats) or (0, 0, None, None)
            return RegistryStats(int(models), int(versions), int(total or 0), float(avg or 0))

        return self._run(work, write=False)

    def database_stats(self) -> DatabaseStats:
        d = self.dialect

        def work(s: Session) -> DatabaseStats:
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
                self.server,
                None if schema is None else str(schema),
                size,
                counts,
                self.url.masked(),
            )

        return self._run(work, write=False)


def _all(sql: str, params: Mapping[str, Any], s: Session) -> list[tuple[Any, ...]]:
    return s.all(sql, params)


def _model(row: tuple[Any, ...]) -> Model:
    return Model(row[0], row[1], parse_timestamp(row[2]), parse_timestamp(row[3]))


def _insert_pairs(
    s: Session,
    table: str,
    columns: tuple[str, str],
    version_id: int,
    pairs: Mapping[str, Any],
) -> None:
    """Multi-row INSERT of (key, value) pairs of one version: one statement per CHUNK rows."""
    items = list(pairs.items())
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        params: dict[str, Any] = {"version_id": version_id}
        for i, (a, b) in enumerate(chunk):
            params[f"a{i}"], params[f"b{i}"] = a, b
        s.rowcount(Queries.insert_rows(table, columns, len(chunk)), params)
