"""Saves per second, statements per save, and concurrent savers (docs/schema.md, "Measured")."""

from __future__ import annotations

import multiprocessing
import tempfile
import time

from _common import empty_backend, parse_args

import registry_core


def _saver(url: str, artifacts: str, n: int, start_at: float) -> tuple[float, list[str]]:
    with registry_core.connect(url, artifacts=artifacts) as reg:
        time.sleep(max(0.0, start_at - time.time()))
        t0 = time.perf_counter()
        versions = [reg.save_model(i, "shared", tags={"i": str(i)}).version for i in range(n)]
        return time.perf_counter() - t0, versions


def main() -> None:
    args = parse_args(__doc__ or "", {"saves": 300, "processes": 4, "per-process": 25})
    for url in args.url:
        b = empty_backend(url, args.reset)
        b.migrate()
        b.close()
        with tempfile.TemporaryDirectory() as tmp, registry_core.connect(url, artifacts=tmp) as reg:
            counter = reg.backend.statements  # type: ignore[attr-defined]
            before, t0 = counter.value, time.perf_counter()
            for i in range(args.saves):
                reg.save_model(i, "bench", tags={"run": str(i), "team": "x"}, metrics={"acc": 0.5})
            elapsed = time.perf_counter() - t0
            per_save = (counter.value - before) / args.saves
            name = reg.database_stats().backend
            print(
                f"{name:<10} {args.saves} saves: {args.saves / elapsed:7.1f} saves/s, "
                f"{1000 * elapsed / args.saves:6.2f} ms each, {per_save:.1f} statements each"
            )

            ctx = multiprocessing.get_context("spawn")
            start_at = time.time() + 3
            with ctx.Pool(args.processes) as pool:
                results = pool.starmap(
                    _saver, [(url, tmp, args.per_process, start_at)] * args.processes
                )
            got = sorted(int(v) for _, vs in results for v in vs)
            total = args.processes * args.per_process
            wall = max(t for t, _ in results)
            ok = got == list(range(1, total + 1))
            print(
                f"{name:<10} {args.processes} processes x {args.per_process} saves of one "
                f"model: {wall:.2f} s, {total / wall:.1f} saves/s, versions 1..{total} "
                f"{'exactly' if ok else 'NOT'} once each"
            )
            reg.backend.downgrade("000")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
