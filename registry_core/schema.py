"""The schema side of `SQLMetadataBackend`: migrations under the migration lock, the schema
level the queries are rendered for, and re-reading it when the schema changed under us."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from registry_core.errors import MigrationError, SchemaOutOfDateError
from registry_core.migrator import Migration, MigrationStatus, Migrator, normalize_target
from registry_core.session import Session
from registry_core.sql import Queries
from registry_core.transactions import Transactions
from registry_core.urls import scrub

T = TypeVar("T")


class Schema(Transactions):
    """Migrations and the schema level of a backend."""

    migrations: list[Migration]
    _queries: Queries | None = None

    def _resolve_schema(self) -> None:
        _ = self.queries

    def _schema_changed(self) -> None:
        self._queries = None

    # -- migrations -----------------------------------------------------------------------
    def _with_migrator(self, action: Callable[[Migrator], T]) -> T:
        """Runs `action` on one connection holding the migration lock."""
        try:
            with self._session() as lock_session, self._migration_lock(lock_session):
                conn = lock_session.conn
                migrator = Migrator(
                    self.dialect, lambda: self._migration_transaction(conn), self.migrations
                )
                return action(migrator)
        except MigrationError as exc:  # its text quotes the driver's message
            clean = scrub(str(exc), self.url.secrets())
            if clean == str(exc):
                raise
            raise MigrationError(clean, reason=exc.reason) from exc.__cause__
        finally:
            self._queries = None  # the schema may have changed: re-read the level on next use

    def _migration_transaction(self, conn: Any) -> AbstractContextManager[Session]:
        """One write transaction of the migration runner (a backend whose migration lock
        lives in each transaction takes it here)."""
        return self._transaction_on(conn, write=True)

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
        with self._session() as s:
            conn = s.conn
            # a read transaction: reading the status never waits for a writer (SQLite's
            # BEGIN IMMEDIATE would queue every process's first call behind a migration)
            migrator = Migrator(
                self.dialect, lambda: self._transaction_on(conn, write=False), self.migrations
            )
            return migrator.status()

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

    def _has(self, level: int) -> bool:
        """Whether the schema has reached `level` (looked up again once if not: another
        process may have migrated since)."""
        if self.queries.level < level:
            self._queries = None
        return self.queries.level >= level

    def _require(self, level: int, feature: str) -> None:
        if self.queries.level < level:
            self._queries = None  # another process may have migrated since: look again
        if self.queries.level < level:
            raise SchemaOutOfDateError(
                f"{feature} need schema {level:03d}; this database is at "
                f"{self.queries.level:03d}. Run `registry-core migrate`"
            )
