"""The writing side of moving a registry (SPEC section 8, issue 17): which model of this
database an exported model is, what differs, and the writes that bring it to the copy's.

The source is the truth for what can change: a model's name (a rename), description, tags,
updated_at and counter (which never goes down), its aliases (set, moved and removed), and
each version's description, tags and metrics. A conflict is only what never changes for a
given version, its file (storage path, size, checksum) and creation time, or another model
under the same name. Nothing is ever deleted but aliases and the tags and metrics being
replaced: versions and lineage edges the copy lacks stay (a backup keeps what it had).

Which model it is: the one with the copy's identity (`ExportedModel.uid`, stored from
schema 007 on); else the one of the same name, if it has no other identity stored and the
same creation time; else (a model copied before identities, renamed in the source since)
the one, of the same creation time and without an identity, whose versions point at the
copy's files. No two models of one database point at one file: a copy that would make a
second model do so is refused.

`plan` reads and compares (it writes nothing: a dry run stops there); `write` applies a plan
inside the caller's transaction; `SQLMetadataBackend.import_model` runs both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from registry_core import events as events_
from registry_core import rows as rows_
from registry_core.errors import AlreadyExistsError
from registry_core.records import ExportedAlias, ExportedModel, ExportedVersion, ImportResult
from registry_core.rows import stamp
from registry_core.session import Session
from registry_core.sql import CHUNK, EVENTS, IDENTITIES, Queries
from registry_core.sqltransfer import ROW_CREATED, ROW_ID, ROW_NAME, ROW_UID, whole_models

#: rows per multi-row INSERT of an import: versions take 7 parameters a row, the others 2-4,
#: which keeps every statement under 3,000 parameters (SQLite's limit is 32,766)
IMPORT_VERSION_ROWS, IMPORT_ROWS = 400, 700

#: what a file-putting callback of import_model takes: the versions about to be written
BeforeWrite = Callable[[Sequence[ExportedVersion]], None]

#: a lineage edge to write: (child version of the model, (parent model, parent version))
Edge = tuple[str, tuple[str, str]]

#: the fields of a version that never change; the others follow the source
IMMUTABLE = ("storage_path", "file_size_bytes", "checksum", "created_at")


@dataclass(frozen=True)
class Plan:
    """What an import of `model` writes here: everything `write` needs, read once."""

    model: ExportedModel
    #: the model's row here (`Queries._export_model` columns), None: it is new here
    row: tuple[Any, ...] | None
    #: the model as this database has it (None: new)
    have: ExportedModel | None
    #: the versions of the copy this database lacks
    new: tuple[ExportedVersion, ...]
    #: the versions here whose description, tags or metrics differ from the copy's, and
    #: the numbers of those among them whose tags or metrics differ (they are rewritten)
    updated: tuple[ExportedVersion, ...]
    retagged: frozenset[str]
    #: aliases to write (new or moved) and aliases to remove (the copy has them not)
    aliases: tuple[ExportedAlias, ...]
    removed_aliases: tuple[str, ...]
    #: lineage edges the copy has and this database lacks
    edges: tuple[Edge, ...]
    #: the model's row differs (name, description, updated_at, counter, identity)
    fields: bool
    #: the model's own tags differ
    tags: bool

    @property
    def renamed_from(self) -> str | None:
        name = None if self.row is None else self.row[ROW_NAME]
        return name if name is not None and name != self.model.name else None

    @property
    def changes(self) -> bool:
        """Whether the write changes anything but edges (a new model always does)."""
        return (
            self.row is None
            or bool(self.new or self.updated or self.aliases or self.removed_aliases)
            or (self.fields or self.tags)
        )

    def result(
        self, edges_written: int, edges_missing: Sequence[tuple[str, str, str]]
    ) -> ImportResult:
        m, have = self.model, self.have
        numbers = {v.version for v in m.versions}
        return ImportResult(
            m.name,
            self.row is None,
            tuple(v.version for v in self.new),
            len(m.versions) - len(self.new) - len(self.updated),
            edges_written,
            tuple(edges_missing),
            self.changes or edges_written > 0,
            self.renamed_from,
            tuple(v.version for v in self.updated),
            len(self.aliases) + len(self.removed_aliases),
            sum(1 for v in have.versions if v.version not in numbers) if have else 0,
        )


# -- reading and comparing ---------------------------------------------------------------
def plan(s: Session, q: Queries, m: ExportedModel) -> Plan:
    """What an import of `m` would write here; AlreadyExistsError (naming the model and
    what to do) for another model under its name, a version that differs in what never
    changes, or files another model here points at. Writes nothing."""
    row = _find(s, q, m)
    have = whole_models(s, q, [row])[0] if row is not None else None
    here = {v.version: v for v in have.versions} if have else {}
    new: list[ExportedVersion] = []
    updated: list[ExportedVersion] = []
    retagged: set[str] = set()
    for v in m.versions:
        h = here.get(v.version)
        if h is None:
            new.append(v)
            continue
        differs = [f for f in IMMUTABLE if getattr(h, f) != getattr(v, f)]
        if differs:
            raise AlreadyExistsError(
                f"version {v.version} of {m.name!r} exists here and differs from the copy in "
                f"what never changes for a version ({', '.join(differs)}): another file under "
                f"the same number; nothing of {m.name!r} was written"
            )
        attributes = dict(h.tags) != dict(v.tags) or dict(h.metrics) != dict(v.metrics)
        if attributes:
            retagged.add(v.version)
        if attributes or h.description != v.description:
            updated.append(v)
    if new and row is not None:  # (a new model was checked whole by _find)
        _check_files(s, q, m, new, int(row[ROW_ID]))
    edges_here = {(v.version, p) for v in here.values() for p in v.parents}
    aliases_here = {a.alias: a for a in have.aliases} if have else {}
    copy_aliases = {a.alias for a in m.aliases}
    return Plan(
        m,
        row,
        have,
        tuple(new),
        tuple(updated),
        frozenset(retagged),
        tuple(a for a in m.aliases if aliases_here.get(a.alias) != a),
        tuple(sorted(a for a in aliases_here if a not in copy_aliases)),
        tuple(
            (v.version, p)
            for v in m.versions
            for p in v.parents
            if (v.version, p) not in edges_here
        ),
        _fields_differ(q, m, row, have),
        have is not None and dict(have.tags) != dict(m.tags),
    )


def _find(s: Session, q: Queries, m: ExportedModel) -> tuple[Any, ...] | None:
    """The model's row here (see the module's docstring), or None if it is new here."""
    by_name = s.one(q.export_models_named(1), {"n0": m.name})
    by_uid = None
    if m.uid is not None and q.level >= IDENTITIES:
        by_uid = s.one(q.model_by_uid, {"uid": m.uid})
    if by_uid is not None:
        if by_name is not None and by_name[ROW_ID] != by_uid[ROW_ID]:
            raise AlreadyExistsError(
                f"model {m.name!r} of the copy is {by_uid[ROW_NAME]!r} here (renamed in the "
                f"source since the last copy), and the name {m.name!r} here belongs to another "
                f"model: rename or delete that one here (or rename {m.name!r} in the source), "
                f"then copy again; nothing of {m.name!r} was written"
            )
        return by_uid
    if by_name is not None:
        if _same(by_name, m):
            return by_name
        stored = by_name[ROW_UID]
        raise AlreadyExistsError(
            f"model {m.name!r} exists here and is another model (created "
            f"{rows_.timestamp(by_name[ROW_CREATED]).isoformat()}, the copy's "
            f"{m.created_at.isoformat()}{'; another identity' if stored else ''}): rename or "
            f"delete it here, or copy into another database; nothing of {m.name!r} was written"
        )
    owners = _owners(s, q, m.versions, 0)
    if not owners:
        return None
    if len(owners) == 1:
        # a model copied before identities were kept and renamed since; or this very model,
        # committed by a copy running beside this one after the lookups above (each
        # statement of a READ COMMITTED transaction sees what has committed by its start)
        row = s.one(q.model_by_id, {"model_id": next(iter(owners))})
        if row is not None and _same(row, m):
            return row
    _refuse_shared(m, owners)


def _same(row: tuple[Any, ...], m: ExportedModel) -> bool:
    """Whether the model of `row` is `m`: the same identity where both have one stored,
    else the same creation time (models copied before identities were kept)."""
    stored = row[ROW_UID]
    if stored is not None and m.uid is not None:
        return bool(stored == m.uid)
    return rows_.timestamp(row[ROW_CREATED]) == m.created_at


def _owners(
    s: Session, q: Queries, versions: Sequence[ExportedVersion], model_id: int
) -> dict[int, tuple[str, str]]:
    """The models here other than `model_id` whose versions point at the files of
    `versions`: model id -> (its name, one such path)."""
    paths = sorted({v.storage_path for v in versions})
    owners: dict[int, tuple[str, str]] = {}
    for start in range(0, len(paths), CHUNK):
        chunk = paths[start : start + CHUNK]
        params: dict[str, Any] = {"model_id": model_id}
        params.update({f"p{i}": p for i, p in enumerate(chunk)})
        for path, owner, name in s.all(Queries.path_owners(len(chunk)), params):
            owners.setdefault(int(owner), (name, path))
    return owners


def _check_files(
    s: Session, q: Queries, m: ExportedModel, new: Sequence[ExportedVersion], model_id: int
) -> None:
    """AlreadyExistsError if another model here points at a file of the `new` versions."""
    owners = _owners(s, q, new, model_id)
    if owners:
        _refuse_shared(m, owners)


def _refuse_shared(m: ExportedModel, owners: Mapping[int, tuple[str, str]]) -> NoReturn:
    name, path = sorted(owners.values())[0]
    raise AlreadyExistsError(
        f"versions of {m.name!r} would point at files that {name!r} here points at ({path}): "
        "two models must not share a file (deleting one would delete the other's). If "
        f"{name!r} is {m.name!r} under an earlier name, rename it here to {m.name!r} and copy "
        f"again; nothing of {m.name!r} was written"
    )


def _fields_differ(
    q: Queries, m: ExportedModel, row: tuple[Any, ...] | None, have: ExportedModel | None
) -> bool:
    if row is None or have is None:
        return False
    adopt = q.level >= IDENTITIES and m.uid is not None and row[ROW_UID] != m.uid
    last = max(m.last_version, have.last_version)
    return adopt or (have.name, have.description, have.updated_at, have.last_version) != (
        m.name,
        m.description,
        m.updated_at,
        last,
    )


# -- writing ---------------------------------------------------------------------------------
def write(
    s: Session, q: Queries, p: Plan, before_write: BeforeWrite | None, placed: set[str]
) -> ImportResult:
    """Applies a plan made in this transaction; the files of new versions that were not put
    before it (`placed`, by number) are put first."""
    m = p.model
    unplaced = tuple(v for v in p.new if v.version not in placed)
    if before_write is not None and unplaced:  # (rare: changed here since the first look)
        before_write(unplaced)
    model_id = _write_model_row(s, q, p)
    ids: dict[str, int] = {}
    if p.new:
        _write_versions(s, model_id, p.new)
    if p.new or p.edges or p.aliases or p.updated:
        ids = {str(n): int(i) for i, n in s.all(q.version_ids, {"model_id": model_id})}
    if p.updated:
        _update_versions(s, q, p, ids)
    fresh = [*p.new, *(v for v in p.updated if v.version in p.retagged)]
    s.insert_rows(
        "mr_model_tags",
        ("model_version_id", "tag_key", "tag_value"),
        [(ids[v.version], k, value) for v in fresh for k, value in v.tags.items()],
        per=IMPORT_ROWS,
    )
    s.insert_rows(
        "mr_model_metrics",
        ("model_version_id", "metric_name", "metric_value"),
        [(ids[v.version], k, value) for v in fresh for k, value in v.metrics.items()],
        per=IMPORT_ROWS,
    )
    found, missing = resolve_edges(s, q, m.name, p.edges, ids)
    s.insert_rows(
        "mr_model_lineage", ("child_version_id", "parent_version_id"), found, per=IMPORT_ROWS
    )
    if p.aliases or p.removed_aliases:
        _write_aliases(s, p, model_id, ids)
    written = _write_events(s, q, m, model_id)
    result = p.result(len(found), missing)
    return dataclasses.replace(
        result, events_written=written, changed=result.changed or written > 0
    )


#: events per INSERT of an import (9 parameters each)
IMPORT_EVENTS = 200


def _write_events(s: Session, q: Queries, m: ExportedModel, model_id: int) -> int:
    """Writes the copy's events this database lacks (known by their origin), in their
    order, numbered in this database's feed; events that first happened here are skipped.
    Returns how many it wrote."""
    if q.level < EVENTS or not m.events:
        return 0
    row = s.one(q.registry_identity)
    here = str(row[0]) if row else None
    have: set[tuple[str, int]] = set()
    by_origin: dict[str, list[int]] = {}
    for e in m.events:
        if e.origin is not None:
            by_origin.setdefault(e.origin[0], []).append(e.origin[1])
    for origin, numbers in by_origin.items():
        params = {"origin": origin, "low": min(numbers), "high": max(numbers)}
        have.update((origin, int(r[0])) for r in s.all(q.events.origins_of, params))
    todo = [
        events_.NewEvent(
            e.action,
            model_id,
            e.name,
            e.version,
            e.detail,
            at=stamp(e.at),
            actor=e.actor,
            origin=e.origin,
        )
        for e in m.events
        if e.origin is not None and e.origin not in have and e.origin[0] != here
    ]
    for start in range(0, len(todo), IMPORT_EVENTS):
        chunk = todo[start : start + IMPORT_EVENTS]
        s.batch(q.events.record(len(chunk)), events_.params(chunk, "unknown", ""))
    return len(todo)


def dry_result(s: Session, q: Queries, p: Plan) -> ImportResult:
    """What `write` would report, found without writing (edges whose parent is here, or a
    version of this model the write would add, count as written)."""
    m = p.model
    here = {v.version for v in p.have.versions} if p.have else set()
    ids = {v: 0 for v in here | {v.version for v in p.new}}
    found, missing = resolve_edges(s, q, m.name, p.edges, ids)
    return p.result(len(found), missing)


def _write_model_row(s: Session, q: Queries, p: Plan) -> int:
    """Inserts the model's row, or brings its name, fields, identity, counter and tags to
    the copy's; returns its id."""
    m, have = p.model, p.have
    last = max(m.last_version, have.last_version) if have else m.last_version
    kept = None if p.row is None else p.row[ROW_UID]  # a copy without identity keeps ours
    fields = {
        "name": m.name,
        "description": m.description,
        "updated_at": stamp(m.updated_at),
        "last_version": last,
        "uid": m.uid if m.uid is not None else kept,
    }
    if p.row is None:
        model_id = s.insert(q.import_model_row, {**fields, "created_at": stamp(m.created_at)})
    else:
        model_id = int(p.row[ROW_ID])
        if p.fields:
            s.rowcount(q.update_imported_model, {**fields, "model_id": model_id})
    if (have is None and m.tags) or p.tags:
        if have is not None and have.tags:
            s.rowcount(q.delete_model_tags, {"model_id": model_id})
        s.insert_rows(
            "mr_registered_model_tags",
            ("model_id", "tag_key", "tag_value"),
            [(model_id, k, v) for k, v in m.tags.items()],
            per=IMPORT_ROWS,
        )
    return model_id


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


def _update_versions(s: Session, q: Queries, p: Plan, ids: Mapping[str, int]) -> None:
    """The copy's descriptions on the updated versions, one statement each where it
    differs, and their tags and metrics deleted (the caller inserts the copy's)."""
    assert p.have is not None
    here = {v.version: v for v in p.have.versions}
    for v in p.updated:
        if here[v.version].description != v.description:
            s.rowcount(
                q.update_version, {"description": v.description, "version_id": ids[v.version]}
            )
    replaced = [ids[v.version] for v in p.updated if v.version in p.retagged]
    for table in ("mr_model_tags", "mr_model_metrics"):
        for start in range(0, len(replaced), IMPORT_ROWS):
            chunk = replaced[start : start + IMPORT_ROWS]
            params = {f"i{i}": vid for i, vid in enumerate(chunk)}
            s.rowcount(Queries.delete_version_rows(table, len(chunk)), params)


def _write_aliases(s: Session, p: Plan, model_id: int, ids: Mapping[str, int]) -> None:
    """The aliases as the copy has them: those here that move or go deleted first, then the
    new and moved ones written."""
    here = {a.alias for a in p.have.aliases} if p.have else set()
    gone = [*p.removed_aliases, *(a.alias for a in p.aliases if a.alias in here)]
    for start in range(0, len(gone), IMPORT_ROWS):
        chunk = gone[start : start + IMPORT_ROWS]
        params: dict[str, Any] = {"model_id": model_id}
        params.update({f"n{i}": a for i, a in enumerate(chunk)})
        s.rowcount(Queries.delete_aliases(len(chunk)), params)
    s.insert_rows(
        "mr_model_aliases",
        ("model_id", "alias", "model_version_id", "updated_at"),
        [(model_id, a.alias, ids[a.version], stamp(a.updated_at)) for a in p.aliases],
        per=IMPORT_ROWS,
    )


def resolve_edges(
    s: Session, q: Queries, name: str, edges: Sequence[Edge], ids: Mapping[str, int]
) -> tuple[list[tuple[int, int]], list[tuple[str, str, str]]]:
    """(child id, parent id) of the lineage edges (child version of model `name`, (parent
    model, version)) whose parent is in this database or in `ids` (this model's versions by
    number), and the others as (child, parent model, parent version)."""
    if not edges:
        return [], []
    found: dict[tuple[str, str], int] = {(name, v): i for v, i in ids.items()}
    others = sorted({p for _, p in edges if p[0] != name})
    for start in range(0, len(others), IMPORT_ROWS):
        chunk = others[start : start + IMPORT_ROWS]
        params: dict[str, Any] = {}
        for i, (pname, pversion) in enumerate(chunk):
            params[f"pn{i}"], params[f"pv{i}"] = pname, pversion
        for pname, pversion, pid in s.all(q.version_ids_of(len(chunk)), params):
            found[(pname, str(pversion))] = int(pid)
    rows: list[tuple[int, int]] = []
    missing: list[tuple[str, str, str]] = []
    for child, parent in edges:
        pid = found.get(parent)
        if pid is None:
            missing.append((child, parent[0], parent[1]))
        else:
            rows.append((ids[child], pid))
    return rows, missing
