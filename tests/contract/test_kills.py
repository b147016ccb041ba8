"""Processes killed with SIGKILL at any moment: savers, a first connect (migrations) killed after
each of its statements, several processes creating one SQLite file at once, and a soak of
concurrent savers and readers. Nothing committed is ever without its file, numbers stay 1..N,
and the next connect() completes by itself.

Sizes are for CI; REGISTRY_TEST_FAULT_SCALE (default 1) multiplies them (the issue's figures:
50 kills, 100 trials of 8 processes, 8 savers x 50 saves).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import registry_core
from registry_core import ModelRegistry
from registry_core.session import Session

SCALE = max(1, int(os.environ.get("REGISTRY_TEST_FAULT_SCALE", "1")))
MODELS = ("alpha", "beta", "gamma")


def _ctx() -> Any:
    """Children forked from a clean, single-threaded server process that has imported the
    registry once: a child starts in milliseconds, and no lock of this process's threads is
    copied into it."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["registry_core", "psycopg", "mysql.connector"])
    return ctx


# -- a first connect killed after each of its statements ---------------------------------
def _connect_and_die_after(url: str, artifacts: str, k: int) -> None:
    """Child: connect() (which migrates an empty database), SIGKILLed right after its k-th
    statement (any kind: DDL, INSERT, COMMIT) has been answered."""
    sent = [0]

    def counting(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Session, *args: Any, **kwargs: Any) -> Any:
            result = method(self, *args, **kwargs)
            sent[0] += 1
            if sent[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return wrapper

    for name in ("execute", "control", "commit"):
        setattr(Session, name, counting(getattr(Session, name)))
    registry_core.connect(url, artifacts=artifacts).close()


def _statements_of_a_first_connect(url: str, artifacts: str) -> int:
    counted = [0]
    originals = {n: getattr(Session, n) for n in ("execute", "control", "commit")}

    def counting(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Session, *args: Any, **kwargs: Any) -> Any:
            counted[0] += 1
            return method(self, *args, **kwargs)

        return wrapper

    try:
        for name, method in originals.items():
            setattr(Session, name, counting(method))
        registry_core.connect(url, artifacts=artifacts).close()
    finally:
        for name, method in originals.items():
            setattr(Session, name, method)
    return counted[0]


@pytest.mark.slow
def test_a_first_connect_killed_after_any_statement_is_completed_by_the_next(
    engine: str, fresh_databases: Callable[[int], str], tmp_path: Path
) -> None:
    total = _statements_of_a_first_connect(fresh_databases(0), str(tmp_path / "artifacts"))
    assert total > 10
    ctx = _ctx()
    urls = {k: fresh_databases(k) for k in range(1, total + 1)}

    def trial(k: int) -> None:
        url, artifacts = urls[k], str(tmp_path / f"artifacts-{k}")  # a registry of its own
        child = ctx.Process(target=_connect_and_die_after, args=(url, artifacts, k))
        child.start()
        child.join(60)
        assert child.exitcode == -signal.SIGKILL, f"statement {k}: exit {child.exitcode}"
        with registry_core.connect(url, artifacts=artifacts) as reg:  # completes by itself
            status = reg.backend.migration_status()
            assert status.up_to_date and status.dirty is None, f"after statement {k}"
            assert reg.save_model(k, "m", metrics={"k": k}).version == "1"
            reg.set_alias("m", "champion", 1)
            assert reg.load_model("m", alias="champion") == k

    # the trials are independent (a database each), so a few run at once: the servers' DDL
    # waits on the disk, and the whole test took minutes one trial at a time
    with ThreadPoolExecutor(max_workers=4) as pool:
        for done in [pool.submit(trial, k) for k in urls]:
            done.result()


# -- savers killed at random moments -------------------------------------------------------
def _save_forever(url: str, artifacts: str, seed: int) -> None:
    """Child: saves files of random sizes (up to 2 MB, so that kills land while writing too)
    into three models until it is killed."""
    rng = random.Random(seed)
    with registry_core.connect(url, artifacts=artifacts) as reg:
        while True:
            payload = rng.randbytes(rng.choice([100, 10_000, 2_000_000]))
            reg.save_model(
                payload,
                rng.choice(MODELS),
                tags={"seed": str(seed)},
                metrics={"size": float(len(payload))},
            )


@pytest.mark.slow
def test_killed_savers_leave_no_version_without_its_file(
    registry: ModelRegistry, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kills = 6 * SCALE
    artifacts = str(registry.artifacts.root)
    ctx = _ctx()
    rng = random.Random(7)
    for i in range(kills):
        child = ctx.Process(target=_save_forever, args=(db_url, artifacts, i))
        child.start()
        time.sleep(rng.uniform(0.3, 1.2))
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(30)
    report = registry.verify()
    assert report.missing == [] and report.mismatched == []
    saved = 0
    for name in MODELS:
        versions = [int(v.version) for v in registry.list_versions(name)]
        assert versions == list(range(1, len(versions) + 1)), name  # no gap, no duplicate
        saved += len(versions)
    for v in registry.latest_versions():  # every committed file loads and verifies
        registry.load_model(v.name, v.version)
    debris = len(report.orphans) + len(report.stale_staging) + report.young
    repaired = registry.verify(grace=0, repair=True)
    assert repaired.missing == [] and registry.verify(grace=0).ok
    with capsys.disabled():
        print(
            f"\n  {kills} savers killed: {saved} versions, all with their files; "
            f"{debris} leftover files, {len(repaired.removed)} removed by fsck --repair"
        )


# -- several processes creating one SQLite file at once --------------------------------------
def _open_at_once(path: str, barrier: Any, results: Any) -> None:
    try:
        barrier.wait(30)
        with registry_core.connect(f"sqlite:///{path}", artifacts=path + ".files") as reg:
            reg.save_model(os.getpid(), "m")
        results.put("ok")
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite"])  # the race is SQLite's: one file, no server
def test_processes_creating_one_sqlite_file_at_once_all_succeed(
    engine: str, tmp_path: Path
) -> None:
    ctx = _ctx()
    trials, processes = 12 * SCALE, 8
    failures: list[str] = []
    for trial in range(trials):
        path = str(tmp_path / f"race-{trial}.db")
        barrier, results = ctx.Barrier(processes), ctx.Queue()
        children = [
            ctx.Process(target=_open_at_once, args=(path, barrier, results))
            for _ in range(processes)
        ]
        for c in children:
            c.start()
        got = [results.get(timeout=120) for _ in children]
        for c in children:
            c.join(30)
        failures += [g for g in got if g != "ok"]
        with registry_core.connect(f"sqlite:///{path}", artifacts=path + ".files") as reg:
            assert [int(v.version) for v in reg.list_versions("m")] == list(range(1, 9))
    assert failures == []


# -- soak: concurrent savers and readers -------------------------------------------------------
def _soak_saver(url: str, artifacts: str, n: int, start_at: float) -> list[tuple[str, str]]:
    rng = random.Random(os.getpid())
    with registry_core.connect(url, artifacts=artifacts) as reg:
        time.sleep(max(0.0, start_at - time.time()))
        out = []
        for i in range(n):
            name = rng.choice(MODELS)
            out.append((name, reg.save_model((name, i), name, tags={"i": str(i)}).version))
        return out


def _soak_reader(url: str, artifacts: str, seconds: float, start_at: float) -> int:
    """Loads the latest version of every model over and over; any missing or corrupt file
    raises (and fails the test)."""
    loads = 0
    with registry_core.connect(url, artifacts=artifacts) as reg:
        time.sleep(max(0.0, start_at - time.time()))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for v in reg.latest_versions():
                name, _ = reg.load_model(v.name, v.version)
                assert name == v.name
                loads += 1
    return loads


@pytest.mark.slow
def test_soak_of_concurrent_savers_and_readers(
    registry: ModelRegistry, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    savers, per_saver = 4 * SCALE, 20 * SCALE
    artifacts = str(registry.artifacts.root)
    ctx = _ctx()
    start_at = time.time() + 1.0
    with ctx.Pool(savers + 2) as pool:
        readers = [
            pool.apply_async(_soak_reader, (db_url, artifacts, 4.0, start_at)) for _ in range(2)
        ]
        saved = pool.starmap(_soak_saver, [(db_url, artifacts, per_saver, start_at)] * savers)
        loads = sum(r.get(120) for r in readers)
    total = 0
    for name in MODELS:
        mine = sorted(int(v) for run in saved for n, v in run if n == name)
        assert mine == list(range(1, len(mine) + 1)), name  # each number exactly once
        assert [int(v.version) for v in registry.list_versions(name)] == mine
        total += len(mine)
    assert total == savers * per_saver
    assert registry.verify().ok
    with capsys.disabled():
        print(f"\n  soak: {total} saves by {savers} processes, {loads} verified loads")
