"""HA PostgreSQL: a registry whose URL names a primary and its streaming standby
(`target_session_attrs=read-write`, libpq's multi-host form) survives a failover: the primary
stops, the standby is promoted, and the same registry object works again, with no version
without its file. A write sent to a standby is a `ReadOnlyError`.

PostgreSQL only, on a cluster of its own built from this machine's server binaries
(tests/localservers.py `PgCluster`): multi-host URLs and hot standbys are libpq's and
PostgreSQL's. REGISTRY_TEST_REQUIRE=pg-cluster turns a missing binary into a failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import dbsources
import registry_core
from localservers import PgCluster
from registry_core import BackendUnavailableError, ModelRegistry, ReadOnlyError

#: seconds the registry may take to work again after the promotion (it takes well under one)
RECOVERY_LIMIT = 60
CALL_TIMEOUT = "5"


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    try:
        c = PgCluster()
    except (OSError, RuntimeError) as exc:
        dbsources.local_server_unavailable("pg-cluster", f"pg-cluster: {exc}")
    try:
        yield c
    finally:
        c.close()


def _files(reg: ModelRegistry) -> set[Path]:
    return {p for p in reg.artifacts.root.rglob("*") if p.is_file()}


def _until_it_works(reg: ModelRegistry) -> tuple[str, int]:
    """Saves until a save succeeds (within RECOVERY_LIMIT s); (its version, failed tries).
    Every failure on the way is a BackendUnavailableError that leaves no file."""
    deadline = time.monotonic() + RECOVERY_LIMIT
    failures = 0
    while True:
        before = _files(reg)
        try:
            return reg.save_model({"after": "failover"}, "m").version, failures
        except BackendUnavailableError:
            assert _files(reg) == before
            failures += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_same_registry_works_again_after_a_failover(cluster: PgCluster, tmp_path: Path) -> None:
    url = cluster.url(
        "primary",
        "standby",
        target_session_attrs="read-write",
        connect_timeout="2",
        call_timeout=CALL_TIMEOUT,
    )
    with registry_core.connect(url, artifacts=tmp_path / "artifacts") as reg:
        for i in range(5):
            reg.save_model({"i": i}, "m", tags={"i": str(i)})
        cluster.wait_replayed()
        cluster.stop("primary")
        # no server accepts writes now: a save fails at once, typed, and keeps no file
        before = _files(reg)
        with pytest.raises(BackendUnavailableError) as info:
            reg.save_model({"i": "lost"}, "m")
        assert PgCluster.PASSWORD not in str(info.value)
        assert _files(reg) == before
        cluster.promote("standby")
        version, _ = _until_it_works(reg)
        assert version == "6"
        assert [v.version for v in reg.list_versions("m")] == [str(i) for i in range(1, 7)]
        assert reg.load_model("m", 3) == {"i": 2}
        assert reg.get_version("m", 5).tags == {"i": "4"}
        report = reg.verify(grace=0)  # every version has its file, and no file is extra
        assert report.ok, report


def test_a_write_sent_to_a_standby_is_a_read_only_error(cluster: PgCluster, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    with registry_core.connect(cluster.url("primary"), artifacts=artifacts) as primary:
        primary.save_model({"w": 1}, "m")
    cluster.wait_replayed()
    # the standby alone (a replica for reads): connect() reads the schema, finds it current
    with registry_core.connect(cluster.url("standby"), artifacts=artifacts) as replica:
        assert replica.load_model("m") == {"w": 1}
        before = _files(replica)
        with pytest.raises(ReadOnlyError, match="accepts only reads") as info:
            replica.save_model({"w": 2}, "m")
        assert PgCluster.PASSWORD not in str(info.value)
        assert _files(replica) == before
        with pytest.raises(ReadOnlyError):
            replica.set_tag("m", "1", "k", "v")
        assert [v.version for v in replica.list_versions("m")] == ["1"]
