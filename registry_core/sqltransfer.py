"""The reading side of moving a registry (SPEC section 8): whole models read in a snapshot,
each with its identity (`model_uid`); what an import needs of the schema, and its input
checks.

`SQLMetadataBackend.export_models` is a short door into `export`, on a snapshot it opens
(`registry_core.transactions`); `import_model` checks its input here and writes through
`registry_core.sqlimport`. `registry_core.transfer` (copy_registry) drives both through the
backend contract. The statements are in `registry_core.sql`.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from registry_core import events as events_
from registry_core import rows as rows_
from registry_core import validate
from registry_core.errors import InvalidInputError, NotFoundError
from registry_core.records import (
    Event,
    ExportedAlias,
    ExportedModel,
    ExportedVersion,
    FrozenDict,
)
from registry_core.rows import stamp
from registry_core.session import Session
from registry_core.sql import (
    ALIASES,
    CHUNK,
    EVENTS,
    EXPORT_BATCH,
    LINEAGE,
    METRICS,
    MODEL_TAGS,
    Queries,
)

#: the positions of a model row's id, name, creation time and stored uid
#: (`Queries._export_model`: id, name, description, created_at, updated_at, last_version, uid)
ROW_ID, ROW_NAME, ROW_CREATED, ROW_UID = 0, 1, 3, 6
#: the namespace of the identities derived for models that have none stored
_DERIVED = uuid.UUID("0d5c3a4e-8f7b-5c1e-9a2d-6b4f1e7c3a90")


def model_uid(stored: Any, row_id: Any, created_at: datetime) -> str:
    """A model's identity across renames and copies: the uid stored with it (from schema
    007 on, made with the model or carried by a copy), else one derived from its row, which
    never changes (its id and creation time: a uuid5), so that a model created before 007, or
    by a process opened before it, needs no write to have one, and keeps the same one."""
    if stored:
        return str(stored)
    return str(uuid.uuid5(_DERIVED, f"{int(row_id)}/{stamp(created_at)}"))


# -- reading ---------------------------------------------------------------------------------
def export(s: Session, q: Queries, names: list[str] | None) -> Iterator[ExportedModel]:
    if names is None:  # every model, EXPORT_BATCH at a time, keyset on the id
        after = 0
        while True:
            rows = s.all(q.export_model_page, {"after": after})
            yield from whole_models(s, q, rows)
            if len(rows) < EXPORT_BATCH:
                return
            after = int(rows[-1][0])
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(names), EXPORT_BATCH):
        chunk = names[start : start + EXPORT_BATCH]
        params = {f"n{i}": n for i, n in enumerate(chunk)}
        found += s.all(q.export_models_named(len(chunk)), params)
    missing = set(names) - {r[1] for r in found}
    if missing:
        listed = ", ".join(repr(n) for n in sorted(missing))
        raise NotFoundError(f"no model named {listed}")
    found.sort(key=lambda r: int(r[0]))
    for start in range(0, len(found), EXPORT_BATCH):
        yield from whole_models(s, q, found[start : start + EXPORT_BATCH])


def whole_models(s: Session, q: Queries, rows: Sequence[tuple[Any, ...]]) -> list[ExportedModel]:
    """Models (rows of `Queries._export_model`) whole, with their identities: one statement
    per table for all."""
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    params = {f"i{j}": i for j, i in enumerate(ids)}
    n = len(ids)
    versions: dict[int, list[tuple[Any, ...]]] = {}
    version_ids: list[int] = []
    #: (model name, version) of each version id seen, for the parents of edges
    names: dict[int, tuple[str, str]] = {}
    model_names = {int(r[0]): r[1] for r in rows}
    for r in s.all(q.export_versions(n), params):
        versions.setdefault(int(r[1]), []).append(r)
        version_ids.append(int(r[0]))
        names[int(r[0])] = (model_names[int(r[1])], str(r[2]))
    tags, metrics, parents = _version_attributes(s, q, version_ids, names)
    aliases: dict[int, list[ExportedAlias]] = {}
    model_tags: dict[int, dict[str, str | None]] = {}
    sql = q.export_aliases(n)
    for mid, alias, number, at in s.all(sql, params) if sql else ():
        aliases.setdefault(int(mid), []).append(
            ExportedAlias(alias, str(number), rows_.timestamp(at))
        )
    sql = q.export_model_tags(n)
    for mid, key, value in s.all(sql, params) if sql else ():
        model_tags.setdefault(int(mid), {})[key] = value
    events = _events_of(s, q, ids)
    out = []
    for mid, name, description, created, updated, last, uid in rows:
        mid = int(mid)
        created = rows_.timestamp(created)
        out.append(
            ExportedModel(
                name,
                description,
                created,
                rows_.timestamp(updated),
                int(last or 0),
                FrozenDict(sorted(model_tags.get(mid, {}).items())),
                tuple(
                    ExportedVersion(
                        str(number),
                        vdesc,
                        path,
                        int(size or 0),
                        checksum,
                        rows_.timestamp(vcreated),
                        FrozenDict(sorted(tags.get(int(vid), {}).items())),
                        FrozenDict(sorted(metrics.get(int(vid), {}).items())),
                        tuple(sorted(parents.get(int(vid), []))),
                    )
                    for vid, _, number, vdesc, path, size, checksum, vcreated in versions.get(
                        mid, []
                    )
                ),
                tuple(sorted(aliases.get(mid, []), key=lambda a: a.alias)),
                model_uid(uid, mid, created),
                tuple(events.get(mid, ())),
            )
        )
    return out


def _events_of(s: Session, q: Queries, ids: Sequence[int]) -> dict[int, list[Event]]:
    """The events of models `ids` (schema 008), oldest first, each with its origin (this
    registry's id and its own id for an event that happened here): one statement. Events
    recorded before the model's row was reused (SQLite, after a delete) are not its own."""
    if q.level < EVENTS or not ids:
        return {}
    row = s.one(q.registry_identity)
    here = str(row[0]) if row else "unknown"
    found: dict[int, list[Event]] = {}
    params = {f"i{j}": i for j, i in enumerate(ids)}
    for r in s.all(q.events.of_models(len(ids)), params):
        e = events_.event(r[1:])
        if e.action == "model.deleted":  # an earlier model of this row: start again
            found[int(r[0])] = []
            continue
        origin = e.origin or (here, e.id)
        found.setdefault(int(r[0]), []).append(dataclasses.replace(e, origin=origin))
    return found


def _version_attributes(
    s: Session, q: Queries, version_ids: Sequence[int], names: dict[int, tuple[str, str]]
) -> tuple[
    dict[int, dict[str, str | None]], dict[int, dict[str, float]], dict[int, list[tuple[str, str]]]
]:
    """(tags, metrics, parents) by version id of `version_ids`, CHUNK versions a statement
    per table; `names` ((model, version) by id) gains the parents in other models."""
    edges: list[tuple[int, int]] = []
    tags: dict[int, dict[str, str | None]] = {}
    metrics: dict[int, dict[str, float]] = {}
    parents: dict[int, list[tuple[str, str]]] = {}
    for start in range(0, len(version_ids), CHUNK):
        chunk = version_ids[start : start + CHUNK]
        by_id = {f"i{j}": i for j, i in enumerate(chunk)}
        for vid, key, value in s.all(q.export_version_tags(len(chunk)), by_id):
            tags.setdefault(int(vid), {})[key] = value
        sql = q.export_metrics(len(chunk))
        for vid, key, value in s.all(sql, by_id) if sql else ():
            metrics.setdefault(int(vid), {})[key] = float(value)
        sql = q.export_edges(len(chunk))
        edges += [(int(c), int(p)) for c, p in (s.all(sql, by_id) if sql else ())]
    # parents outside these models: two lookups by key (a join here would tempt planners
    # without statistics into scanning every version)
    others = sorted({p for _, p in edges if p not in names})
    for start in range(0, len(others), CHUNK):
        chunk = others[start : start + CHUNK]
        by_id = {f"i{j}": i for j, i in enumerate(chunk)}
        for vid, pname, pversion in s.all(q.export_version_names(len(chunk)), by_id):
            names[int(vid)] = (pname, str(pversion))
    for child, parent in edges:
        parents.setdefault(child, []).append(names[parent])
    return tags, metrics, parents


# -- what an import needs ----------------------------------------------------------------------
def features(m: ExportedModel) -> list[tuple[int, str]]:
    """(schema level, feature) of what an import of `m` needs beyond versions and tags."""
    needed = []
    if any(v.metrics for v in m.versions):
        needed.append((METRICS, "metrics"))
    if any(v.parents for v in m.versions):
        needed.append((LINEAGE, "lineage"))
    if m.aliases:
        needed.append((ALIASES, "aliases"))
    if m.tags:
        needed.append((MODEL_TAGS, "model tags"))
    return needed


def check_import(m: ExportedModel) -> None:
    """The input checks of an import: names, texts, numbers, times and references."""
    validate.name(m.name)
    validate.description(m.description)
    for key, value in m.tags.items():
        validate.tag_key(key)
        validate.tag_value(value)
    numbers: set[str] = set()
    for v in m.versions:
        number = validate.import_version_number(v.version, m.name)
        if v.version in numbers:
            raise InvalidInputError(f"model {m.name!r}: version {v.version} twice")
        if number > m.last_version:  # the next save would get a number already taken
            raise InvalidInputError(
                f"model {m.name!r}: version {v.version} is above its counter {m.last_version}"
            )
        numbers.add(v.version)
        validate.description(v.description)
        validate.storage_path(v.storage_path)
        for key, value in v.tags.items():
            validate.tag_key(key)
            validate.tag_value(value)
        validate.metrics(v.metrics)
        for pname, _ in v.parents:
            validate.name(pname)
        for t in (v.created_at,):
            stamp(t)
    for a in m.aliases:
        validate.alias(a.alias)
        if a.version not in numbers:
            raise InvalidInputError(
                f"alias {a.alias!r} of {m.name!r} points to version {a.version}, not in the copy"
            )
        stamp(a.updated_at)
    stamp(m.created_at)
    stamp(m.updated_at)
    if m.uid is not None and not (isinstance(m.uid, str) and 0 < len(m.uid) <= 64):
        raise InvalidInputError(f"model {m.name!r}: uid is a string of 1 to 64 characters")
