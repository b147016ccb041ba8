"""The webhook relay (`registry-core relay`) against a local HTTP receiver that fails some
deliveries, and killed (SIGKILL) mid-stream then started again: process control, so the
project's own suite, not the shipped contract."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from registry_core import ModelRegistry
from registry_core.cli import EXIT_OK, run
from registry_core.urls import ARTIFACTS_ENV

SECRET = "whsec_" + base64.b64encode(b"a test secret of 24 bytes").decode()


# -- relay ---------------------------------------------------------------------------------
class Receiver:
    """A local webhook receiver: answers 500 to every `fail_every`-th request, records the
    deliveries it accepted (their webhook-id and event id), checks every signature."""

    def __init__(self, fail_every: int = 3, delay: float = 0.0) -> None:
        self.accepted: list[tuple[str, int]] = []
        self.requests = 0
        self.bad_signatures = 0
        key = base64.b64decode(SECRET[len("whsec_") :])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                msg_id, stamp = self.headers["webhook-id"], self.headers["webhook-timestamp"]
                signed = f"{msg_id}.{stamp}.".encode() + body
                expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
                if self.headers["webhook-signature"] != "v1," + expected.decode():
                    receiver.bad_signatures += 1
                receiver.requests += 1
                time.sleep(delay)
                ok = receiver.requests % fail_every != 0
                if ok:
                    receiver.accepted.append((msg_id, json.loads(body)["data"]["id"]))
                self.send_response(200 if ok else 500)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _relay_args(db_url: str, url: str) -> list[str]:
    return [
        "relay",
        "--to",
        url,
        "--consumer",
        "hook",
        "--secret-env",
        "HOOK_SECRET",
        "--max-backoff",
        "0.05",
        "--url",
        db_url,
    ]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])  # engine-independent: two suffice
def test_relay_retries_failed_deliveries_and_never_skips(
    registry: ModelRegistry,
    db_url: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv(ARTIFACTS_ENV, str(registry.artifacts.location))
    for i in range(4):
        registry.save_model(i, "m")
    registry.set_alias("m", "champion", 2)
    assert run([*_relay_args(db_url, receiver.url), "--exit-when-idle"]) == EXIT_OK
    assert [i for _, i in receiver.accepted] == list(range(1, 7))
    assert receiver.requests == 8 and receiver.bad_signatures == 0  # two 500s, retried
    assert len({m for m, _ in receiver.accepted}) == 6  # one stable id per event
    assert registry.consumer_position("hook") == 6
    registry.delete_alias("m", "champion")
    args = [*_relay_args(db_url, receiver.url), "--exit-when-idle", "--action", "alias.set"]
    assert run(args) == EXIT_OK  # filtered out: acknowledged, not sent
    assert len(receiver.accepted) == 6 and registry.consumer_position("hook") == 7


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_relay_killed_mid_stream_delivers_everything_in_order_after_a_restart(
    registry: ModelRegistry, db_url: str, tmp_path: Path
) -> None:
    events = 30
    registry.save_model(0, "m")  # 2 events
    for i in range(events - 2):
        registry.set_tag("m", 1, "k", str(i))
    slow = Receiver(fail_every=5, delay=0.02)
    env = {
        **os.environ,
        "HOOK_SECRET": SECRET,
        ARTIFACTS_ENV: str(registry.artifacts.location),
    }
    command = [sys.executable, "-m", "registry_core", *_relay_args(db_url, slow.url)]
    # run outside the repository: `-m` from its root would import the source tree, not the
    # installed package (which alone has registry_core.backends)
    try:
        first = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(slow.accepted) < events // 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert len(slow.accepted) < events  # killed mid-stream
        second = subprocess.run(
            [*command, "--exit-when-idle"],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        assert second.returncode == EXIT_OK
    finally:
        slow.close()
    ids = [i for _, i in slow.accepted]
    firsts = list(dict.fromkeys(ids))
    assert firsts == list(range(1, events + 1))  # every event, in order
    restarts = sum(1 for a, b in itertools.pairwise(ids) if b <= a)
    assert restarts <= 1 and slow.bad_signatures == 0  # at most the kill's resend
