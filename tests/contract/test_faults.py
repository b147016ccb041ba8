"""Network faults between the registry and its server, injected by a TCP proxy
(tests/faultproxy.py): a COMMIT whose answer is lost, connections cut mid-call or all at once
(as when the server restarts), and a server that accepts connections but never answers.

Server engines only: SQLite is a local file, with no connection to lose (a failed COMMIT there
did not commit, which `Dialect.commit_outcome_known` records).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import dbsources
import registry_core
from faultproxy import HANG, PASS, REFUSE, FaultProxy
from registry_core import BackendUnavailableError, ModelRegistry, OutcomeUnknownError
from registry_core.session import Session
from registry_core.sqlbackend import SQLMetadataBackend

pytestmark = pytest.mark.parametrize("engine", dbsources.SERVERS)

CALL_TIMEOUT = 2.0


@pytest.fixture
def proxy(db_url: str) -> Iterator[FaultProxy]:
    parts = urlsplit(db_url)
    p = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 0)
    yield p
    p.close()


@pytest.fixture
def reg(db_url: str, proxy: FaultProxy, tmp_path: Path) -> Iterator[ModelRegistry]:
    """A registry whose every connection goes through the proxy."""
    url = proxy.url(db_url) + f"?call_timeout={CALL_TIMEOUT:g}"
    with registry_core.connect(url, artifacts=tmp_path / "artifacts") as r:
        yield r


def _arm_at_commit(
    monkeypatch: pytest.MonkeyPatch,
    proxy: FaultProxy,
    when: str,
    times: int = 1,
    then: Callable[[], None] = lambda: None,
) -> None:
    """The next `times` COMMITs sent are cut by the proxy (`when`: "after" or "before"
    forwarding), and `then` runs: a transaction's COMMIT, or a write of one statement that
    commits by itself (PostgreSQL saves in one statement)."""
    left = [times]

    def arming(original: Any) -> Any:
        def method(self: Session, *args: Any) -> Any:
            if left[0] > 0:
                left[0] -= 1
                proxy.arm(when)
                then()
            return original(self, *args)

        return method

    monkeypatch.setattr(Session, "commit", arming(Session.commit))
    monkeypatch.setattr(Session, "committing", arming(Session.committing))


def _files(reg: ModelRegistry) -> list[Path]:
    return [p for p in reg.artifacts.root.rglob("*") if p.is_file()]


def test_lost_commit_answer_after_the_server_committed_returns_the_version(
    reg: ModelRegistry, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg.save_model("one", "m")
    _arm_at_commit(monkeypatch, proxy, "after")
    v = reg.save_model({"w": 2}, "m", tags={"k": "v"}, metrics={"acc": 0.5})
    assert proxy.cuts == 1
    assert v.version == "2" and v.tags == {"k": "v"} and v.metrics == {"acc": 0.5}
    assert reg.load_model("m") == {"w": 2}  # the file is there and verified
    assert [x.version for x in reg.list_versions("m")] == ["1", "2"]
    assert reg.verify().ok
    assert reg.save_model(3, "m").version == "3"


def test_lost_commit_that_never_reached_the_server_is_saved_again(
    reg: ModelRegistry, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg.save_model("one", "m")
    _arm_at_commit(monkeypatch, proxy, "before")
    v = reg.save_model({"w": 2}, "m")  # nothing committed: run again on a new connection
    assert proxy.cuts == 1 and v.version == "2"
    assert reg.load_model("m") == {"w": 2}
    assert reg.verify(grace=0).ok  # one file per version, nothing left over


def test_lost_commit_that_never_reached_the_server_twice_removes_the_file(
    reg: ModelRegistry, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg.save_model("one", "m")
    before = _files(reg)
    _arm_at_commit(monkeypatch, proxy, "before", times=2)
    with pytest.raises(BackendUnavailableError, match="not recorded") as info:
        reg.save_model({"w": 2}, "m")
    assert proxy.cuts == 2
    assert not isinstance(info.value, OutcomeUnknownError)
    assert _files(reg) == before  # nothing of the failed save stays
    assert [x.version for x in reg.list_versions("m")] == ["1"]
    assert reg.save_model(2, "m").version == "2"  # the number was not taken


@pytest.mark.parametrize("when", ["after", "before"])
def test_lost_commit_with_the_server_out_of_reach_keeps_the_file(
    reg: ModelRegistry, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    reg.save_model(0, "m")
    before = set(_files(reg))
    # and nothing can ask the server afterwards
    _arm_at_commit(monkeypatch, proxy, when, then=lambda: proxy.set_mode(REFUSE))
    t0 = time.monotonic()
    with pytest.raises(OutcomeUnknownError, match=r"may or may not|could not be asked"):
        reg.save_model({"w": 1}, "m")
    assert time.monotonic() - t0 < 10 * CALL_TIMEOUT
    (kept,) = set(_files(reg)) - before
    proxy.set_mode(PASS)
    if when == "after":  # it did commit: the version has its file
        assert reg.load_model("m", 2) == {"w": 1}
        assert reg.verify().ok
    else:  # it did not: the kept file is an orphan, which fsck removes
        assert [v.version for v in reg.list_versions("m")] == ["1"]
        assert reg.verify(grace=0).orphans[0].path.endswith(kept.name)
        assert reg.verify(grace=0, repair=True).removed
        assert not kept.exists() and reg.verify(grace=0).ok


def test_pooled_connections_cut_at_once_cost_no_failed_call(
    reg: ModelRegistry, proxy: FaultProxy
) -> None:
    reg.save_model(0, "m")
    backend = reg.backend
    assert isinstance(backend, SQLMetadataBackend)
    with ExitStack() as stack:  # fill the pool with 8 connections
        for _ in range(8):
            stack.enter_context(backend._checkout())
    pool = backend._pool  # type: ignore[attr-defined]
    assert pool.size == 8
    proxy.cut_all()  # the server "restarts": every pooled connection is dead
    assert [m.name for m in reg.list_models()] == ["m"]  # the first call succeeds
    # one try on a dead connection, then one new connection: the other seven dead ones were
    # dropped together, not tried one by one
    assert pool.size == 1
    assert reg.save_model(1, "m").version == "2"
    assert reg.get_version("m").version == "2"


def test_connection_cut_in_the_middle_of_a_save_is_unavailable_and_saves_nothing(
    reg: ModelRegistry, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg.save_model(0, "m")
    before = _files(reg)
    original = Session.execute
    calls = [0]

    def execute(self: Session, sql: str, params: Any = None) -> Any:
        calls[0] += 1
        if calls[0] == 3:  # after the save has sent two statements
            proxy.arm("before")
        return original(self, sql, params)

    monkeypatch.setattr(Session, "execute", execute)
    with pytest.raises(BackendUnavailableError):  # parents: a transaction on every engine
        reg.save_model(1, "m", tags={"a": "b"}, parents=[("m", 1)])
    monkeypatch.setattr(Session, "execute", original)
    assert _files(reg) == before
    assert [v.version for v in reg.list_versions("m")] == ["1"]
    assert reg.save_model(2, "m").version == "2"


def test_a_hung_server_fails_the_call_after_call_timeout(
    reg: ModelRegistry, proxy: FaultProxy
) -> None:
    reg.save_model(0, "m")
    proxy.set_mode(HANG)  # connections stay open, nothing comes back
    for call in (reg.list_models, lambda: reg.save_model(1, "m")):
        t0 = time.monotonic()
        with pytest.raises(BackendUnavailableError, match="call_timeout"):
            call()
        elapsed = time.monotonic() - t0
        assert CALL_TIMEOUT * 0.9 < elapsed < CALL_TIMEOUT * 4, elapsed
    proxy.set_mode(PASS)
    proxy.cut_all()  # what the hung server held is gone; new connections work
    assert [m.name for m in reg.list_models()] == ["m"]
    assert [v.version for v in reg.list_versions("m")] == ["1"]
    assert reg.verify(grace=0).ok  # the refused save left no file


def test_a_save_with_the_server_down_fails_at_once_and_keeps_no_file(
    reg: ModelRegistry, proxy: FaultProxy
) -> None:
    reg.save_model(0, "m")  # the pool holds a connection, which the server's stop ends
    before = _files(reg)
    proxy.cut_all()
    proxy.set_mode(REFUSE)  # the server is down: connections are refused
    with pytest.raises(BackendUnavailableError) as info:
        reg.save_model(1, "m")
    # the dead connection had sent nothing of the save: its outcome is known, nothing saved
    assert not isinstance(info.value, OutcomeUnknownError), info.value
    assert _files(reg) == before
    proxy.set_mode(PASS)
    assert [v.version for v in reg.list_versions("m")] == ["1"]
    assert reg.save_model(1, "m").version == "2"


def test_a_hung_server_is_waited_for_once_per_call(reg: ModelRegistry, proxy: FaultProxy) -> None:
    """call_timeout bounds the whole call: after the wait expires, nothing more is sent to the
    hung server (a ROLLBACK there would wait as long again)."""
    reg.save_model(0, "m")
    backend = reg.backend
    assert isinstance(backend, SQLMetadataBackend)
    with ExitStack() as stack:  # two pooled connections: neither call has to connect
        for _ in range(2):
            stack.enter_context(backend._checkout())
    proxy.set_mode(HANG)
    # a read, and a save in a transaction on every engine (parents): its first statement
    # hangs, so nothing was committed (a write of one statement would be OutcomeUnknownError)
    for call in (reg.list_models, lambda: reg.save_model(1, "m", parents=[("m", "1")])):
        proxy.sent_while_hung = 0
        with pytest.raises(BackendUnavailableError, match=r"\(URL option call_timeout\)"):
            call()
        assert proxy.sent_while_hung == 1
    proxy.set_mode(PASS)
    proxy.cut_all()
    assert [v.version for v in reg.list_versions("m")] == ["1"]


def test_a_connection_that_cannot_be_made_in_time_names_the_connect_timeout(
    db_url: str, proxy: FaultProxy, tmp_path: Path, engine: str
) -> None:
    option = dbsources.CONNECT_TIMEOUT_OPTION[engine]
    url = proxy.url(db_url) + f"?call_timeout=30&{option}=1"
    with registry_core.connect(url, artifacts=tmp_path / "artifacts") as r:
        r.save_model(0, "m")
        proxy.set_mode(HANG)  # accepts connections, never answers: no connection is made
        proxy.cut_all()
        with pytest.raises(BackendUnavailableError) as info:
            r.list_models()
        message = str(info.value)
        assert option in message and "within 1 s" in message, message
        assert "option call_timeout" not in message
