"""The public writes of the shared SQL layer (SPEC sections 3, 4 and 10): each is one
transaction that ends with its event (`_log`, the last statements before COMMIT), on top of the
helpers every read and write shares. `SQLMetadataBackend` (sqlbackend.py) adds the reads,
searches, the copy's doors and the statistics."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from registry_core import events as events_
from registry_core import rows as rows_
from registry_core import validate
from registry_core.errors import (
    AlreadyExistsError,
    NotFoundError,
)
from registry_core.eventlog import EventLog
from registry_core.events import NewEvent, changed
from registry_core.records import (
    Model,
    ModelVersion,
)
from registry_core.save import Save
from registry_core.session import Session, utc_now
from registry_core.sql import (
    ALIASES,
    CHUNK,
    EVENTS,
    LINEAGE,
    METRICS,
    MODEL_TAGS,
)

T = TypeVar("T")


class Writes(EventLog):
    """Saves, updates, renames, deletes, tags and aliases: one transaction each, with its
    event; and the helpers that open reads and writes and turn rows into records."""

    #: who makes this backend's changes, as its events record (connect(actor=...))
    actor: str

    def _write(self, work: Callable[[Session], T]) -> T:
        """A public write in one transaction. A backend whose queries predate the event log
        looks for it first (another process may have migrated), so its changes are not left
        without events once the log exists."""
        self._see_event_log()
        return self._run(work)

    def _see_event_log(self) -> None:
        """Before a write of a backend whose queries predate schema 008: if another process
        has applied 008 meanwhile, take up its queries, so that the write records its event
        (one status read per write, only while the queries are older than 008)."""
        if self.queries.level < EVENTS and self.migration_status().level >= EVENTS:
            self._queries = None

    def _log(self, s: Session, *new: NewEvent) -> None:
        """Records the events of the change `s` is making: the last statements before
        COMMIT (the feed's counter; see registry_core.events). Nothing before schema 008."""
        q = self.queries
        if q.level >= EVENTS and new:
            s.batch(q.events.record(len(new)), events_.params(new, self.actor, utc_now()))

    def _read(self, work: Callable[[Session], T]) -> T:
        """A read: one statement in autocommit, or on dialects whose metrics come from a
        second statement (SQLite: in-process, no round trip) one read transaction."""
        return self._run(work, write=False, transaction=not self.dialect.exact_json_doubles)

    def _versions(self, s: Session, rows: list[tuple[Any, ...]]) -> list[ModelVersion]:
        """Version rows as records; reads the metrics where the JSON column cannot carry
        them exactly (one statement per CHUNK versions)."""
        if self.dialect.exact_json_doubles or not rows or self.queries.level < METRICS:
            return [rows_.version(r) for r in rows]
        exact: dict[int, dict[str, float]] = {}
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i : i + CHUNK]
            params = {f"i{j}": r[rows_.ID] for j, r in enumerate(chunk)}
            for vid, key, value in s.all(self.queries.metrics_of_ids(len(chunk)), params):
                exact.setdefault(vid, {})[key] = float(value)
        return [rows_.version(r, exact) for r in rows]

    def _missing(self, s: Session, name: str, what: str) -> NotFoundError:
        """NotFoundError naming the model, or `what` of an existing model."""
        if s.one(self.queries.model_exists, {"name": name}) is None:
            return NotFoundError(f"no model named {name!r}")
        return NotFoundError(f"model {name!r} has no {what}")

    def _version_row(self, s: Session, name: str, version: str) -> tuple[Any, ...]:
        """VERSION_COLUMNS of one version, for the writes that need its id."""
        row = s.one(self.queries.version_row, {"name": name, "version": version})
        if row is None:
            raise self._missing(s, name, f"version {version}")
        return row

    def update_version(self, name: str, version: str, *, description: str | None) -> ModelVersion:
        name, number = validate.name(name), validate.version(version)
        description = validate.description(description)

        def work(s: Session) -> ModelVersion:
            row = s.one(self.queries.get_version, {"name": name, "version": number})
            if row is None:
                raise self._missing(s, name, f"version {number}")
            before = row[2]
            s.rowcount(
                self.queries.update_version,
                {"description": description, "version_id": row[rows_.ID]},
            )
            s.rowcount(self.queries.touch_model, {"name": name, "now": utc_now()})
            self._log(
                s,
                NewEvent(
                    "version.updated",
                    row[rows_.VERSION_MODEL_ID],
                    name,
                    number,
                    {"description": changed(before, description)},
                ),
            )
            version = self._versions(s, [row])[0]
            return dataclasses.replace(version, description=description)

        return self._write(work)

    def update_model(self, name: str, *, description: str | None) -> Model:
        name = validate.name(name)
        description = validate.description(description)

        def work(s: Session) -> Model:
            row = s.one(self.queries.get_model, {"name": name})
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            now = utc_now()
            s.rowcount(self.queries.update_model, {**params, "now": now})
            detail = {"description": changed(row[1], description)}
            self._log(s, NewEvent("model.updated", row[-1], name, None, detail))
            return dataclasses.replace(
                rows_.model(row), description=description, updated_at=rows_.timestamp(now)
            )

        params = {"name": name, "description": description}
        return self._write(work)

    def delete_model(self, name: str) -> list[str]:
        name = validate.name(name)

        def work(s: Session) -> list[str]:
            row = s.one(self.queries.get_model, {"name": name})
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            paths = [r[0] for r in s.all(self.queries.model_storage_paths, {"name": name})]
            s.rowcount(self.queries.delete_model, {"name": name})
            detail = {"description": changed(row[1], None), "versions": len(paths)}
            self._log(s, NewEvent("model.deleted", row[-1], name, None, detail))
            return paths

        return self._write(work)

    def rename_model(self, name: str, new_name: str) -> Model:
        name, new_name = validate.name(name), validate.name(new_name)

        def work(s: Session) -> Model:
            params = {"name": name, "new_name": new_name, "now": utc_now()}
            if name != new_name and s.one(self.queries.model_exists, {"name": new_name}):
                raise AlreadyExistsError(f"a model named {new_name!r} exists already")
            if s.rowcount(self.queries.rename_model, params) == 0:
                raise NotFoundError(f"no model named {name!r}")
            row = s.one(self.queries.get_model, {"name": new_name}) or ()
            detail = {"name": changed(name, new_name)}
            self._log(s, NewEvent("model.renamed", row[-1], new_name, None, detail))
            return rows_.model(row)

        return self._write(work)

    def set_model_tag(self, name: str, key: str, value: str | None) -> None:
        name, key, value = validate.name(name), validate.tag_key(key), validate.tag_value(value)
        self._require(MODEL_TAGS, "model tags")

        def work(s: Session) -> None:
            row = s.one(self.queries.model_exists, {"name": name})
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            params = {"model_id": row[0], "tag_key": key, "tag_value": value}
            before = s.one(self.queries.model_tag_value, params)
            s.rowcount(self.queries.upsert_model_tag, params)
            detail = {"key": key, **changed(None if before is None else before[0], value)}
            self._log(s, NewEvent("model_tag.set", row[0], name, None, detail))

        self._write(work)

    def delete_model_tag(self, name: str, key: str) -> None:
        name, key = validate.name(name), validate.tag_key(key)
        self._require(MODEL_TAGS, "model tags")

        def work(s: Session) -> None:
            row = s.one(self.queries.model_exists, {"name": name})
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            params = {"model_id": row[0], "tag_key": key}
            before = s.one(self.queries.model_tag_value, params)
            if before is None:
                raise NotFoundError(f"model {name!r} has no tag {key!r}")
            s.rowcount(self.queries.delete_model_tag, {"name": name, "key": key})
            detail = {"key": key, **changed(before[0], None)}
            self._log(s, NewEvent("model_tag.deleted", row[0], name, None, detail))

        self._write(work)

    def create_version(
        self,
        name: str,
        *,
        description: str | None,
        tags: Mapping[str, str | None],
        file_size_bytes: int,
        checksum: str,
        storage_path: str,
        metrics: Mapping[str, float] | None = None,
        parents: Sequence[tuple[str, str]] = (),
    ) -> ModelVersion:
        save = Save(
            name,
            description=description,
            tags=tags,
            file_size_bytes=file_size_bytes,
            checksum=checksum,
            storage_path=storage_path,
            metrics=metrics,
            parents=parents,
            actor=self.actor,
        )
        self._see_event_log()
        if save.metrics:
            self._require(METRICS, "metrics")
        if save.parents:
            self._require(LINEAGE, "parents (lineage)")

        def settle(s: Session) -> ModelVersion:
            return save.settle(s, self.queries)

        if self.dialect.writable_ctes and not save.parents:
            saved = self._run(
                lambda s: save.one_statement(s, self.queries), transaction=False, settle=settle
            )
            if saved is not None:
                return saved
        return self._run(
            lambda s: save.in_a_transaction(s, self.queries, self.dialect), settle=settle
        )

    def delete_version(self, name: str, version: str) -> ModelVersion:
        name = validate.name(name)
        number = validate.version(version)

        def work(s: Session) -> ModelVersion:
            q = self.queries
            row = s.one(q.get_version, {"name": name, "version": number})
            if row is None:
                raise self._missing(s, name, f"version {number}")
            removed = self._versions(s, [row])[0]
            s.rowcount(q.delete_version, {"version_id": row[rows_.ID]})  # cascades
            s.rowcount(q.touch_model, {"name": name, "now": utc_now()})
            detail = {
                "description": removed.description,
                "tags": dict(removed.tags),
                "aliases": list(removed.aliases),  # they went with it
                "size": removed.file_size_bytes,
                "checksum": removed.checksum,
                "storage_path": removed.storage_path,
            }
            model_id = row[rows_.VERSION_MODEL_ID]
            self._log(s, NewEvent("version.deleted", model_id, name, number, detail))
            return removed

        return self._write(work)

    def set_tag(self, name: str, version: str, key: str, value: str | None) -> None:
        name, number = validate.name(name), validate.version(version)
        key, value = validate.tag_key(key), validate.tag_value(value)

        def work(s: Session) -> None:
            row = self._version_row(s, name, number)
            params = {"model_version_id": row[rows_.ID], "tag_key": key, "tag_value": value}
            before = s.one(self.queries.tag_value, params)
            s.rowcount(self.queries.upsert_tag, params)
            detail = {"key": key, **changed(None if before is None else before[0], value)}
            model_id = row[rows_.VERSION_MODEL_ID]
            self._log(s, NewEvent("tag.set", model_id, name, number, detail))

        self._write(work)

    def delete_tag(self, name: str, version: str, key: str) -> None:
        name, number, key = validate.name(name), validate.version(version), validate.tag_key(key)

        def work(s: Session) -> None:
            row = self._version_row(s, name, number)
            params = {"model_version_id": row[rows_.ID], "tag_key": key}
            before = s.one(self.queries.tag_value, params)
            if before is None:
                raise NotFoundError(f"version {number} of {name!r} has no tag {key!r}")
            s.rowcount(self.queries.delete_tag, {"version_id": row[rows_.ID], "key": key})
            detail = {"key": key, **changed(before[0], None)}
            model_id = row[rows_.VERSION_MODEL_ID]
            self._log(s, NewEvent("tag.deleted", model_id, name, number, detail))

        self._write(work)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        name, alias, number = validate.name(name), validate.alias(alias), validate.version(version)
        self._require(ALIASES, "aliases")

        def work(s: Session) -> None:
            row = self._version_row(s, name, number)
            model_id = row[rows_.VERSION_MODEL_ID]
            before = s.one(self.queries.alias_version, {"model_id": model_id, "alias": alias})
            s.rowcount(
                self.queries.upsert_alias,
                {
                    "model_id": model_id,
                    "alias": alias,
                    "model_version_id": row[rows_.ID],
                    "updated_at": utc_now(),
                },
            )
            was = None if before is None else str(before[0])
            detail = {"alias": alias, **changed(was, number)}
            self._log(s, NewEvent("alias.set", model_id, name, number, detail))

        self._write(work)

    def delete_alias(self, name: str, alias: str) -> None:
        name, alias = validate.name(name), validate.alias(alias)
        self._require(ALIASES, "aliases")

        def work(s: Session) -> None:
            row = s.one(self.queries.model_exists, {"name": name})
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            before = s.one(self.queries.alias_version, {"model_id": row[0], "alias": alias})
            if before is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}")
            s.rowcount(self.queries.delete_alias, {"name": name, "alias": alias})
            detail = {"alias": alias, **changed(str(before[0]), None)}
            self._log(s, NewEvent("alias.deleted", row[0], name, str(before[0]), detail))

        self._write(work)
