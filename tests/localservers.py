"""Servers the tests start from this machine's binaries, on private ports: PgBouncer in
transaction mode in front of the postgresql engine's server (the `pgbouncer` engine), and a
PostgreSQL primary with a streaming standby for failover tests (tests/contract/test_failover.py).

Both refuse to run as root (PgBouncer, initdb, postgres): when the tests run as root, as in CI,
they run as the `postgres` OS user, which Debian's packages create, in folders it owns.
Passwords go to files only (PgBouncer's auth_file), never to a command line or the output.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

#: where Debian puts PostgreSQL's server binaries (newest major version first)
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres() -> dict[str, int]:
    """subprocess arguments that run a command as `postgres` when we are root."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid}


def private_dir(prefix: str) -> Path:
    """A new folder the server's user owns (0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    ids = _as_postgres()
    if ids:
        os.chown(path, ids["user"], ids["group"])
    return path


def write_private(path: Path, text: str) -> None:
    """A file only the server's user reads (it may hold a password)."""
    path.write_text(text)
    os.chmod(path, 0o600)
    ids = _as_postgres()
    if ids:
        os.chown(path, ids["user"], ids["group"])


def run(cmd: Sequence[str], *, timeout: float = 120) -> str:
    """Runs a server tool as the server's user; its output, or RuntimeError with it."""
    done = subprocess.run(
        list(cmd),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
        check=False,
        **_as_postgres(),  # type: ignore[arg-type]
    )
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done.stdout


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def pg_bin(tool: str) -> str | None:
    """The path of a PostgreSQL server tool (initdb, pg_ctl...), or None if not installed."""
    import glob

    for folder in sorted(glob.glob(PG_BIN_GLOB), reverse=True):
        path = Path(folder) / tool
        if path.exists():
            return str(path)
    return None


class PgBouncer:
    """PgBouncer in transaction mode on a private port in front of the server of `admin_url`
    (a PostgreSQL URL with a user allowed to connect to every test database)."""

    def __init__(self, admin_url: str) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise FileNotFoundError("pgbouncer is not installed (apt-get install pgbouncer)")
        parts = urlsplit(admin_url)
        self.user, self.password = parts.username or "postgres", parts.password or ""
        self.port = free_port()
        self.dir = private_dir("rc-pgbouncer-")
        write_private(self.dir / "userlist.txt", f'"{self.user}" "{self.password}"\n')
        write_private(
            self.dir / "pgbouncer.ini",
            "\n".join(
                [
                    "[databases]",
                    f"* = host={parts.hostname or '127.0.0.1'} port={parts.port or 5432}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    "unix_socket_dir =",
                    f"auth_type = {'scram-sha-256' if self.password else 'trust'}",
                    f"auth_file = {self.dir / 'userlist.txt'}",
                    "pool_mode = transaction",
                    "max_client_conn = 500",
                    "default_pool_size = 20",
                    "ignore_startup_parameters = extra_float_digits",
                    f"logfile = {self.dir / 'pgbouncer.log'}",
                    "",
                ]
            ),
        )
        self.process = subprocess.Popen(
            [binary, "-q", str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
            **_as_postgres(),  # type: ignore[arg-type]
        )
        try:
            wait_for_port(self.port, 15)
        except OSError:
            self.stop()
            raise RuntimeError(f"pgbouncer did not start: {self.log()}") from None

    def url(self, url: str) -> str:
        """`url` (a database on the proxied server, as the admin user) through PgBouncer."""
        parts = urlsplit(url)
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return parts._replace(netloc=f"{auth}@127.0.0.1:{self.port}").geturl()

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "pgbouncer.log").read_text()[-2000:]
        return ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class PgCluster:
    """A PostgreSQL primary and a streaming standby of it (initdb, pg_basebackup -R, pg_ctl
    from this machine's server binaries), each on a private port of 127.0.0.1, with a
    database `registry` owned by the role `rc` (trust authentication: the password in `url`
    is checked by no server, only for masking)."""

    PASSWORD = "rc-Failover-7c2e"

    def __init__(self) -> None:
        tools = {t: pg_bin(t) for t in ("initdb", "pg_ctl", "pg_basebackup")}
        missing = [t for t, path in tools.items() if path is None]
        if missing:
            raise FileNotFoundError(f"PostgreSQL server binaries not found: {missing}")
        self.initdb, self.pg_ctl, self.basebackup = (str(tools[t]) for t in tools)
        self.dir = private_dir("rc-pgcluster-")
        self.ports = {"primary": free_port(), "standby": free_port()}
        run([self.initdb, "-D", str(self.dir / "primary"), "-U", "postgres", "--auth=trust", "-N"])
        self.start("primary")
        import psycopg

        with psycopg.connect(self.admin("primary"), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE rc LOGIN PASSWORD '{self.PASSWORD}'")  # type: ignore[arg-type]
            conn.execute("CREATE DATABASE registry OWNER rc")
        run(
            [
                self.basebackup,
                *("-h", "127.0.0.1", "-p", str(self.ports["primary"]), "-U", "postgres"),
                *("-D", str(self.dir / "standby"), "-R", "-X", "stream", "-c", "fast"),
            ]
        )
        self.start("standby")

    def admin(self, node: str, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports[node]}/{database}"

    def url(self, *nodes: str, **options: str) -> str:
        """A URL of `rc` naming `nodes` (in that order), with libpq/registry options."""
        hosts = ",".join(f"127.0.0.1:{self.ports[n]}" for n in nodes)
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://rc:{self.PASSWORD}@{hosts}/registry" + (f"?{query}" if query else "")

    def start(self, node: str) -> None:
        options = (
            f"-p {self.ports[node]} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.dir} -c fsync=off -c hot_standby=on"
        )
        data = str(self.dir / node)
        log = str(self.dir / f"{node}.log")
        run([self.pg_ctl, "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"])

    def stop(self, node: str, mode: str = "fast") -> None:
        run([self.pg_ctl, "-D", str(self.dir / node), "-m", mode, "-w", "-t", "60", "stop"])

    def promote(self, node: str = "standby") -> None:
        run([self.pg_ctl, "-D", str(self.dir / node), "-w", "-t", "60", "promote"])

    def wait_replayed(self, seconds: float = 60) -> None:
        """Until the standby has replayed everything the primary has written."""
        import psycopg

        with psycopg.connect(self.admin("primary"), autocommit=True) as p:
            lsn = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + seconds
        with psycopg.connect(self.admin("standby"), autocommit=True) as s:
            while True:
                row = s.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()
                if row and row[0]:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError("the standby did not catch up")
                time.sleep(0.05)

    def close(self) -> None:
        for node in self.ports:
            with contextlib.suppress(Exception):
                self.stop(node, "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
