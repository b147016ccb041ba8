"""The registries of `bench_scale.py`: what they hold, where they live, how they are built
through the public import path (`MetadataBackend.import_model`) and kept between runs.

Scale N is 50*N models (a tag each) of 20 versions (N=1: 1,000 versions; N=1000: 1,000,000),
each version with five tags, one or two metrics and a lineage edge to the version before it;
version 10 of each model is under the alias "champion".
Versions are created round robin: version 1 of every model, then version 2, ... (one
`import_model` call per version, as a registry that grows by saves), so neither creation time
nor row ids follow name order.

Caching: a table of our own, `bench_scale_marker` (no `mr_` prefix: no migration touches it),
gets one row per finished round (the layout of the data, the round, seconds it took). A
database whose marker says all rounds of this layout are done, and whose first and last
versions are there as built, is reused as is; a partial build resumes at its first unfinished
round (a round run twice writes nothing new: import_model leaves identical versions alone); a
database of another layout, or holding a registry without our marker, is dropped and rebuilt.
Later migrations only add to the `mr_` tables, so a cached registry stays valid after
`migrate()`; statistics are refreshed whenever migrate() applied something.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import registry_core
from registry_core import ExportedAlias, ExportedModel, ExportedVersion, NotFoundError
from registry_core.sqlbackend import SQLMetadataBackend

VERSIONS = 20
MODELS_PER_SCALE = 50
#: distinct files the storage paths cycle through (only the copy measurement reads them)
FILES = 1000
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
#: change it when the data below changes: cached registries of another layout are rebuilt
LAYOUT = "round-robin/v4"  # v4: each model's files in a folder of its own (schema 007)
MARKER = "bench_scale_marker"
#: PostgreSQL and MySQL/MariaDB database names (on the server of the URL given)
DATABASE = "bench_scale_x{scale}"
COPY_DATABASE = "bench_scale_copy"
DEFAULT_SQLITE_DIR = "/var/tmp/registry-core-bench-scale"


def models_at(scale: int) -> int:
    return MODELS_PER_SCALE * scale


def name_of(m: int) -> str:
    return f"model-{m:05d}"


def created(models: int, m: int, v: int) -> datetime:
    """Creation time of version v of model m: one second per version, round robin."""
    return START + timedelta(seconds=(v - 1) * models + m)


def stamp(t: datetime) -> str:
    """As a filter literal: ISO-8601 UTC with microseconds."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def file_bytes(f: int) -> bytes:
    """The content of file f (512 to 1,023 bytes), the same in every run."""
    seed = hashlib.sha256(f"bench-scale-file-{f}".encode()).digest()
    return (seed * 32)[: 512 + f % 512]


_FILE_RECORDS = [
    (len(b), "sha256:" + hashlib.sha256(b).hexdigest()) for b in map(file_bytes, range(FILES))
]


def version_record(models: int, m: int, v: int) -> ExportedVersion:
    """Version v of model m: k numbers the versions in creation order. Each version has a
    file of its own model's (no two models of a registry may point at one file), whose bytes
    cycle through FILES contents, a different one for each version of a model."""
    k = (v - 1) * models + m
    f = (m * VERSIONS + v - 1) % FILES
    size, checksum = _FILE_RECORDS[f]
    metrics = {"acc": (k * 7919 % 10007) / 10007}
    if v % 2 == 0:
        metrics["loss"] = (k * 104729 % 10009) / 10009
    return ExportedVersion(
        version=str(v),
        description=None,
        storage_path=file_path(m, v),
        file_size_bytes=size,
        checksum=checksum,
        created_at=created(models, m, v),
        tags={
            "type": "regression" if k % 3 == 0 else "classification",
            "team": f"team-{m % 25}",
            "stage": "production" if v == VERSIONS else "staging" if v > 15 else "dev",
            "framework": ("sklearn", "torch", "xgboost")[m % 3],
            "dataset": f"ds-{k % 1000:03d}",
        },
        metrics=metrics,
        parents=((name_of(m), str(v - 1)),) if v > 1 else (),
    )


def model_round(models: int, m: int, v: int) -> ExportedModel:
    """Model m as round v imports it: its version v alone (the others are there already)."""
    version = version_record(models, m, v)
    aliases = (ExportedAlias("champion", str(v), version.created_at),) if v == 10 else ()
    return ExportedModel(
        name=name_of(m),
        description=f"benchmark model {m}",
        created_at=created(models, m, 1),
        updated_at=version.created_at,
        last_version=v,
        tags={"owner": f"team-{m % 25}"},
        versions=(version,),
        aliases=aliases,
    )


# -- where the registries live -----------------------------------------------------------------
@dataclass(frozen=True)
class Engine:
    """One engine to measure: its name and its server URL (None for SQLite)."""

    name: str
    server: str | None
    sqlite_dir: Path

    def url(self, scale: int | None) -> str:
        """The registry of `scale` (None: the copy's target) on this engine."""
        db = COPY_DATABASE if scale is None else DATABASE.format(scale=scale)
        if self.server is None:
            return f"sqlite:///{self.sqlite_dir / (db + '.db')}"
        return urlsplit(self.server)._replace(path="/" + db).geturl()

    def create(self, scale: int | None) -> None:
        """Creates the database if absent (a SQLite file is created by opening it)."""
        if self.server is None:
            self.sqlite_dir.mkdir(parents=True, exist_ok=True)
            return
        db = urlsplit(self.url(scale)).path.lstrip("/")
        _admin(self.server, db, drop=False)

    def drop(self, scale: int | None) -> None:
        """Deletes the database (the SQLite file) of `scale` altogether."""
        if self.server is None:
            path = self.sqlite_dir / (urlsplit(self.url(scale)).path.split("/")[-1])
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        db = urlsplit(self.url(scale)).path.lstrip("/")
        _admin(self.server, db, drop=True)


def _admin(server: str, db: str, *, drop: bool) -> None:
    """CREATE DATABASE IF NOT EXISTS / DROP DATABASE IF EXISTS `db` on `server`."""
    assert db.startswith("bench_scale_"), db  # the only databases this script touches
    parts = urlsplit(server)
    if parts.scheme.startswith("postgres"):
        import psycopg

        with psycopg.connect(server.split("?")[0], autocommit=True) as conn:
            if drop:
                conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            elif conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                return
            else:
                conn.execute(f"CREATE DATABASE {db}")
        return
    import mysql.connector

    my = mysql.connector.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        charset="utf8mb4",
        collation="utf8mb4_bin",
    )
    try:
        cur = my.cursor()
        if drop:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        else:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4")
        cur.close()
    finally:
        my.close()


def open_sql(url: str) -> SQLMetadataBackend:
    b = registry_core.open_backend(url)
    assert isinstance(b, SQLMetadataBackend)
    return b


# -- the marker ----------------------------------------------------------------------------------
def rounds_done(b: SQLMetadataBackend) -> int | None:
    """Rounds of this LAYOUT the marker records; None if there is no marker table."""
    try:
        rows = b.query(
            f"SELECT MAX(round_done) FROM {MARKER} WHERE layout = :layout", {"layout": LAYOUT}
        )
    except registry_core.RegistryError:
        return None
    return int(rows[0][0] or 0)


def other_layout(b: SQLMetadataBackend) -> bool:
    rows = b.query(f"SELECT COUNT(*) FROM {MARKER} WHERE layout <> :layout", {"layout": LAYOUT})
    return int(rows[0][0]) > 0


def mark(b: SQLMetadataBackend, done: int, seconds: float) -> None:
    b.execute(
        f"INSERT INTO {MARKER} (layout, round_done, seconds, finished_at) "
        "VALUES (:layout, :round, :seconds, :at)",
        {
            "layout": LAYOUT,
            "round": done,
            "seconds": round(seconds, 3),
            "at": datetime.now(timezone.utc).isoformat(),
        },
    )


def build_seconds(b: SQLMetadataBackend) -> float:
    rows = b.query(f"SELECT SUM(seconds) FROM {MARKER} WHERE layout = :layout", {"layout": LAYOUT})
    return float(rows[0][0] or 0)


def looks_built(b: SQLMetadataBackend, models: int) -> bool:
    """The first and the last version the build writes are there as it wrote them."""
    for m, v in ((0, 1), (models - 1, VERSIONS), (models // 2, 10)):
        want = version_record(models, m, v)
        try:
            got = b.get_version(name_of(m), str(v))
        except NotFoundError:
            return False
        if (got.storage_path, got.created_at, dict(got.tags)) != (
            want.storage_path,
            want.created_at,
            dict(want.tags),
        ):
            return False
    try:  # and no model beyond the last
        b.get_model(name_of(models))
    except NotFoundError:
        return True
    return False


# -- building ------------------------------------------------------------------------------------
def ensure(engine: Engine, scale: int, workers: int, log: Callable[[str], None]) -> float:
    """The registry of `scale` on `engine`, built or completed if needed; returns the seconds
    its build took (recorded by the marker, whichever run did it)."""
    models = models_at(scale)
    engine.create(scale)
    url = engine.url(scale)
    with open_sql(url) as b:
        applied = b.migrate()
        done = rounds_done(b)
        if done is None:  # no marker: an empty database, or a registry that is not ours
            rebuild = b.stats().total_models > 0
        else:
            rebuild = other_layout(b) or (done == VERSIONS and not looks_built(b, models))
        if rebuild:
            log(f"{b.url.masked()}: not a complete bench_scale registry of {LAYOUT}: rebuilding")
            done = None
        elif done == VERSIONS:
            if applied:  # a new schema: its planner statistics are stale
                b.refresh_statistics()
            return build_seconds(b)
    if rebuild:
        engine.drop(scale)
        engine.create(scale)
    with open_sql(url) as b:
        b.migrate()
        b.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER} (layout VARCHAR(100) NOT NULL, "
            "round_done INTEGER NOT NULL, seconds DOUBLE PRECISION NOT NULL, "
            "finished_at VARCHAR(40) NOT NULL)"
        )
    parallel = 1 if engine.server is None else workers  # SQLite has one writer
    with Importers(url, parallel) as importers:
        for v in range((done or 0) + 1, VERSIONS + 1):
            t0 = time.perf_counter()
            importers.round(models, v)
            seconds = time.perf_counter() - t0
            with open_sql(url) as b:
                if v == VERSIONS:
                    t1 = time.perf_counter()
                    b.refresh_statistics()
                    seconds += time.perf_counter() - t1
                mark(b, v, seconds)
            log(f"{engine.name} x{scale}: round {v}/{VERSIONS} in {seconds:.1f} s")
    with open_sql(url) as b:
        return build_seconds(b)


class Importers:
    """`workers` processes, each with a backend of its own on `url` (this process's, if one)."""

    def __init__(self, url: str, workers: int) -> None:
        self.url, self.workers = url, workers
        self.pool: Any = None

    def __enter__(self) -> Importers:
        if self.workers > 1:
            self.pool = get_context("spawn").Pool(self.workers, _open_worker, (self.url,))
        else:
            _open_worker(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
        else:
            _close_worker()

    def round(self, models: int, v: int) -> None:
        """Imports version v of every model, model 0 first; with several workers, worker w
        takes the models m with m % workers == w (in the same order)."""
        parts = [(models, v, w, self.workers) for w in range(self.workers)]
        if self.pool is None:
            _import_part(*parts[0])
        else:
            self.pool.starmap(_import_part, parts)


_worker: dict[str, SQLMetadataBackend] = {}


def _open_worker(url: str) -> None:
    _worker["b"] = open_sql(url)


def _close_worker() -> None:
    _worker.pop("b").close()


def _import_part(models: int, v: int, w: int, workers: int) -> None:
    b = _worker["b"]
    for m in range(w, models, workers):
        b.import_model(model_round(models, m, v))


def file_path(m: int, v: int) -> str:
    """The storage path of version v of model m."""
    return f"models/bench/{m}/{(m * VERSIONS + v - 1) % FILES}.bin"


def put_files(root: Path, models: Sequence[int]) -> Path:
    """The files of the versions of `models` (indexes), under `root` (an artifact store's
    folder); written once, kept."""
    for m in models:
        for v in range(1, VERSIONS + 1):
            f = (m * VERSIONS + v - 1) % FILES
            path = root / file_path(m, v)
            if not path.exists() or path.stat().st_size != 512 + f % 512:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(file_bytes(f))
    return root


def slice_models(scale: int, versions: int) -> list[int]:
    """The models (indexes) of a copy of about `versions` versions: a run in the middle of
    the names."""
    models = models_at(scale)
    count = max(1, min(models, versions // VERSIONS))
    first = (models - count) // 2
    return list(range(first, first + count))


def slice_names(scale: int, versions: int) -> list[str]:
    """The names of `slice_models`."""
    return [name_of(m) for m in slice_models(scale, versions)]


def env_url(engine: str) -> str | None:
    """The URL the contract tests use for `engine` (REGISTRY_TEST_<ENGINE>_URL), if set."""
    return os.environ.get(f"REGISTRY_TEST_{engine.upper()}_URL", "").strip() or None
