"""The frozen value types the public API returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Model:
    """A registered model name and its description."""

    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ModelVersion:
    """One numbered version of a model; `version` is a string of decimal digits."""

    name: str
    version: str
    description: str | None
    storage_path: str
    file_size_bytes: int
    created_at: datetime
    tags: dict[str, str | None] = field(default_factory=dict)
    checksum: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionFile:
    """What the database records about one version's file."""

    name: str
    version: str
    storage_path: str
    file_size_bytes: int
    checksum: str | None


@dataclass(frozen=True)
class RegistryStats:
    """Totals over every model and version (the seed document's statistics query)."""

    total_models: int
    total_versions: int
    total_size_bytes: int
    avg_size_bytes: float


@dataclass(frozen=True)
class DatabaseStats:
    """What the database reports about itself (the seed document's monitoring section)."""

    backend: str
    server_version: str
    schema_version: str | None
    size_bytes: int
    row_counts: dict[str, int]
    location: str
    #: the driver and its implementation ("psycopg 3.3.9 (libpq 17.0, binary)", ...)
    driver: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {
            "backend": self.backend,
            "server_version": self.server_version,
            "schema_version": self.schema_version,
            "size_bytes": self.size_bytes,
            "row_counts": dict(self.row_counts),
            "location": self.location,
            "driver": self.driver,
        }
