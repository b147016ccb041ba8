"""Fork safety: a process never uses a connection, lock or thread its parent made.

After `os.fork()` (gunicorn `--preload`, `multiprocessing` with the fork start method, PyTorch
DataLoader workers) the child holds copies of the parent's sockets: if both used one, each would
read answers meant for the other. Objects that hold connections or locks register here; in the
child, `os.register_at_fork(after_in_child=...)` calls their `_after_fork()`, which forgets what
the parent opened (new connections are then made on first use) and makes new locks (a lock some
other thread of the parent held at the fork stays held forever in the child). Pools also
compare `os.getpid()` at checkout, for a fork made without Python's fork hooks.

Forgetting a connection must not end it for the parent: closing it would send the server a
terminate message (libpq's Terminate, MySQL's COM_QUIT) on the shared socket, and a TLS
close_notify. `detach_socket(fd)` points the child's file descriptor at /dev/null instead, so
whatever the driver later writes or closes in the child goes nowhere; the connection object is
also kept referenced for good (`keep`), so that no driver closes it in the child, where its
socket cannot be reached (MySQL's C extension) or there is none (SQLite's file). This is the pattern
SQLAlchemy documents for pools and multiprocessing (`Engine.dispose(close=False)` in the child)
and psycopg_pool's advice: never share a connection across a fork.
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from typing import Any, Protocol

log = logging.getLogger("registry_core")


class ForkAware(Protocol):
    def _after_fork(self) -> None: ...


_registered: weakref.WeakSet[Any] = weakref.WeakSet()
#: connections inherited from a parent process: never used, never closed, never collected
_kept: list[Any] = []


def register(obj: ForkAware) -> None:
    """Calls `obj._after_fork()` in every child forked while `obj` is alive."""
    _registered.add(obj)


def keep(obj: Any) -> None:
    """Holds an inherited connection for the life of the process, unused: never garbage
    collected, not even when the interpreter shuts down (a normal exit of a gunicorn worker
    clears module globals, and a driver closing the connection then would send its goodbye on
    the parent's socket): one reference is taken that nothing ever gives back."""
    _kept.append(obj)
    try:
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    except (ImportError, AttributeError):  # not CPython: the list above holds it
        pass


def detach_socket(fd: int) -> None:
    """Points the child's copy of file descriptor `fd` at /dev/null: the parent's socket stays
    open and untouched, and what the child's driver later sends or closes on `fd` is lost."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _in_child() -> None:
    for obj in list(_registered):
        try:
            obj._after_fork()
        except Exception:  # one object's failure must not leave the others shared
            log.warning("could not reset %r after fork", obj, exc_info=True)


with contextlib.suppress(AttributeError):  # os.register_at_fork is POSIX-only
    os.register_at_fork(after_in_child=_in_child)
