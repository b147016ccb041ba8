"""A TCP proxy between the registry and a database server that injects network faults: it cuts
a connection right after forwarding the next thing the client sends (a COMMIT whose answer is
then lost), or before forwarding it, stops answering altogether (a hung server: connections are
accepted, nothing comes back), refuses new connections, or cuts every connection at once.

It works on the byte stream only, so TLS between client and server is no obstacle: the test arms
a fault just before the client sends the statement it is about.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from urllib.parse import urlsplit

PASS, HANG, REFUSE = "pass", "hang", "refuse"


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.closed = False
        self.frozen = False  # nothing more goes back to the client
        self.answered = True  # the server spoke last: the client's next send is a new turn

    def close(self) -> None:
        self.closed = True
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


class FaultProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to `host:port`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.mode = PASS
        #: "after" (forward the next client chunk, wait, cut) or "before" (cut instead of
        #: forwarding it), once; None when not armed
        self.cut_next: str | None = None
        self.cuts = 0
        #: round trips: times a client sent after the server had last spoken (requests the
        #: driver sends without waiting for an answer in between count once)
        self.round_trips = 0
        #: chunks clients sent while the proxy was hung (each a request the server never saw)
        self.sent_while_hung = 0
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        """`url` (for the proxied server) pointed at the proxy."""
        parts = urlsplit(url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return parts._replace(netloc=netloc).geturl()

    # -- faults ----------------------------------------------------------------------------
    def arm(self, when: str) -> None:
        """Cut the connection that next sends something: "after" forwarding it (the server
        acts on it, its answer is lost) or "before" (the server never sees it)."""
        assert when in ("after", "before")
        self.cut_next = when

    def cut_all(self) -> None:
        """Every current connection is cut at once (as when the server restarts)."""
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    def set_mode(self, mode: str) -> None:
        """PASS, HANG (accept, answer nothing) or REFUSE (close new connections at once)."""
        self.mode = mode

    def close(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut_all()

    # -- plumbing --------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == REFUSE:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            link = _Link(client, server)
            with self._lock:
                self._links.append(link)
            threading.Thread(target=self._pump, args=(link, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(link, False), daemon=True).start()

    @staticmethod
    def _recv_within(sock: socket.socket, seconds: float) -> bytes | None:
        """What `sock` has within `seconds`: b"" if nothing, None once it is closed."""
        try:
            readable, _, _ = select.select([sock], [], [], seconds)
            if not readable:
                return b""
            return sock.recv(65536) or None
        except (OSError, ValueError):
            return None

    def _pump(self, link: _Link, upstream: bool) -> None:
        src, dst = (link.client, link.server) if upstream else (link.server, link.client)
        while not link.closed:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                link.close()
                return
            if self.mode == HANG and upstream:
                self.sent_while_hung += 1
            while self.mode == HANG and not link.closed:  # hold everything, answer nothing
                if upstream:  # but count what the client goes on sending meanwhile
                    more = self._recv_within(src, 0.01)
                    if more:
                        self.sent_while_hung += 1
                        data += more
                    elif more is None:
                        link.close()
                        return
                else:
                    time.sleep(0.01)
            if upstream and self.cut_next is not None:
                when, self.cut_next = self.cut_next, None
                self.cuts += 1
                link.frozen = True
                if when == "after":
                    with contextlib.suppress(OSError):
                        dst.sendall(data)
                    time.sleep(0.3)  # the server acts on it; its answer goes nowhere
                link.close()
                return
            if upstream and link.answered:
                link.answered = False
                self.round_trips += 1
            elif not upstream:
                link.answered = True
            if link.frozen:
                continue  # the answer to a cut statement: lost
            try:
                dst.sendall(data)
            except OSError:
                link.close()
                return
