"""copy_registry timings: a SQLite registry of --versions versions over --models models (two
tags, one metric and one lineage edge per version, an alias and a tag per model) is copied to
--postgresql, and that copy on to --mysql; time, versions per second and the copying
process's peak memory (ru_maxrss), each copy in a fresh process.

Files: the versions of each model name one file of that model's own (no two models may share
a file), so each file is copied once (staged, fsynced, renamed) and found in place (size and
sha256 checked) for the model's other versions; the figures are for the metadata, not for
the disk.

    python benchmarks/bench_copy.py --sqlite /tmp/bench-src.db \\
        --postgresql postgresql://postgres@127.0.0.1:5432/bench \\
        --mysql mysql://root@127.0.0.1:3306/bench --reset
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import registry_core
from registry_core.sqlbackend import SQLMetadataBackend

STAMP = "2026-01-02T03:04:05.123456Z"


def seed(path: Path, artifacts: Path, models: int, versions: int) -> None:
    """A registry at `path` filled by bulk INSERTs (no API round trips)."""
    if path.exists():
        path.unlink()
    shutil.rmtree(artifacts, ignore_errors=True)
    with registry_core.connect(f"sqlite:///{path}", artifacts=artifacts):
        pass  # migrated
    per_model = versions // models
    folder = artifacts / "models" / "bench"
    folder.mkdir(parents=True)
    checksums = []
    for f in range(models):
        data = os.urandom(512 + f % 512)
        (folder / f"{f}.bin").write_bytes(data)
        checksums.append((len(data), "sha256:" + hashlib.sha256(data).hexdigest()))
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO mr_models (id, name, description, created_at, updated_at, last_version) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (m, f"model-{m:05d}", f"model {m}", STAMP, STAMP, per_model)
                for m in range(1, models + 1)
            ],
        )
        conn.executemany(
            "INSERT INTO mr_registered_model_tags (model_id, tag_key, tag_value) VALUES (?, ?, ?)",
            [(m, "team", f"team-{m % 7}") for m in range(1, models + 1)],
        )
        rows, tags, metrics, edges = [], [], [], []
        vid = 0
        for m in range(1, models + 1):
            for v in range(1, per_model + 1):
                vid += 1
                f = m - 1  # the model's own file
                size, checksum = checksums[f]
                rows.append((vid, m, str(v), None, f"models/bench/{f}.bin", size, checksum, STAMP))
                tags += [(vid, "stage", "prod" if v == per_model else "dev"), (vid, "note", None)]
                metrics.append((vid, "auc", 0.5 + v / 1000))
                if v > 1:
                    edges.append((vid, vid - 1))
        conn.executemany(
            "INSERT INTO mr_model_versions (id, model_id, version, description, storage_path, "
            "file_size_bytes, checksum, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO mr_model_tags (model_version_id, tag_key, tag_value) VALUES (?, ?, ?)",
            tags,
        )
        conn.executemany(
            "INSERT INTO mr_model_metrics (model_version_id, metric_name, metric_value) "
            "VALUES (?, ?, ?)",
            metrics,
        )
        conn.executemany(
            "INSERT INTO mr_model_lineage (child_version_id, parent_version_id) VALUES (?, ?)",
            edges,
        )
        conn.executemany(
            "INSERT INTO mr_model_aliases (model_id, alias, model_version_id, updated_at) "
            "SELECT model_id, 'champion', MAX(id), ? FROM mr_model_versions "
            "WHERE model_id = ? GROUP BY model_id",
            [(STAMP, m) for m in range(1, models + 1)],
        )
    conn.close()


def empty(url: str, reset: bool) -> None:
    b = registry_core.open_backend(url)
    assert isinstance(b, SQLMetadataBackend)
    try:
        if b.migration_status().current is not None:
            if not reset:
                sys.exit(f"{b.url.masked()} holds a registry schema; pass --reset to clear it")
            b.downgrade("000")
    finally:
        b.close()


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB: VmHWM on Linux (ru_maxrss keeps the
    parent's peak across exec, which would count the seeding), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def child(source: str, target: str, src_art: str, dst_art: str, *models: str) -> None:
    """In a fresh process: one copy (of `models`, if any); prints its report, time and peak
    RSS as JSON."""
    before = peak_rss_kib()
    t0 = time.perf_counter()
    report = registry_core.copy_registry(
        source,
        target,
        source_artifacts=src_art,
        target_artifacts=dst_art,
        models=list(models) or None,
        progress=False,
    )
    seconds = time.perf_counter() - t0
    peak = peak_rss_kib()
    print(json.dumps({"report": report.as_dict(), "seconds": seconds, "rss0": before, "rss": peak}))


def run_copy(
    source: str,
    target: str,
    src_art: Path,
    dst_art: Path,
    *,
    fresh: bool = True,
    models: Sequence[str] = (),
) -> dict[str, Any]:
    """One copy in a fresh process (`fresh`: into an empty target store); its JSON result."""
    if fresh:
        shutil.rmtree(dst_art, ignore_errors=True)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            source,
            target,
            str(src_art),
            str(dst_art),
            *models,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def show(label: str, r: dict[str, Any], versions: int) -> None:
    seconds, report = float(r["seconds"]), r["report"]
    print(
        f"{label:<24} {versions} versions in {seconds:.1f} s = {versions / seconds:,.0f} "
        f"versions/s; files {report['files_copied']} copied, {report['files_skipped']} found; "
        f"peak RSS {r['rss'] / 1024:.0f} MiB (after imports {r['rss0'] / 1024:.0f} MiB)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sqlite", required=True, help="path of the SQLite source (overwritten)")
    p.add_argument("--postgresql", required=True, help="an empty scratch PostgreSQL database")
    p.add_argument("--mysql", help="an empty scratch MySQL/MariaDB database")
    p.add_argument("--reset", action="store_true", help="revert all migrations there first")
    p.add_argument("--models", type=int, default=5000)
    p.add_argument("--versions", type=int, default=100_000)
    args = p.parse_args()
    src = Path(args.sqlite).absolute()
    art = src.parent / f"{src.stem}-artifacts"
    t0 = time.perf_counter()
    seed(src, art / "source", args.models, args.versions)
    print(
        f"seeded {args.versions} versions over {args.models} models "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    empty(args.postgresql, args.reset)
    first = run_copy(f"sqlite:///{src}", args.postgresql, art / "source", art / "pg")
    show("sqlite -> postgresql", first, args.versions)
    if args.mysql:
        empty(args.mysql, args.reset)
        second = run_copy(args.postgresql, args.mysql, art / "pg", art / "mysql")
        show("postgresql -> mysql", second, args.versions)
    again = run_copy(f"sqlite:///{src}", args.postgresql, art / "source", art / "pg", fresh=False)
    show("sqlite -> postgresql again", again, args.versions)


if __name__ == "__main__":
    main()
