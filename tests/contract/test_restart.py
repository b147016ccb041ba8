"""A real server restart under load, on a container of its own (the engine's image, started for
this module alone): a saver loops while the server restarts; every failed call is a
BackendUnavailableError and none hangs; once the server is back the first call succeeds, though
every pooled connection died; nothing committed is without its file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import dbsources
import registry_core
from registry_core import BackendUnavailableError, RegistryError
from registry_core.sqlbackend import SQLMetadataBackend

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("engine", dbsources.SERVERS)]

CALL_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def own_server() -> Iterator[Callable[[str], tuple[Any, str]]]:
    """engine -> (container, admin URL), started on first use, stopped with the module."""
    started: dict[str, tuple[Any, str]] = {}
    failed: dict[str, str] = {}

    def get(engine: str) -> tuple[Any, str]:
        choice = dbsources.choose_container(engine, dbsources.environ(), dbsources.docker_available)
        if choice.kind == "skip":
            dbsources.give_up(choice, choice.detail)
        if engine in failed:
            dbsources.give_up(choice, failed[engine])
        if engine not in started:
            try:
                started[engine] = dbsources.start_container(engine, choice.detail)
            except Exception as exc:
                failed[engine] = f"{engine}: could not start {choice.detail}: {exc}"
                dbsources.give_up(choice, failed[engine])
        return started[engine]

    yield get
    for container, _ in started.values():
        container.stop()


def _wait_until_ready(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with registry_core.open_backend(url):
                return
        except BackendUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_server_restart_while_saving(
    engine: str, own_server: Callable[[str], tuple[Any, str]], tmp_path: Path
) -> None:
    container, admin = own_server(engine)
    url = dbsources.create_database(engine, admin)
    calls: list[tuple[float, float, BaseException | None]] = []  # start, seconds, error
    stop = threading.Event()
    with registry_core.connect(
        f"{url}?call_timeout={CALL_TIMEOUT:g}", artifacts=tmp_path / "a"
    ) as reg:
        backend = reg.backend
        assert isinstance(backend, SQLMetadataBackend)

        def saver() -> None:
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    reg.save_model(i, "m", tags={"i": str(i)})
                    calls.append((t0, time.monotonic() - t0, None))
                except RegistryError as exc:
                    calls.append((t0, time.monotonic() - t0, exc))
                    time.sleep(0.05)
                i += 1

        thread = threading.Thread(target=saver)
        thread.start()
        try:
            time.sleep(1.0)
            with ExitStack() as stack:  # eight pooled connections, which the restart kills
                for _ in range(8):
                    stack.enter_context(backend._checkout())
            container.get_wrapped_container().restart(timeout=10)
            _wait_until_ready(admin)
            back = time.monotonic()
            assert reg.list_models()[0].name == "m"  # the first call once the server is back
            # a call the saver began while the server was starting may wait its call_timeout
            time.sleep(CALL_TIMEOUT + 1.0)
        finally:
            stop.set()
            thread.join(60)
        errors = [e for _, _, e in calls if e is not None]
        assert all(isinstance(e, BackendUnavailableError) for e in errors), errors
        assert max(seconds for _, seconds, _ in calls) < 3 * CALL_TIMEOUT
        after = [e for t0, _, e in calls if t0 >= back]
        assert after and after[0] is None  # the saver's first call after the restart too
        report = reg.verify()
        assert report.missing == [] and report.mismatched == []
        numbers = [int(v.version) for v in reg.list_versions("m")]
        assert numbers == list(range(1, len(numbers) + 1))
        ok = sum(e is None for _, _, e in calls)
        print(f"\n  {engine} restart: {ok} saves, {len(errors)} refused while it was down")
    dbsources.drop_database(engine, admin, url)
