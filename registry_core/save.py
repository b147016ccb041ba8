"""Saving a version (`MetadataBackend.create_version`): the model's counter bumped under its row
lock, the version row, its tags, metrics and lineage edges, all or nothing; and, when COMMIT's
answer was lost, finding out whether the save was committed.

`SQLMetadataBackend.create_version` validates a `Save` and runs it through the transaction
machinery (`registry_core.transactions`): as one statement where the dialect has writable
WITH clauses and the save has no parents (PostgreSQL), else in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from registry_core import events as events_
from registry_core import rows as rows_
from registry_core import validate
from registry_core.dialect import Dialect, ErrorKind
from registry_core.errors import InvalidInputError, NotFoundError
from registry_core.records import FrozenDict, ModelVersion
from registry_core.session import Session, utc_now
from registry_core.sql import CHUNK, EVENTS, Queries
from registry_core.transactions import NotCommitted, RetryTransaction

log = logging.getLogger("registry_core")


class Save:
    """One save's validated input, and the statements that record it."""

    def __init__(
        self,
        name: str,
        *,
        description: str | None,
        tags: Mapping[str, str | None],
        file_size_bytes: int,
        checksum: str,
        storage_path: str,
        metrics: Mapping[str, float] | None,
        parents: Sequence[tuple[str, str]],
        actor: str = "unknown",
    ) -> None:
        self.actor = actor
        self.name = validate.name(name)
        self.description = validate.description(description)
        self.tags = validate.tags(tags)
        self.metrics = validate.metrics(metrics)
        self.parents = validate.parents(parents)
        if not isinstance(storage_path, str) or not storage_path:
            raise InvalidInputError("storage_path must be a non-empty string")
        self.now = utc_now()
        self.params: dict[str, Any] = {
            "name": self.name,
            "key": self.name,
            "description": self.description,
            "storage_path": storage_path,
            "file_size_bytes": file_size_bytes,
            "checksum": checksum,
            "now": self.now,
            "uid": str(uuid.uuid4()),  # the model's identity, if this save creates it
        }

    def detail(self) -> dict[str, Any]:
        """What a version.created event says about the version."""
        p = self.params
        return {
            "description": self.description,
            "tags": dict(self.tags),
            "metrics": dict(self.metrics),
            "parents": [list(x) for x in self.parents],
            "size": p["file_size_bytes"],
            "checksum": p["checksum"],
            "storage_path": p["storage_path"],
        }

    def new_events(self, number: str, model_id: int | None) -> list[events_.NewEvent]:
        """The save's events: `model.created` when it created the model (`model_id` given),
        then `version.created`."""
        out = []
        if model_id is not None:
            out.append(
                events_.NewEvent(
                    "model.created",
                    model_id,
                    self.name,
                    None,
                    {"description": events_.changed(None, self.description)},
                )
            )
        out.append(events_.NewEvent("version.created", None, self.name, number, self.detail()))
        return out

    def record(self, number: str) -> ModelVersion:
        """The saved version as the API returns it."""
        p = self.params
        return ModelVersion(
            self.name,
            number,
            self.description,
            p["storage_path"],
            p["file_size_bytes"],
            rows_.timestamp(self.now),
            FrozenDict(sorted(self.tags.items())),
            p["checksum"],
            FrozenDict(sorted(self.metrics.items())),
            (),
        )

    def one_statement(self, s: Session, q: Queries) -> ModelVersion | None:
        """PostgreSQL: counter, row, tags and metrics in one statement, which commits by
        itself (no BEGIN/COMMIT round trips); None when the model is new."""
        sql = q.save_in_one_statement(len(self.tags), len(self.metrics))
        values = {
            **self.params,
            **_pair_params("a", "b", self.tags),
            **_pair_params("c", "e", self.metrics),
        }
        if q.level >= EVENTS:
            values.update(events_.params(self.new_events("", None), self.actor, self.now))
        row = s.committing(sql, values)
        return None if row is None else self.record(str(row[1]))

    def in_a_transaction(self, s: Session, q: Queries, dialect: Dialect) -> ModelVersion:
        """The save as statements of one transaction (the caller's)."""
        params = self.params
        created: int | None = None
        found, number = dialect.counter_value(s.execute(q.bump_counter, params))
        if not found:  # the model's first version: create it, with its counter at 1
            try:
                created = s.insert(q.create_model, params)
            except dialect.driver_errors() as exc:
                if dialect.classify(exc) is ErrorKind.UNIQUE:
                    raise RetryTransaction from exc  # another first save won the race
                raise
            number = 1
        elif number is None:  # no RETURNING (SQLite before 3.35)
            number = int(s.scalar(q.read_counter, params))
        version = str(number)
        version_id = s.insert(q.insert_version, {**params, "version": version})
        for table, columns, pairs in (
            ("mr_model_tags", ("tag_key", "tag_value"), self.tags),
            ("mr_model_metrics", ("metric_name", "metric_value"), self.metrics),
        ):  # one statement each (up to CHUNK rows, the most a save takes)
            rows = [(version_id, k, v) for k, v in pairs.items()]
            s.insert_rows(table, ("model_version_id", *columns), rows, per=CHUNK)
        if self.parents:
            self._link_parents(s, q, version, version_id)
        if q.level >= EVENTS:  # last: the feed's counter, then COMMIT
            new = self.new_events(version, created)
            s.batch(q.events.record(len(new)), events_.params(new, self.actor, self.now))
        return self.record(version)

    def settle(self, s: Session, q: Queries) -> ModelVersion:
        """COMMIT's answer was lost: the row exists iff it committed (the path carries the
        save's own token, so no other save has it); NotCommitted if it is not there."""
        row = s.one(q.version_by_path, self.params)
        if row is None:
            raise NotCommitted(f"the save of {self.name!r} was not recorded; nothing was saved")
        log.info("a COMMIT answer was lost; version %s of %r was committed", row[1], self.name)
        return self.record(str(row[1]))

    def _link_parents(self, s: Session, q: Queries, number: str, child_id: int) -> None:
        """One INSERT ... SELECT of every lineage edge; NotFoundError if a parent is absent."""
        name, parents = self.name, self.parents
        if (name, number) in parents:
            raise InvalidInputError(f"version {number} of {name!r} cannot be its own parent")
        params: dict[str, Any] = {"child_id": child_id}
        for i, (pname, pversion) in enumerate(parents):
            params[f"pn{i}"], params[f"pv{i}"] = pname, pversion
        sql = q.insert_parents_prefix + Queries.parents_condition(len(parents))
        if s.rowcount(sql, params) != len(parents):
            missing = [
                f"{n!r} version {v}"
                for n, v in parents
                if s.one(q.version_row, {"name": n, "version": v}) is None
            ]
            raise NotFoundError(f"parent versions not found: {', '.join(missing)}")


def _pair_params(a: str, b: str, items: Mapping[str, Any]) -> dict[str, Any]:
    """{a0: key0, b0: value0, a1: ...}: the parameters of a multi-row VALUES list."""
    out: dict[str, Any] = {}
    for i, (k, v) in enumerate(items.items()):
        out[f"{a}{i}"], out[f"{b}{i}"] = k, v
    return out
