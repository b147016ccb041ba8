"""Migration timings: an empty database to the latest schema, and an upgrade from 001 of a
database holding --versions versions (docs/schema.md, "Measured")."""

from __future__ import annotations

import time

from _common import empty_backend, parse_args

from registry_core.session import utc_now
from registry_core.sqlbackend import SQLMetadataBackend

MODELS = 1000


def fill(b: SQLMetadataBackend, versions: int) -> None:
    """`versions` versions over MODELS models with a tag each, by multi-row INSERTs."""
    now = utc_now()
    per_model = max(1, versions // MODELS)
    for start in range(0, MODELS, 500):
        rows = ", ".join(
            f"('model-{m}', 'bench', '{now}', '{now}', {per_model})"
            for m in range(start, min(MODELS, start + 500))
        )
        b.execute(
            "INSERT INTO mr_models (name, description, created_at, updated_at, last_version) "
            f"VALUES {rows}"
        )
    ids = [r[0] for r in b.query("SELECT id FROM mr_models ORDER BY id")]
    batch: list[str] = []
    for model_id in ids:
        for v in range(1, per_model + 1):
            batch.append(f"({model_id}, '{v}', 'models/x/{v}.pkl', 1000, 'sha256:00', '{now}')")
            if len(batch) == 1000:
                _flush(b, batch)
    _flush(b, batch)
    b.execute(
        "INSERT INTO mr_model_tags (model_version_id, tag_key, tag_value) "
        "SELECT id, 'type', 'regression' FROM mr_model_versions"
    )


def _flush(b: SQLMetadataBackend, batch: list[str]) -> None:
    if batch:
        b.execute(
            "INSERT INTO mr_model_versions (model_id, version, storage_path, file_size_bytes, "
            f"checksum, created_at) VALUES {', '.join(batch)}"
        )
        batch.clear()


def main() -> None:
    args = parse_args(__doc__ or "", {"versions": 100_000})
    for url in args.url:
        b = empty_backend(url, args.reset)
        name = b.name
        t0 = time.perf_counter()
        b.migrate()
        print(
            f"{name:<10} empty database -> {b.migration_status().current}: "
            f"{time.perf_counter() - t0:.3f} s"
        )
        b.downgrade("001")
        t0 = time.perf_counter()
        fill(b, args.versions)
        count = b.query("SELECT COUNT(*) FROM mr_model_versions")[0][0]
        print(f"{name:<10} filled {count} versions at 001 in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        applied = b.migrate()
        print(
            f"{name:<10} upgrade 001 -> {applied[-1]} with {count} versions: "
            f"{time.perf_counter() - t0:.3f} s"
        )
        t0 = time.perf_counter()
        latest = b.latest_versions()
        print(
            f"{name:<10} latest_versions() over {count} versions: {len(latest)} rows in "
            f"{time.perf_counter() - t0:.3f} s"
        )
        b.downgrade("000")
        b.close()


if __name__ == "__main__":
    main()
