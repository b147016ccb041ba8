"""Transactions on the shared SQL layer: one unit of work per call, retried when that is
safe, with driver errors turned into registry-core's.

`Transactions._run(work)` checks a connection out, runs `work(session)` in a transaction (or as
statements that each commit by themselves) and commits. It retries on deadlock, and once on a
new connection when the connection was dead before the call did anything; when COMMIT's answer
is lost it settles the outcome on a new connection (see `_settle`). `_session()` is the one
place that checks a connection out and turns driver errors into registry-core's for work that
is not retried (migrations, the migration status, a copy's snapshot, which `_snapshot()` opens).
A backend module supplies the connection hooks (`_open`, `_checkout`, `_close`, ...).
"""

from __future__ import annotations

import logging
import random
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from registry_core.backend import MetadataBackend
from registry_core.dialect import Dialect, ErrorKind, refusal
from registry_core.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    OutcomeUnknownError,
    RegistryError,
)
from registry_core.session import GuardFactory, Session, StatementCounter, TimedOut
from registry_core.urls import DatabaseURL, scrub

log = logging.getLogger("registry_core")
T = TypeVar("T")


class CommitLost(Exception):
    """COMMIT was sent and the connection died (or timed out) before its answer."""

    def __init__(self, cause: BaseException, session_id: int | None) -> None:
        super().__init__(str(cause))
        self.session_id = session_id


class NotCommitted(Exception):
    """Raised by a `settle` function: the change whose COMMIT answer was lost is not there."""


class RetryTransaction(Exception):
    """Raised by a unit of work to run it again from the start (a race it lost, such as two
    first saves of one new model)."""


class Transactions(MetadataBackend):
    """The transaction machinery of `SQLMetadataBackend`, apart from its queries."""

    #: how often a transaction that hit a deadlock or serialization failure is tried again
    retries = 5
    #: the server's product and version ("PostgreSQL 17.12", "MariaDB 11.8.9"), set by _open
    server: str = ""
    #: the driver and its implementation, set by _open (database_stats() reports it)
    driver: str = ""
    url: DatabaseURL
    dialect: Dialect
    statements: StatementCounter
    _closed: bool = False

    def _resolve_schema(self) -> None:
        """Called before each unit of work, outside any transaction (the schema level)."""

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

    @abstractmethod
    def _migration_lock(self, session: Session) -> AbstractContextManager[None]:
        """Held while migrations run, so that one process migrates at a time."""

    #: the call_timeout deadline around each wait on the server, for drivers without one
    _guard: GuardFactory | None = None
    #: seconds a call waits for an answer from the server (URL option call_timeout)
    call_timeout: float = 60.0
    #: seconds, and the URL option, that bound making a new connection (set by _open)
    connect_timeout: tuple[float, str] = (10.0, "connect_timeout")

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
            s.begin(write=write)
            try:
                yield s
            except BaseException as exc:
                if not self._lost_or_timed_out(exc):  # (a ROLLBACK would wait on a hung server)
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

    @contextmanager
    def _autocommit_on(self, conn: Any, *, write: bool, session: Session) -> Iterator[Session]:
        """Statements that each commit by themselves (a read, or a write of one statement).
        For a write, a lost connection or timeout raises CommitLost: it may have committed."""
        session_id = self._session_id(conn) if write else None
        try:
            yield session
        except BaseException as exc:
            if write and not self.dialect.commit_outcome_known and self._lost_or_timed_out(exc):
                raise CommitLost(exc, session_id) from exc
            raise
        finally:
            session.close()

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
        """One transaction on a connection of the pool; driver errors pass unwrapped."""
        with self._checkout() as conn, self._transaction_on(conn, write=write) as session:
            yield session

    @contextmanager
    def _checked_out(self) -> Iterator[Session]:
        """A session on a connection checked out of the pool for the block (no transaction
        is begun); driver errors pass unwrapped, for callers that classify them."""
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        with self._checkout() as conn:
            session = Session(conn, self.dialect, self.statements, self._guard)
            try:
                yield session
            finally:
                session.close()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """`_checked_out` for work that is not retried: a driver error, a timeout or a lost
        COMMIT raised in the block comes out as registry-core's error, free of the password."""
        try:
            with self._checked_out() as session:
                yield session
        except TimedOut as exc:
            raise self._timed_out(exc) from exc.__cause__
        except CommitLost as exc:
            raise self._wrap_lost(exc) from exc.__cause__
        except self.dialect.driver_errors() as exc:
            raise self._wrap(exc) from exc

    @contextmanager
    def _snapshot(self) -> Iterator[Session]:
        """A read-only transaction that sees one consistent snapshot of the database
        (`Dialect.begin_snapshot`), on a connection of its own for the block, which ends it;
        driver errors wrapped as in `_session`."""
        with self._session() as s:
            for statement in self.dialect.begin_snapshot:
                s.control(statement)
            try:
                yield s
            except BaseException as exc:
                if not self._lost_or_timed_out(exc):  # (a ROLLBACK would wait on a hung server)
                    self._rollback_quietly(s)
                raise
            s.commit()  # read only: ends the snapshot

    def _run(
        self,
        work: Callable[[Session], T],
        *,
        write: bool = True,
        transaction: bool = True,
        settle: Callable[[Session], T] | None = None,
    ) -> T:
        """Runs `work` and wraps driver errors: in one transaction, or (`transaction=False`)
        as statements that each commit by themselves, for a read or a write of one statement.

        Retries on deadlock; once on a new connection when a read lost its connection, or a
        write lost it before doing anything; and once when a write lost its connection at
        COMMIT (or in its one statement) and `settle` found that nothing was committed.
        `settle` runs on a new connection after the server ended the old session and returns
        what was committed (raising NotCommitted if nothing); without it such a loss is
        OutcomeUnknownError."""
        attempt, refreshed, reconnected = 0, False, False
        while True:
            self._resolve_schema()
            session: Session | None = None
            try:
                with self._checked_out() as session:
                    scope = self._transaction_on if transaction else self._autocommit_on
                    with scope(session.conn, write=write, session=session):
                        return work(session)
            except CommitLost as lost:
                self._drop_idle()
                if settle is None:
                    raise OutcomeUnknownError(
                        f"{self._where()}: the connection was lost at COMMIT, so the change "
                        f"may or may not have been made: {self._detail(lost.__cause__)}"
                    ) from lost.__cause__
                try:
                    return self._settle(lost, settle)
                except NotCommitted as absent:
                    if reconnected:
                        raise BackendUnavailableError(
                            f"{self._where()}: the connection was lost twice; {absent}"
                        ) from lost.__cause__
                    reconnected = True
                    log.debug("nothing was committed; retrying on a new connection")
                    continue
            except RetryTransaction as retry:
                if attempt >= self.retries:
                    cause = retry.__cause__  # still losing the race: the driver's error
                    if isinstance(cause, self.dialect.driver_errors()):
                        raise self._wrap(cause) from cause
                    raise
                attempt += 1
                continue
            except TimedOut as exc:
                raise self._timed_out(exc) from exc.__cause__
            except self.dialect.driver_errors() as exc:
                kind = self.dialect.classify(exc)
                if kind is ErrorKind.LOST:
                    self._drop_idle()  # a dead server's connections die together
                    unused = session is not None and (session.completed == 0 or not write)
                    if not reconnected and unused:
                        reconnected = True  # nothing of this call happened: run it again
                        log.debug("retrying on a new connection after %s", type(exc).__name__)
                        continue
                if kind is ErrorKind.RETRY and attempt < self.retries:
                    attempt += 1
                    log.debug("retrying after %s (attempt %d)", type(exc).__name__, attempt)
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))
                    continue
                if kind is ErrorKind.MISSING_TABLE and not refreshed:
                    # another process downgraded the schema: re-read its level, try once more
                    refreshed = True
                    self._schema_changed()
                    continue
                raise self._wrap(exc, kind) from exc

    def _schema_changed(self) -> None:
        """A table is missing: forget the schema level, so that it is read again."""

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
        typed = refusal(kind, self._where(), detail, self.connect_timeout)
        if typed is not None:
            return typed
        return RegistryError(f"{self._where()}: {type(exc).__name__}: {detail}")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()
