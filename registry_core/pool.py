"""The connection pool of the server backends (PostgreSQL and MySQL/MariaDB), one implementation
for both drivers so that they behave alike when a server restarts or hangs.

It never pings a connection before handing it out (a ping per call would double the round
trips of a read); it only polls the idle connection's socket, without waiting: a server that
ended the session (a stop, a restart, a failover, an idle timeout) has said so or closed it, and
that connection is closed instead of used (`socket_has_news`). A connection that died unseen
fails at its first statement; the backend then calls `drop_idle()`, because a dead server's
connections die together, and retries the call once on a new connection
(`registry_core.transactions`). A connection whose wait timed out or that was lost in use is
closed without a rollback (`dead`, `abort`): a hung server would make the rollback wait again.
New connections are made on demand in the calling thread, bounded by the driver's connect
timeout: no background reconnection with back-off that could keep a call waiting after the
server is back.

A forked child never uses its parent's connections (`registry_core.forksafe`): it forgets them
through the backend's `forget` hook and opens its own on first use.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from registry_core import forksafe
from registry_core.errors import BackendUnavailableError

C = TypeVar("C")


class ConnectionPool(Generic[C]):
    """Up to `max_size` connections made by `connect`; `checkout` waits up to `timeout` s for a
    free slot. A connection whose user raised is rolled back with `reset`, and closed (not
    reused) if that fails or `broken(conn)` says it is unusable. An idle connection that
    `stale(conn)` finds ended by the server (its socket readable while idle: see
    `socket_has_news`) is closed at checkout instead of being handed out. In a forked child
    the parent's connections are passed to `forget` (which must not close them) and
    dropped."""

    def __init__(
        self,
        connect: Callable[[], C],
        *,
        close: Callable[[C], None],
        reset: Callable[[C], None],
        broken: Callable[[C], bool] = lambda conn: False,
        forget: Callable[[C], None] = forksafe.keep,
        stale: Callable[[C], bool] = lambda conn: False,
        dead: Callable[[BaseException], bool] = lambda exc: False,
        abort: Callable[[C], None] | None = None,
        max_size: int = 10,
        timeout: float = 30.0,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._connect, self._close_conn, self._reset, self._broken = connect, close, reset, broken
        self._forget, self._stale, self._dead = forget, stale, dead
        self._abort = close if abort is None else abort
        self.max_size, self.timeout = max_size, timeout
        self._idle: deque[C] = deque()
        #: every connection this process opened and has not closed, idle or in use, by id
        self._open: dict[int, C] = {}
        self._size = 0
        self._cond = threading.Condition()
        self._closed = False
        self._pid = os.getpid()
        forksafe.register(self)

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's connections, start empty."""
        inherited = list(self._open.values())
        self._open, self._idle, self._size = {}, deque(), 0
        self._cond = threading.Condition()  # another thread may have held the old one
        self._pid = os.getpid()
        for conn in inherited:
            try:
                self._forget(conn)
            except Exception:  # the connection was already unusable
                forksafe.keep(conn)

    @contextmanager
    def checkout(self) -> Iterator[C]:
        """A connection for the duration of the `with` block. If the block raises an
        exception that `dead(exc)` says ended the connection (lost, or its wait timed out), the
        connection is closed without a rollback: a rollback sent to a hung server would wait
        as long again."""
        conn = self._get()
        try:
            yield conn
        except BaseException as exc:
            if self._dead(exc):
                self.discard(conn, abort=True)
            else:
                self._put(conn, ok=False)
            raise
        self._put(conn, ok=True)

    def _get(self) -> C:
        if self._pid != os.getpid():  # forked without Python's fork hooks
            self._after_fork()
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while True:
                if self._closed:
                    raise BackendUnavailableError("the connection pool is closed")
                if self._idle:
                    conn = self._idle.pop()  # the most recently used: the likeliest alive
                    if not self._stale(conn):
                        return conn
                    self._size -= 1  # the server ended it while idle: close it, look again
                    self._safe_close(conn)
                    continue
                if self._size < self.max_size:
                    self._size += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BackendUnavailableError(
                        f"no connection free in the pool after {self.timeout:g} s "
                        f"({self.max_size} in use); raise pool_size in the URL"
                    )
                self._cond.wait(left)
        try:  # a new connection in the slot counted above; the slot is freed if this fails
            conn = self._connect()
        except BaseException:
            with self._cond:
                self._size -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._open[id(conn)] = conn
        return conn

    def _put(self, conn: C, ok: bool) -> None:
        if id(conn) not in self._open:  # a parent's connection, forgotten at a fork
            return
        if not ok:
            try:
                self._reset(conn)
            except Exception:
                self.discard(conn)
                return
        if self._broken(conn):
            self.discard(conn)
            return
        with self._cond:
            if self._closed:
                self._size -= 1
                self._safe_close(conn)
                return
            self._idle.append(conn)
            self._cond.notify()

    def discard(self, conn: C, *, abort: bool = False) -> None:
        """Closes a connection that was checked out and frees its slot; `abort`: the
        connection is dead or hung, so it is closed with `abort` (no goodbye to the server)."""
        if id(conn) not in self._open:  # forgotten at a fork: not this process's to close
            return
        if abort:
            self._open.pop(id(conn), None)
            with contextlib.suppress(Exception):
                self._abort(conn)
        else:
            self._safe_close(conn)
        with self._cond:
            self._size -= 1
            self._cond.notify()

    def drop_idle(self) -> int:
        """Closes every idle connection (the server restarted or went away); returns how many."""
        with self._cond:
            idle, self._idle = list(self._idle), deque()
            self._size -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            self._safe_close(conn)
        return len(idle)

    def _safe_close(self, conn: C) -> None:
        self._open.pop(id(conn), None)
        # closing a broken connection may fail; there is nothing more to do about it
        with contextlib.suppress(Exception):
            self._close_conn(conn)

    def close(self) -> None:
        """Closes idle connections now and in-use ones when they come back."""
        with self._cond:
            self._closed = True
        self.drop_idle()

    @property
    def size(self) -> int:
        """Connections open now, idle or in use."""
        return self._size


def socket_has_news(fd: int) -> bool:
    """Whether an idle connection's socket has something to read, without reading it: a
    server says nothing to an idle client unless it ends the session (PostgreSQL's
    admin_shutdown notice, MySQL's idle timeout error, or a bare close on a stop or a
    failover), so the connection is not handed out. One poll(2) with no wait: no round trip.
    (A rare harmless message, such as a configuration change reported by the server, costs a
    new connection.)"""
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover (Windows)
    return bool(readable)
