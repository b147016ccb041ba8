"""A deadline per wait on the server, for drivers that have none of their own (psycopg).

A hung server (stopped, or a network path that swallows packets) still completes TCP handshakes
and acknowledges data in its kernel, so neither TCP keepalives nor a connect timeout end a call
that waits for its answer. `Watchdog.guard(conn)` arms a deadline around one wait; one daemon
thread per backend interrupts the connections whose deadline passed (the backend shuts their
socket down, which makes the blocked driver call fail at once), and the caller learns from
`Guard.fired` that the failure was this timeout.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from registry_core import forksafe


class Guard:
    """One armed deadline; `fired` is True once the watchdog interrupted its connection."""

    __slots__ = ("conn", "deadline", "fired")

    def __init__(self, conn: Any, deadline: float) -> None:
        self.conn = conn
        self.deadline = deadline
        self.fired = False


class Watchdog:
    """Interrupts a connection with `interrupt(conn)` when a guarded wait outlives `seconds`.

    Arming and disarming are a dict insert and delete under a lock; the thread looks at the
    armed guards (at most one per connection in use) every `seconds / 4`, at most every second,
    so a wait is interrupted between `seconds` and `1.25 * seconds` after it began.
    """

    def __init__(self, seconds: float, interrupt: Callable[[Any], None]) -> None:
        self.seconds = seconds
        self.tick = min(1.0, seconds / 4)
        self._interrupt = interrupt
        self._armed: dict[int, Guard] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        forksafe.register(self)

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread is not there, and its lock may be held."""
        self._lock = threading.Lock()
        self._armed = {}
        self._thread = None
        stopped, self._stopped = self._stopped.is_set(), threading.Event()
        if stopped:
            self._stopped.set()

    @contextmanager
    def guard(self, conn: Any) -> Iterator[Guard]:
        """Arms the deadline for the `with` block."""
        g = Guard(conn, time.monotonic() + self.seconds)
        with self._lock:
            self._armed[id(g)] = g
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="registry-core watchdog", daemon=True
                )
                self._thread.start()
        try:
            yield g
        finally:
            with self._lock:
                self._armed.pop(id(g), None)

    def stop(self) -> None:
        """Ends the thread (the backend closed)."""
        self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(self.tick):
            now = time.monotonic()
            with self._lock:
                late = [g for g in self._armed.values() if g.deadline <= now]
                for g in late:
                    g.fired = True
                    del self._armed[id(g)]
            for g in late:
                with contextlib.suppress(Exception):  # the connection may be gone already
                    self._interrupt(g.conn)
