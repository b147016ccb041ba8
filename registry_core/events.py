"""The event log's side of the shared SQL layer (SPEC section 10): the statements that record
an event in the change's own transaction, read the feed and a model's history, and keep the
consumers' positions; the `Event` record and its detail as stored (JSON).

Numbering: each change ends with one bump of the single row of `mr_event_feed` and the INSERT
of its event(s), numbered from the bumped value. The bump takes that row's lock, held until
COMMIT, so a writer gets its id only after the previous holder committed: ids are handed out
in commit order, without gaps (a rollback takes its bump back with it), and no event with a
smaller id can become visible after a larger one. PostgreSQL sends bump and INSERT as one
statement (a data-modifying WITH); MySQL as one round trip of two statements. SQLite, whose
writers hold the whole database's lock from BEGIN IMMEDIATE to COMMIT, needs no counter: the
INSERT numbers its events from the highest id, read under that lock (`Dialect.serial_writes`).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from registry_core.dialect import Dialect
from registry_core.errors import InvalidInputError
from registry_core.records import Event, FrozenDict, thaw
from registry_core.rows import timestamp

#: the environment variable naming who makes the changes (else the OS user)
ACTOR_ENV = "MODEL_REGISTRY_ACTOR"
#: every action an event can have (SPEC section 10)
ACTIONS = (
    "model.created",
    "model.updated",
    "model.renamed",
    "model.deleted",
    "model_tag.set",
    "model_tag.deleted",
    "version.created",
    "version.updated",
    "version.deleted",
    "tag.set",
    "tag.deleted",
    "alias.set",
    "alias.deleted",
)
#: the columns of an event row, in the order `event()` reads them
EVENT_COLUMNS = (
    "e.id, e.happened_at, e.actor, e.action, e.name, e.version, e.detail, "
    "e.origin_registry, e.origin_id"
)
_INSERT_COLUMNS = (
    "id, happened_at, actor, action, model_id, name, version, detail, origin_registry, origin_id"
)
#: the most events one page of history() or events() returns
MAX_PAGE = 1000


@dataclass(frozen=True)
class NewEvent:
    """An event about to be written with its change: what `record` takes."""

    action: str
    model_id: int | None
    name: str
    version: str | None
    detail: Mapping[str, Any]
    at: str | None = None  # stored text; None: the time of writing
    actor: str | None = None  # None: the backend's actor
    origin: tuple[str, int] | None = None


def default_actor(actor: str | None = None) -> str:
    """`actor` if given, else $MODEL_REGISTRY_ACTOR, else the OS user ("unknown" if the OS
    cannot tell)."""
    if actor is not None:
        if not isinstance(actor, str) or not actor.strip() or "\x00" in actor:
            raise InvalidInputError("actor must be a non-empty string")
        return actor[:255]
    env = os.environ.get(ACTOR_ENV)
    if env:
        return env[:255]
    try:
        return getpass.getuser()[:255] or "unknown"
    except Exception:  # no user name in the environment nor the password database
        return "unknown"


def dumps(detail: Mapping[str, Any]) -> str:
    """A detail as stored: compact JSON with sorted keys."""
    return json.dumps(thaw(detail), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return FrozenDict({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def event(row: Sequence[Any]) -> Event:
    """An EVENT_COLUMNS row as an Event."""
    eid, at, actor, action, name, version, detail, origin_registry, origin_id = row
    raw = detail if isinstance(detail, (dict, list)) else json.loads(detail)
    origin = None if origin_registry is None else (str(origin_registry), int(origin_id))
    return Event(
        int(eid),
        timestamp(at),
        actor,
        action,
        name,
        None if version is None else str(version),
        _freeze(raw),
        origin,
    )


def changed(before: Any, after: Any) -> dict[str, Any]:
    """{"before": before, "after": after}: how a detail says what a value was and became."""
    return {"before": before, "after": after}


# -- the statements ------------------------------------------------------------------------
class EventQueries:
    """The event log's statements for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._cache: dict[int, tuple[str, ...]] = {}
        self.feed_position = "SELECT COALESCE(MAX(id), 0) FROM mr_events"
        self.after = (
            f"SELECT {EVENT_COLUMNS} FROM mr_events e WHERE e.id > :after ORDER BY e.id "
            "LIMIT :limit"
        )
        self.consumer = "SELECT acknowledged FROM mr_consumers WHERE name = :name"
        self.acknowledge = dialect.upsert(
            "mr_consumers",
            ["name", "acknowledged", "updated_at"],
            ["name"],
            ["acknowledged", "updated_at"],
        )
        # the model's row, and the last event of an earlier model of that row, if the
        # database gives a deleted row's id again (SQLite's rowids), else 0
        floor = "0"
        if dialect.reuses_ids:
            floor = (
                "COALESCE((SELECT d.id FROM mr_events d WHERE d.model_id = m.id "
                "AND d.action = 'model.deleted' ORDER BY d.model_id DESC, d.id DESC LIMIT 1), 0)"
            )
        self.model_scope = f"SELECT m.id, {floor} FROM mr_models m WHERE m.name = :name"
        self.origins_of = (
            "SELECT origin_id FROM mr_events WHERE origin_registry = :origin "
            "AND origin_id >= :low AND origin_id <= :high"
        )

    @staticmethod
    def of_models(count: int) -> str:
        """(model id, EVENT_COLUMNS) of the events of models :i0, :i1, ..., in feed order."""
        ids = ", ".join(f":i{i}" for i in range(count))
        return (
            f"SELECT e.model_id, {EVENT_COLUMNS} FROM mr_events e WHERE e.model_id IN ({ids}) "
            "ORDER BY e.id"
        )

    def record(self, count: int) -> tuple[str, ...]:
        """The statements that number and write `count` events (parameters of event i:
        :ea<i> time, :eb<i> actor, :ec<i> action, :ed<i> model id, :ee<i> name, :ef<i>
        version, :eg<i> detail, :eh<i> origin registry, :ei<i> origin id): the bump of the
        feed's counter, the last statement to take a lock, then the INSERT."""
        hit = self._cache.get(count)
        if hit is not None:
            return hit
        d = self._dialect
        bump = f"UPDATE mr_event_feed SET last_id = last_id + {count} WHERE id = 1"
        if d.writable_ctes:
            rows = " UNION ALL ".join(
                f"SELECT f.last_id - {count - 1 - i}, {_values(i, cast=True)} FROM f"
                for i in range(count)
            )
            statements: tuple[str, ...] = (
                f"WITH f AS ({bump} RETURNING last_id) "
                f"INSERT INTO mr_events ({_INSERT_COLUMNS}) {rows}",
            )
        elif d.serial_writes:
            # one writer at a time holds the database (SQLite): the next id is the highest
            # one plus one, read under that lock (the primary key's last entry)
            new = "(SELECT COALESCE(MAX(id), 0) FROM mr_events)"
            rows = ", ".join(f"({new} + {i + 1}, {_values(i)})" for i in range(count))
            statements = (f"INSERT INTO mr_events ({_INSERT_COLUMNS}) VALUES {rows}",)
        else:
            new = "(SELECT last_id FROM mr_event_feed WHERE id = 1)"
            rows = ", ".join(f"({new} - {count - 1 - i}, {_values(i)})" for i in range(count))
            statements = (bump, f"INSERT INTO mr_events ({_INSERT_COLUMNS}) VALUES {rows}")
        self._cache[count] = statements
        return statements

    def save_steps(self) -> list[str]:
        """The WITH steps that add a save's `version.created` event to the one-statement save
        (`Queries.save_in_one_statement`, whose steps `c` and `v` they follow): the bump runs
        after the version row is written (it reads `v`), so the feed's lock is the last."""
        return [
            "f AS (UPDATE mr_event_feed SET last_id = last_id + 1 WHERE id = 1 "
            "AND EXISTS (SELECT 1 FROM v) RETURNING last_id)",
            f"ev AS (INSERT INTO mr_events ({_INSERT_COLUMNS}) SELECT f.last_id, :ea0, :eb0, "
            ":ec0, c.id, :ee0, v.version, :eg0, NULL, NULL FROM f, c, v)",
        ]

    @staticmethod
    def filters(*, version: bool, actions: int, actor: bool, since: bool, until: bool) -> list[str]:
        """The conditions of history()'s filters (:version, :a0..., :actor, :since, :until)."""
        where = []
        if version:
            where.append("e.version = :version")
        if actions:
            where.append(f"e.action IN ({', '.join(f':a{i}' for i in range(actions))})")
        if actor:
            where.append("e.actor = :actor")
        if since:
            where.append("e.happened_at >= :since")
        if until:
            where.append("e.happened_at < :until")
        return where

    @staticmethod
    def history(scope: str, filters: Sequence[str]) -> str:
        """One page of history, newest first, below id :before: every event (`scope`
        "all"), the model's (:model_id, after :floor: "model") or those recorded under
        :name ("name"), with `filters`."""
        where, order = {
            "all": ([], "e.id DESC"),
            # ordered as the (model_id, id) and (name, id) indexes are: with the first
            # column fixed, the same order, and every planner walks the index (PostgreSQL
            # otherwise walked the primary key back through every newer event: 16 ms at
            # 105,000 events against 0.5 ms)
            "model": (["e.model_id = :model_id AND e.id > :floor"], "e.model_id DESC, e.id DESC"),
            "name": (["e.name = :name"], "e.name DESC, e.id DESC"),
        }[scope]
        where = [*where, "e.id < :before", *filters]
        return (
            f"SELECT {EVENT_COLUMNS} FROM mr_events e WHERE {' AND '.join(where)} "
            f"ORDER BY {order} LIMIT :limit"
        )


def _values(i: int, *, cast: bool = False) -> str:
    """Event i's values after its id (:ed<i> None: the id of the model named :ee<i>).
    With `cast` (a UNION of SELECTs on PostgreSQL, where an untyped NULL parameter would be
    read as text) the integers are cast."""
    model_id, origin_id = f":ed{i}", f":ei{i}"
    if cast:
        model_id, origin_id = f"CAST({model_id} AS BIGINT)", f"CAST({origin_id} AS BIGINT)"
    # no model id given: the model now called by the event's name (a change that keeps the
    # row, whose id the write did not read)
    model_id = f"COALESCE({model_id}, (SELECT mm.id FROM mr_models mm WHERE mm.name = :ee{i}))"
    return f":ea{i}, :eb{i}, :ec{i}, {model_id}, :ee{i}, :ef{i}, :eg{i}, :eh{i}, {origin_id}"


def params(events: Sequence[NewEvent], actor: str, now: str) -> dict[str, Any]:
    """The parameters of `record(len(events))`."""
    out: dict[str, Any] = {}
    for i, e in enumerate(events):
        origin = e.origin or (None, None)
        out.update(
            {
                f"ea{i}": e.at or now,
                f"eb{i}": e.actor or actor,
                f"ec{i}": e.action,
                f"ed{i}": e.model_id,
                f"ee{i}": e.name,
                f"ef{i}": e.version,
                f"eg{i}": dumps(e.detail),
                f"eh{i}": origin[0],
                f"ei{i}": origin[1],
            }
        )
    return out


# -- arguments -----------------------------------------------------------------------------
def aware(value: Any, what: str) -> str:
    """An aware datetime (or ISO-8601 text with a zone) as stored timestamp text;
    InvalidInputError for a naive one."""
    if isinstance(value, str):
        try:
            parsed = timestamp(value) if value.endswith("Z") else datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInputError(f"{what} is not an ISO-8601 time: {value!r}") from None
        value = parsed
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{what} is an aware datetime, not {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{what} is a naive datetime; give one with a time zone (e.g. timezone.utc)"
        )
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def actions(values: str | Sequence[str] | None) -> list[str]:
    """The actions a filter names; InvalidInputError for an unknown one."""
    if values is None:
        return []
    chosen = [values] if isinstance(values, str) else list(values)
    for a in chosen:
        if a not in ACTIONS:
            raise InvalidInputError(f"unknown action {a!r}; actions: {', '.join(ACTIONS)}")
    return list(dict.fromkeys(chosen))


def page_size(value: Any, what: str = "page_size") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
        raise InvalidInputError(f"{what} is a whole number from 1 to {MAX_PAGE}, not {value!r}")
    return value


def history_token(last_id: int, key: str) -> str:
    """The next_page_token of a history page that ended at event `last_id`."""
    raw = f"{last_id}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def read_history_token(token: str | None, key: str) -> int | None:
    """The id a history page token continues below; InvalidInputError if it is malformed or
    from other filters."""
    if token is None:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        last, digest = text.split(":")
        last_id = int(last)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("malformed page_token") from None
    if digest != hashlib.sha256(key.encode()).hexdigest()[:16]:
        raise InvalidInputError("page_token is from a history() call with other filters")
    return last_id


def feed_position(after: Any) -> int:
    """An events() position: None (the start), an event id, or a next_page_token."""
    if after is None:
        return 0
    if isinstance(after, bool):
        raise InvalidInputError(f"after is an event id or a next_page_token, not {after!r}")
    try:
        position = int(after)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"after is an event id or a next_page_token, not {after!r}"
        ) from None
    if position < 0:
        raise InvalidInputError(f"after is an event id (0 or more), not {after!r}")
    return position
