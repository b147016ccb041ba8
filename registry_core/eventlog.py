"""Reading the event log (SPEC section 10): a model's history, the feed, durable consumers and
where an alias pointed at a past moment. The statements are in `registry_core.events`; the
writes record their events themselves (`SQLMetadataBackend._log`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from registry_core import events as events_
from registry_core import rows as rows_
from registry_core import validate
from registry_core.errors import InvalidInputError, NotFoundError
from registry_core.records import Event, Page
from registry_core.schema import Schema
from registry_core.session import Session, utc_now
from registry_core.sql import EVENTS

#: seconds between two reads of the feed while events() waits
POLL_INTERVAL = 0.05
#: the longest wait events() takes
MAX_WAIT = 300.0
#: the actions that move or remove an alias (as_of reads them)
_ALIAS_ACTIONS = ("alias.set", "alias.deleted", "version.deleted", "model.deleted")


class EventLog(Schema):
    """history(), events(), consumers and as_of on the shared SQL layer."""

    def history(
        self,
        name: str | None = None,
        *,
        version: str | None = None,
        actions: str | Sequence[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Event]:
        """One page of events, newest first (see ModelRegistry.history)."""
        self._require(EVENTS, "the event log")
        name = None if name is None else validate.name(name)
        number = None if version is None else validate.version(str(version))
        chosen = events_.actions(actions)
        if actor is not None and (not isinstance(actor, str) or not actor):
            raise InvalidInputError("actor is a non-empty string")
        low = None if since is None else events_.aware(since, "since")
        high = None if until is None else events_.aware(until, "until")
        size = events_.page_size(page_size)
        key = repr((name, number, chosen, actor, low, high))
        before = events_.read_history_token(page_token, key)
        params: dict[str, Any] = {
            "name": name,
            "version": number,
            "actor": actor,
            "since": low,
            "until": high,
            "limit": size + 1,
            "before": before if before is not None else 2**62,
        }
        params.update({f"a{i}": a for i, a in enumerate(chosen)})
        q = self.queries.events
        where = q.filters(
            version=number is not None,
            actions=len(chosen),
            actor=actor is not None,
            since=low is not None,
            until=high is not None,
        )

        def work(s: Session) -> list[tuple[Any, ...]]:
            if name is None:
                return s.all(q.history("all", where), params)
            scope = s.one(q.model_scope, {"name": name})
            if scope is None:  # no model has the name now: the events recorded under it
                return s.all(q.history("name", where), params, replan=True)
            scoped = {**params, "model_id": scope[0], "floor": int(scope[1])}
            return s.all(q.history("model", where), scoped, replan=True)

        # autocommit: the model's row, then its page (two round trips; a page is keyset,
        # so no snapshot across them is needed)
        rows = self._run(work, write=False, transaction=False)
        found = [events_.event(r) for r in rows[:size]]
        token = events_.history_token(found[-1].id, key) if len(rows) > size else None
        return Page(found, token)

    def events(self, after: Any = None, *, limit: int = 100, wait: float = 0.0) -> Page[Event]:
        """The feed after `after`, oldest first (see ModelRegistry.events)."""
        self._require(EVENTS, "the event log")
        position = events_.feed_position(after)
        size = events_.page_size(limit, "limit")
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0:
            raise InvalidInputError(f"wait is a number of seconds (0 or more), not {wait!r}")
        deadline = time.monotonic() + min(float(wait), MAX_WAIT)
        params = {"after": position, "limit": size}
        q = self.queries.events
        while True:
            rows = self._run(lambda s: s.all(q.after, params), write=False, transaction=False)
            if rows or time.monotonic() >= deadline:
                break
            time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
        found = [events_.event(r) for r in rows]
        return Page(found, str(found[-1].id if found else position))

    def consumer_position(self, name: str) -> int:
        """The last event id consumer `name` acknowledged (0: none yet)."""
        self._require(EVENTS, "the event log")
        name = validate.name(name)
        q = self.queries.events
        row = self._run(lambda s: s.one(q.consumer, {"name": name}), write=False, transaction=False)
        return 0 if row is None else int(row[0])

    def acknowledge(self, name: str, event_id: int) -> None:
        """Stores `event_id` as consumer `name`'s position (InvalidInputError for an id the
        feed has not reached)."""
        self._require(EVENTS, "the event log")
        name = validate.name(name)
        if isinstance(event_id, bool) or not isinstance(event_id, int) or event_id < 0:
            raise InvalidInputError(f"event_id is an event id (0 or more), not {event_id!r}")
        q = self.queries.events

        def work(s: Session) -> None:
            last = int(s.scalar(q.feed_position) or 0)
            if event_id > last:
                raise InvalidInputError(f"event {event_id} does not exist (the feed is at {last})")
            s.rowcount(
                q.acknowledge, {"name": name, "acknowledged": event_id, "updated_at": utc_now()}
            )

        self._run(work)

    def alias_as_of(self, name: str, alias: str, when: Any) -> tuple[str, Event | None]:
        """(the version `alias` of model `name` pointed at `when`, and that version's
        version.created event if this model's history has it); NotFoundError if it pointed
        nowhere then. Reads the model's history newest first from `when` back."""
        self._require(EVENTS, "the event log")
        # `until` is exclusive in history(): a microsecond later includes `when` itself
        until = rows_.timestamp(events_.aware(when, "as_of")) + timedelta(microseconds=1)
        token: str | None = None
        while True:
            page = self.history(
                name, actions=_ALIAS_ACTIONS, until=until, page_size=200, page_token=token
            )
            for e in page.items:
                if e.action == "alias.set" and e.detail.get("alias") == alias:
                    return str(e.version), self._created(name, str(e.version))
                if (
                    (e.action == "alias.deleted" and e.detail.get("alias") == alias)
                    or (e.action == "version.deleted" and alias in e.detail.get("aliases", ()))
                    or e.action == "model.deleted"
                ):
                    token = None
                    break
            else:
                token = page.next_page_token
            if token is None:
                raise NotFoundError(f"alias {alias!r} of {name!r} pointed at no version at {when}")

    def _created(self, name: str, number: str) -> Event | None:
        page = self.history(name, version=number, actions="version.created", page_size=1)
        return page.items[0] if page.items else None
