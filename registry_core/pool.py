"""A small blocking connection pool for drivers without a suitable one (mysql-connector's own
pool refuses instead of waiting when it is exhausted and caps at 32 connections)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from registry_core.errors import BackendUnavailableError

C = TypeVar("C")


class ConnectionPool(Generic[C]):
    """Up to `max_size` connections made by `connect`; `checkout` waits up to `timeout` s.

    A connection idle for more than `check_after` seconds is checked with `is_alive` before
    use and replaced if dead. A connection whose user raised is rolled back with `reset`, and
    closed (not reused) if that fails.
    """

    def __init__(
        self,
        connect: Callable[[], C],
        *,
        close: Callable[[C], None],
        reset: Callable[[C], None],
        is_alive: Callable[[C], bool],
        max_size: int = 10,
        timeout: float = 30.0,
        check_after: float = 5.0,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._connect, self._close_conn, self._reset, self._is_alive = (
            connect,
            close,
            reset,
            is_alive,
        )
        self.max_size, self.timeout, self.check_after = max_size, timeout, check_after
        self._idle: deque[tuple[C, float]] = deque()
        self._size = 0
        self._cond = threading.Condition()
        self._closed = False

    @contextmanager
    def checkout(self) -> Iterator[C]:
        """A connection for the duration of the `with` block."""
        conn = self._get()
        ok = False
        try:
            yield conn
            ok = True
        finally:
            self._put(conn, ok)

    def _get(self) -> C:
        deadline = time.monotonic() + self.timeout
        conn: C | None
        with self._cond:
            while True:
                if self._closed:
                    raise BackendUnavailableError("the connection pool is closed")
                if self._idle:
                    conn, since = self._idle.pop()
                    break
                if self._size < self.max_size:
                    self._size += 1
                    conn, since = None, 0.0
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BackendUnavailableError(
                        f"no connection free in the pool after {self.timeout:g} s "
                        f"({self.max_size} in use); raise pool_size in the URL"
                    )
                self._cond.wait(left)
        if conn is None:
            return self._connect_in_slot()
        if time.monotonic() - since > self.check_after and not self._alive(conn):
            self._safe_close(conn)
            return self._connect_in_slot()  # the dead connection's slot, kept
        return conn

    def _alive(self, conn: C) -> bool:
        try:
            return self._is_alive(conn)
        except Exception:
            return False

    def _connect_in_slot(self) -> C:
        """A new connection in a slot this thread already counted; frees it on failure."""
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._size -= 1
                self._cond.notify()
            raise

    def _put(self, conn: C, ok: bool) -> None:
        if not ok:
            try:
                self._reset(conn)
            except Exception:
                self._discard(conn)
                return
        with self._cond:
            if self._closed:
                self._size -= 1
                self._safe_close(conn)
                return
            self._idle.append((conn, time.monotonic()))
            self._cond.notify()

    def _discard(self, conn: C) -> None:
        self._safe_close(conn)
        with self._cond:
            self._size -= 1
            self._cond.notify()

    def _safe_close(self, conn: C) -> None:
        # closing a broken connection may fail; there is nothing more to do about it
        with contextlib.suppress(Exception):
            self._close_conn(conn)

    def close(self) -> None:
        """Closes idle connections now and in-use ones when they come back."""
        with self._cond:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
            self._size -= len(idle)
            self._cond.notify_all()
        for conn, _ in idle:
            self._safe_close(conn)
