"""The database side of moving a registry (SPEC section 8): whole models read in a snapshot,
a model compared with what a database has, written with its own numbers, times and counter,
and its lineage edges; the input checks of an import.

`SQLMetadataBackend.export_models` and `import_model` are short doors into this module: they
open the snapshot or the transaction (`registry_core.transactions`) and call `export` or
`compare` and `write_model` on its session. `registry_core.transfer` (copy_registry) drives
both through the backend contract. The statements are in `registry_core.sql`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from registry_core import rows as rows_
from registry_core import validate
from registry_core.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from registry_core.records import (
    ExportedAlias,
    ExportedModel,
    ExportedVersion,
    FrozenDict,
    ImportResult,
)
from registry_core.rows import stamp
from registry_core.session import Session
from registry_core.sql import ALIASES, CHUNK, EXPORT_BATCH, LINEAGE, METRICS, MODEL_TAGS, Queries

#: rows per multi-row INSERT of an import: versions take 7 parameters a row, the others 2-4,
#: which keeps every statement under 3,000 parameters (SQLite's limit is 32,766)
IMPORT_VERSION_ROWS, IMPORT_ROWS = 400, 700

#: what a file-putting callback of import_model takes: the versions about to be written
BeforeWrite = Callable[[Sequence[ExportedVersion]], None]


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
    """Models (rows of Queries.EXPORT_MODEL) whole: one statement per table for all."""
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
    out = []
    for mid, name, description, created, updated, last in rows:
        mid = int(mid)
        out.append(
            ExportedModel(
                name,
                description,
                rows_.timestamp(created),
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
            )
        )
    return out


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


# -- writing ---------------------------------------------------------------------------------
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


def compare(
    s: Session, q: Queries, m: ExportedModel
) -> tuple[Any, ExportedModel | None, tuple[ExportedVersion, ...]]:
    """(the model's row here or None, the model as this database has it or None, the
    versions of `m` it lacks); AlreadyExistsError if a version differs, or the model here
    is another of the same name."""
    row = s.one(q.export_models_named(1), {"n0": m.name})
    have = whole_models(s, q, [row])[0] if row else None
    if have is not None and have.created_at != m.created_at:
        raise AlreadyExistsError(
            f"model {m.name!r} exists here with another creation time "
            f"({have.created_at.isoformat()}, the copy's {m.created_at.isoformat()}): "
            f"another model of the same name; nothing of {m.name!r} was written"
        )
    here = {v.version: v for v in have.versions} if have else {}
    new: list[ExportedVersion] = []
    for v in m.versions:
        h = here.get(v.version)
        if h is None:
            new.append(v)
            continue
        differs = _differences(h, v)
        if differs:
            raise AlreadyExistsError(
                f"version {v.version} of {m.name!r} exists here and differs from the "
                f"copy ({', '.join(differs)}); nothing of {m.name!r} was written"
            )
    return row, have, tuple(new)


def write_model(
    s: Session,
    q: Queries,
    m: ExportedModel,
    before_write: BeforeWrite | None,
    placed: set[str],
) -> ImportResult:
    """The write of import_model, comparing again under the write lock; files of
    versions that went missing here since `placed` was put are put now."""
    row, have, new = compare(s, q, m)
    here = {v.version: v for v in have.versions} if have else {}
    edges_here = {(v.version, p) for v in here.values() for p in v.parents}
    edges = [(v.version, p) for v in m.versions for p in v.parents]
    edges = [e for e in edges if e not in edges_here]
    aliases_here = {a.alias: a for a in have.aliases} if have else {}
    moved = [a for a in m.aliases if aliases_here.get(a.alias) != a]
    unplaced = tuple(v for v in new if v.version not in placed)
    if before_write is not None and unplaced:  # (rare: changed here since the first look)
        before_write(unplaced)

    model_id, changed = _write_model_row(s, q, m, row, have)
    changed = changed or bool(new or moved)
    ids: dict[str, int] = {}
    if new:
        _write_versions(s, model_id, new)
    if new or edges or moved:
        ids = {str(n): int(i) for i, n in s.all(q.version_ids, {"model_id": model_id})}
    s.insert_rows(
        "mr_model_tags",
        ("model_version_id", "tag_key", "tag_value"),
        [(ids[v.version], k, value) for v in new for k, value in v.tags.items()],
        per=IMPORT_ROWS,
    )
    s.insert_rows(
        "mr_model_metrics",
        ("model_version_id", "metric_name", "metric_value"),
        [(ids[v.version], k, value) for v in new for k, value in v.metrics.items()],
        per=IMPORT_ROWS,
    )
    written, missing = _write_edges(s, q, m.name, ids, edges)
    if moved:
        _write_aliases(
            s, q, model_id, moved, [a.alias for a in moved if a.alias in aliases_here], ids
        )
    return ImportResult(
        m.name,
        row is None,
        tuple(v.version for v in new),
        len(m.versions) - len(new),
        written,
        tuple(missing),
        changed or written > 0,
    )


def _write_model_row(
    s: Session, q: Queries, m: ExportedModel, row: Any, have: ExportedModel | None
) -> tuple[int, bool]:
    """Inserts the model's row, or brings its fields, counter and tags to the copy's (the
    counter never goes down); returns (its id, whether anything changed)."""
    changed = False
    last = max(m.last_version, have.last_version) if have else m.last_version
    if row is None:
        model_id = s.insert(
            q.import_model_row,
            {
                "name": m.name,
                "description": m.description,
                "created_at": stamp(m.created_at),
                "updated_at": stamp(m.updated_at),
                "last_version": last,
            },
        )
        changed = True
    else:
        model_id = int(row[0])
        assert have is not None
        if (have.description, have.updated_at, have.last_version) != (
            m.description,
            m.updated_at,
            last,
        ):
            s.rowcount(
                q.update_imported_model,
                {
                    "model_id": model_id,
                    "description": m.description,
                    "updated_at": stamp(m.updated_at),
                    "last_version": last,
                },
            )
            changed = True
    if (have is None and m.tags) or (have is not None and have.tags != m.tags):
        if have is not None and have.tags:
            s.rowcount(q.delete_model_tags, {"model_id": model_id})
        s.insert_rows(
            "mr_registered_model_tags",
            ("model_id", "tag_key", "tag_value"),
            [(model_id, k, v) for k, v in m.tags.items()],
            per=IMPORT_ROWS,
        )
        changed = True
    return model_id, changed


def _write_versions(s: Session, model_id: int, new: Sequence[ExportedVersion]) -> None:
    """The rows of `new` versions of model `model_id`, IMPORT_VERSION_ROWS a statement."""
    for start in range(0, len(new), IMPORT_VERSION_ROWS):
        chunk = new[start : start + IMPORT_VERSION_ROWS]
        params: dict[str, Any] = {"model_id": model_id}
        for i, v in enumerate(chunk):
            params.update(
                {
                    f"v{i}": v.version,
                    f"d{i}": v.description,
                    f"p{i}": v.storage_path,
                    f"s{i}": v.file_size_bytes,
                    f"c{i}": v.checksum,
                    f"t{i}": stamp(v.created_at),
                }
            )
        s.rowcount(Queries.import_versions(len(chunk)), params)


def _write_aliases(
    s: Session,
    q: Queries,
    model_id: int,
    moved: Sequence[ExportedAlias],
    known: Sequence[str],
    ids: dict[str, int],
) -> None:
    """The `moved` aliases as the copy has them: the `known` ones (here already) deleted
    first, then all written."""
    for start in range(0, len(known), IMPORT_ROWS):
        chunk_names = known[start : start + IMPORT_ROWS]
        params: dict[str, Any] = {"model_id": model_id}
        params.update({f"n{i}": a for i, a in enumerate(chunk_names)})
        s.rowcount(Queries.delete_aliases(len(chunk_names)), params)
    s.insert_rows(
        "mr_model_aliases",
        ("model_id", "alias", "model_version_id", "updated_at"),
        [(model_id, a.alias, ids[a.version], stamp(a.updated_at)) for a in moved],
        per=IMPORT_ROWS,
    )


def _write_edges(
    s: Session,
    q: Queries,
    name: str,
    ids: Mapping[str, int],
    edges: Sequence[tuple[str, tuple[str, str]]],
) -> tuple[int, list[tuple[str, str, str]]]:
    """Writes lineage edges (child version of model `name`, (parent model, version))
    whose parent is in this database; returns how many, and the others."""
    if not edges:
        return 0, []
    found: dict[tuple[str, str], int] = {(name, v): i for v, i in ids.items()}
    others = sorted({p for _, p in edges if p[0] != name})
    for start in range(0, len(others), IMPORT_ROWS):
        chunk = others[start : start + IMPORT_ROWS]
        params: dict[str, Any] = {}
        for i, (pname, pversion) in enumerate(chunk):
            params[f"pn{i}"], params[f"pv{i}"] = pname, pversion
        for pname, pversion, pid in s.all(q.version_ids_of(len(chunk)), params):
            found[(pname, str(pversion))] = int(pid)
    rows: list[tuple[Any, ...]] = []
    missing: list[tuple[str, str, str]] = []
    for child, parent in edges:
        pid = found.get(parent)
        if pid is None:
            missing.append((child, parent[0], parent[1]))
        else:
            rows.append((ids[child], pid))
    s.insert_rows(
        "mr_model_lineage", ("child_version_id", "parent_version_id"), rows, per=IMPORT_ROWS
    )
    return len(rows), missing


def _differences(here: ExportedVersion, copy: ExportedVersion) -> list[str]:
    """The fields in which two records of one version differ (lineage aside: missing edges
    are added, and an edge whose parent was deleted in the source stays here)."""
    fields = ("description", "storage_path", "file_size_bytes", "checksum", "created_at")
    out = [f for f in fields if getattr(here, f) != getattr(copy, f)]
    if dict(here.tags) != dict(copy.tags):
        out.append("tags")
    if dict(here.metrics) != dict(copy.metrics):
        out.append("metrics")
    return out


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
