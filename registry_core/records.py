"""The frozen value types the public API returns."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NoReturn, TypeVar

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class FrozenDict(dict[K, V]):
    """A dict that cannot be changed (the tags and metrics of a record): equal to a dict with
    the same items, picklable, JSON-serializable, hashable."""

    __slots__ = ()

    def _immutable(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("the tags and metrics of a record cannot be changed; copy with dict()")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _immutable
    __ior__ = _immutable

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __repr__(self) -> str:
        return dict.__repr__(self)


def frozen(items: Mapping[K, V] | None) -> FrozenDict[K, V]:
    """`items` as a FrozenDict (itself if it is one)."""
    if type(items) is FrozenDict:
        return items
    return FrozenDict(items or {})


def _freeze(record: Any, *names: str) -> None:
    """Makes the mapping fields `names` of a frozen dataclass immutable (FrozenDict)."""
    for name in names:
        value = getattr(record, name)
        if type(value) is not FrozenDict:
            object.__setattr__(record, name, frozen(value))


@dataclass(frozen=True)
class Model:
    """A registered model (immutable): its `name`, `description` (or None), `created_at`
    and `updated_at` (aware UTC datetimes) and its own `tags` (an immutable mapping, not the
    versions' tags)."""

    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    tags: Mapping[str, str | None] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        _freeze(self, "tags")


@dataclass(frozen=True)
class ModelVersion:
    """One numbered version of a model (immutable); `version` is a string of decimal digits.
    `storage_path` is its file's path relative to the artifact store's root,
    `file_size_bytes` and `checksum` ("sha256:<hex>") what loads verify, `created_at` an
    aware UTC datetime, `aliases` the aliases pointing at it. `tags` and `metrics` are
    immutable mappings (copy them with dict() to change them)."""

    name: str
    version: str
    description: str | None
    storage_path: str
    file_size_bytes: int
    created_at: datetime
    tags: Mapping[str, str | None] = field(default_factory=FrozenDict)
    checksum: str | None = None
    metrics: Mapping[str, float] = field(default_factory=FrozenDict)
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _freeze(self, "tags", "metrics")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a search: `items`, and `next_page_token` (None on the last page) to pass
    as `page_token` for the next one. Iterating a Page iterates its items."""

    items: list[T]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


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
    """Totals over every model and version (the seed document's statistics query): counts,
    and the sum and mean of the versions' file sizes in bytes (0 when there is none)."""

    total_models: int
    total_versions: int
    total_size_bytes: int
    avg_size_bytes: float


@dataclass(frozen=True)
class DatabaseStats:
    """What the database reports about itself (the seed document's monitoring section):
    the `backend` ("sqlite", "postgresql", "mysql"), the server's product and version, the
    schema version (None on an empty database), the database's size in bytes, the row count
    of each registry table, and its `location` (the URL, password masked)."""

    backend: str
    server_version: str
    schema_version: str | None
    size_bytes: int
    row_counts: dict[str, int]
    location: str
    #: the driver and its implementation ("psycopg 3.3.9 (libpq 17.0, binary)", ...)
    driver: str = ""
    #: the registry's stable id (a UUID made with its schema; None before schema 006)
    registry_id: str | None = None

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
            "registry_id": self.registry_id,
        }


@dataclass(frozen=True)
class Event:
    """One committed change (immutable): its feed `id` (1, 2, 3, ... in commit order), when
    it happened (`at`, an aware UTC datetime), who made it (`actor`), the `action`
    ("version.created", "alias.set", ...), the model's `name` when it happened, the
    `version` it concerns (None for changes of the model itself), `detail` (an immutable
    mapping of what changed, with values before and after) and, for an event a copy
    brought, its `origin`: (the source registry's id, the event's id there); None for an
    event that happened here."""

    id: int
    at: datetime
    actor: str
    action: str
    name: str
    version: str | None
    detail: Mapping[str, Any]
    origin: tuple[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (`at` as ISO-8601 text)."""
        return {
            "id": self.id,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "action": self.action,
            "name": self.name,
            "version": self.version,
            "detail": thaw(self.detail),
            "origin": None if self.origin is None else list(self.origin),
        }


def thaw(value: Any) -> Any:
    """Immutable mappings and tuples as plain dicts and lists (for JSON)."""
    if isinstance(value, Mapping):
        return {str(k): thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class ExportedVersion:
    """One version as `MetadataBackend.export_models` reads it and `import_model` writes it:
    its own number and creation time, its file record, tags, metrics and the versions it
    derives from (`parents`: (model name, version) pairs, possibly of other models)."""

    version: str
    description: str | None
    storage_path: str
    file_size_bytes: int
    checksum: str | None
    created_at: datetime
    tags: Mapping[str, str | None] = field(default_factory=FrozenDict)
    metrics: Mapping[str, float] = field(default_factory=FrozenDict)
    parents: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _freeze(self, "tags", "metrics")


@dataclass(frozen=True)
class ExportedAlias:
    """An alias of a model: its name, the version it points to and when it last moved."""

    alias: str
    version: str
    updated_at: datetime


@dataclass(frozen=True)
class ExportedModel:
    """A model whole, as one consistent snapshot of the source read it: its fields and tags,
    `last_version` (the counter: the next save gets last_version + 1), its versions in the
    order they were created, its aliases, and `uid`, its identity across renames and copies
    (None: a backend that keeps none; the importer then knows the model by name and
    creation time alone)."""

    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    last_version: int
    tags: Mapping[str, str | None] = field(default_factory=FrozenDict)
    versions: tuple[ExportedVersion, ...] = ()
    aliases: tuple[ExportedAlias, ...] = ()
    uid: str | None = None
    #: its events, oldest first, each with its `origin` (where it first happened)
    events: tuple[Event, ...] = ()

    def __post_init__(self) -> None:
        _freeze(self, "tags")


@dataclass(frozen=True)
class ImportResult:
    """What `MetadataBackend.import_model` did with one model (or, with `dry_run`, would do):
    `created` (it was absent), the version numbers it wrote, how many versions were there
    already exactly, the lineage edges it wrote, and the edges it could not write because
    their parent version is not in this database (yet): (child version, parent model, parent
    version). `changed` is False when the database already held the model exactly (nothing
    was written). `renamed_from`: the model's name here before (a rename in the source);
    `versions_updated`: versions here whose description, tags or metrics took the copy's;
    `aliases_updated`: aliases set, moved or removed; `versions_only_here`: versions this
    database has that the copy lacks (deleted in the source since; a copy never deletes)."""

    name: str
    created: bool
    versions_written: tuple[str, ...]
    versions_present: int
    edges_written: int
    edges_missing: tuple[tuple[str, str, str], ...]
    changed: bool
    renamed_from: str | None = None
    versions_updated: tuple[str, ...] = ()
    aliases_updated: int = 0
    versions_only_here: int = 0
    #: events of the copy this database did not have (written in their order)
    events_written: int = 0
