"""Shared by the benchmark scripts: argument parsing and a clean database per run."""

from __future__ import annotations

import argparse
import sys

import registry_core
from registry_core.sqlbackend import SQLMetadataBackend


def parse_args(description: str, extra: dict[str, int] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", action="append", required=True, help="scratch database (repeatable)")
    p.add_argument("--reset", action="store_true", help="revert all migrations there first")
    for name, default in (extra or {}).items():
        p.add_argument(f"--{name}", type=int, default=default)
    return p.parse_args()


def empty_backend(url: str, reset: bool) -> SQLMetadataBackend:
    """A backend on `url` with no registry schema; exits if the database is in use."""
    b = registry_core.open_backend(url)
    assert isinstance(b, SQLMetadataBackend)
    if b.migration_status().current is not None:
        if not reset:
            b.close()
            sys.exit(f"{b.url.masked()} holds a registry schema; pass --reset to clear it")
        b.downgrade("000")
    return b
