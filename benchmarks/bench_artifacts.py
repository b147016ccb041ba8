"""Saving and loading one large file (default 300 MB) through the local store and through S3
(moto's server, run in a separate process so that its memory is not ours): wall time and the
peak RSS each operation adds to the process (docs/artifact-stores.md, "Measured").

Each operation runs in a fresh process: peak RSS only grows, so a process measures one thing.
"Save" is save_model_file (streamed to the store while hashed); "load" is model_path (local:
the file verified in place; S3: downloaded into the cache while hashed) and a streamed,
verified read through reader().
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import registry_core

MiB = 1 << 20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run(
    op: str, db: str, artifacts: str, options: dict[str, Any] | None, source: str
) -> tuple[float, float, float]:
    """One operation in this (fresh) process: seconds, baseline RSS, peak RSS (MiB)."""
    with registry_core.connect(db, artifacts=artifacts, storage_options=options) as reg:
        reg.list_models()  # everything imported and connected before the baseline
        base = _peak_mib()
        t0 = time.perf_counter()
        if op == "save":
            reg.save_model_file(source, "big")
        elif op == "load":
            reg.model_path("big")
        else:  # stream
            v = reg.get_version("big")
            with reg.artifacts.reader(v.storage_path, v.file_size_bytes, v.checksum) as r:
                while r.read(MiB):
                    pass
        return time.perf_counter() - t0, base, _peak_mib()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mib", type=int, default=300, help="file size in MiB")
    args = p.parse_args()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ctx = multiprocessing.get_context("spawn")
    try:
        endpoint = f"http://127.0.0.1:{port}"
        options = {"key": "bench", "secret": "bench", "client_kwargs": {"endpoint_url": endpoint}}
        import s3fs

        fs = s3fs.S3FileSystem(**options)
        for _ in range(100):
            try:
                fs.mkdir("bench")
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "weights.bin"
            with source.open("wb") as f:
                for _ in range(args.mib):
                    f.write(os.urandom(MiB))
            cache = Path(tmp) / "cache"
            os.environ["MODEL_REGISTRY_CACHE"] = str(cache)
            print(f"{args.mib} MiB file; time and peak RSS added by the operation")
            for label, artifacts, opts in (
                ("local", str(Path(tmp) / "artifacts"), None),
                ("s3 (moto)", "s3://bench/models", options),
            ):
                db = f"sqlite:///{tmp}/{label[:2]}.db"
                for op in ("save", "load", "stream"):
                    with ctx.Pool(1) as pool:
                        secs, base, peak = pool.apply(_run, (op, db, artifacts, opts, str(source)))
                    rate = args.mib / secs
                    print(
                        f"{label:<10} {op:<7} {secs:6.2f} s ({rate:6.1f} MiB/s)  "
                        f"peak RSS +{peak - base:6.1f} MiB (process peak {peak:6.1f} MiB)"
                    )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
