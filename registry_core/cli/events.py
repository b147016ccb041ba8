"""The event log's commands: `history` (a model's changes, newest first), `events` (the change
feed, `--follow` to wait for more, `--consumer` to resume where a named consumer stopped) and
`relay` (the feed POSTed to a webhook, signed as Standard Webhooks do). Each command is its
parser, right above its handler."""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import random
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from registry_core.cli.base import EXIT_OK, Context, Options, UsageError, parse_time
from registry_core.cli.data import parse_ref
from registry_core.cli.output import emit, printable, table, when
from registry_core.events import ACTIONS
from registry_core.records import Event

log = logging.getLogger("registry_core.relay")

EVENT_COLUMNS = (
    ("ID", 10),
    ("AT (UTC)", 19),
    ("ACTOR", 16),
    ("ACTION", 17),
    ("NAME", 30),
    ("VERSION", 8),
    ("DETAIL", 60),
)


def add_commands(sub: Any, options: Options) -> None:
    """The event log's parsers, in the order `--help` lists them."""
    for add in (_history_parser, _events_parser, _relay_parser):
        add(sub, options)


def _row(e: Event) -> list[str]:
    detail = json.dumps(e.as_dict()["detail"], sort_keys=True, ensure_ascii=False)
    return [str(e.id), when(e.at), e.actor, e.action, e.name, e.version or "-", detail]


# -- history -------------------------------------------------------------------------------
def _history_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "history",
        parents=[options.common],
        help="a model's changes (or every change), newest first",
        description="The event log, newest first: the changes of the model now called NAME "
        "(under all its earlier names; a deleted model's changes stay under its name), or "
        "of every model without NAME. NAME@VERSION: that version's changes.",
    )
    p.add_argument("ref", metavar="NAME[@VERSION]", nargs="?")
    p.add_argument("--since", type=parse_time, metavar="TIME", help="from TIME (ISO-8601)")
    p.add_argument("--until", type=parse_time, metavar="TIME", help="before TIME")
    p.add_argument(
        "--action", action="append", choices=ACTIONS, metavar="ACTION", help="repeatable"
    )
    p.add_argument("--by", dest="by_actor", metavar="ACTOR", help="changes made by ACTOR")
    p.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    p.set_defaults(func=_history)


def _history(args: argparse.Namespace, ctx: Context) -> int:
    name = version = None
    if args.ref is not None:
        ref = parse_ref(args.ref, aliases=False)
        name, version = ref.name, ref.version
    if args.limit < 1:
        raise UsageError("--limit is 1 or more")
    found: list[Event] = []
    with ctx.registry() as reg:
        token: str | None = None
        while len(found) < args.limit:
            page = reg.history(
                name,
                version=version,
                actions=args.action,
                actor=args.by_actor,
                since=args.since,
                until=args.until,
                page_size=min(1000, args.limit - len(found)),
                page_token=token,
            )
            found += page.items
            token = page.next_page_token
            if token is None:
                break
    lines = table(EVENT_COLUMNS, [_row(e) for e in found]) if found else ["no events"]
    emit(args.json, {"events": [e.as_dict() for e in found]}, lines)
    return EXIT_OK


# -- events --------------------------------------------------------------------------------
def _events_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "events",
        parents=[options.common],
        help="the change feed, oldest first (--follow: wait for more)",
        description="The change feed: every committed change once, in commit order, after "
        "--after (an event id) or where --consumer NAME acknowledged last (then each printed "
        "event is acknowledged). --json prints JSON lines.",
    )
    p.add_argument("--after", type=int, metavar="ID", help="start after this event id")
    p.add_argument("--follow", action="store_true", help="keep waiting for new events")
    p.add_argument("--consumer", metavar="NAME", help="a durable consumer: resume and acknowledge")
    p.add_argument("--limit", type=int, default=1000, help="events per read (default 1000)")
    p.set_defaults(func=_events)


def _events(args: argparse.Namespace, ctx: Context) -> int:
    if args.after is not None and args.consumer is not None:
        raise UsageError("give --after or --consumer, not both")
    with ctx.registry() as reg:
        position = args.after or 0
        if args.consumer is not None:
            position = reg.consumer_position(args.consumer)
        first = True
        while True:
            size = max(1, min(1000, args.limit))
            page = reg.events(position, limit=size, wait=10.0 if args.follow else 0.0)
            for e in page.items:
                if args.json:
                    print(json.dumps(e.as_dict(), ensure_ascii=False))
                else:
                    print("\n".join(table(EVENT_COLUMNS, [_row(e)], header=first, fixed=True)))
                    first = False
            sys.stdout.flush()
            if page.items and args.consumer is not None:
                reg.acknowledge(args.consumer, page.items[-1].id)
            position = int(page.next_page_token or position)
            if not page.items and not args.follow:
                return EXIT_OK


# -- relay ---------------------------------------------------------------------------------
def _relay_parser(sub: Any, options: Options) -> None:
    p = sub.add_parser(
        "relay",
        parents=[options.common],
        help="POST each event to a webhook (Standard Webhooks signatures), at least once",
        description="Follows the feed as the durable consumer NAME and POSTs each event as "
        "JSON to URL, signed as Standard Webhooks do (headers webhook-id, webhook-timestamp, "
        "webhook-signature: v1,<base64 HMAC-SHA256 of 'id.timestamp.body'> with the secret "
        "in $VAR, 'whsec_' + base64). The consumer advances only after a 2xx answer; a "
        "failure is retried with backoff, never skipped. Killed at any moment and started "
        "again, it delivers every event at least once, in order.",
    )
    p.add_argument("--to", required=True, metavar="URL", help="the webhook's URL")
    p.add_argument("--consumer", required=True, metavar="NAME", help="the durable consumer")
    p.add_argument(
        "--action", action="append", choices=ACTIONS, metavar="ACTION", help="only these"
    )
    p.add_argument("--secret-env", metavar="VAR", help="environment variable with the secret")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per POST (default 10)")
    p.add_argument(
        "--max-backoff", type=float, default=60.0, help="longest wait between retries (s)"
    )
    p.add_argument("--exit-when-idle", action="store_true", help="stop once the feed is drained")
    p.set_defaults(func=_relay)


def secret_key(text: str) -> bytes:
    """A Standard Webhooks secret ("whsec_" + base64) as the HMAC key."""
    raw = text[len("whsec_") :] if text.startswith("whsec_") else text
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("the webhook secret is 'whsec_' followed by base64") from None


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: v1,<base64 HMAC-SHA256 of "id.timestamp.body">."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def message(e: Event, registry_id: str) -> tuple[str, bytes]:
    """(webhook-id, body) of an event: the id names where the event first happened (a
    copied event keeps its origin's), so a receiver can drop repeats."""
    origin = e.origin or (registry_id, e.id)
    body = {"type": e.action, "timestamp": e.as_dict()["at"], "data": e.as_dict()}
    return f"evt_{origin[0]}_{origin[1]}", json.dumps(body, ensure_ascii=False).encode()


class Relay:
    """Delivers events to one URL, each until it gets a 2xx."""

    def __init__(
        self,
        url: str,
        key: bytes | None,
        *,
        timeout: float,
        max_backoff: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url, self.key, self.timeout = url, key, timeout
        self.max_backoff, self.sleep = max_backoff, sleep

    def post(self, msg_id: str, body: bytes) -> int | str:
        """One attempt: the HTTP status, or the error's text."""
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if self.key is not None:
            headers["webhook-signature"] = sign(self.key, msg_id, timestamp, body)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"

    def deliver(self, msg_id: str, body: bytes) -> int:
        """Posts until a 2xx, waiting longer after each failure (with jitter); returns the
        number of attempts."""
        attempt = 0
        while True:
            attempt += 1
            status = self.post(msg_id, body)
            if isinstance(status, int) and 200 <= status < 300:
                return attempt
            wait = min(self.max_backoff, 0.1 * 2 ** min(attempt, 20)) * random.uniform(0.5, 1)
            log.warning("%s: attempt %d got %s; again in %.1f s", msg_id, attempt, status, wait)
            self.sleep(wait)


def _relay(args: argparse.Namespace, ctx: Context) -> int:
    key = None
    if args.secret_env is not None:
        text = os.environ.get(args.secret_env)
        if not text:
            raise UsageError(f"${args.secret_env} is not set")
        key = secret_key(text)
    wanted = set(args.action or ACTIONS)
    relay = Relay(args.to, key, timeout=args.timeout, max_backoff=args.max_backoff)
    delivered = 0
    with ctx.registry() as reg:
        registry_id = reg.backend.registry_identity()[0] or "registry"
        position = reg.consumer_position(args.consumer)
        while True:
            page = reg.events(position, limit=100, wait=0.0 if args.exit_when_idle else 10.0)
            for e in page.items:
                if e.action in wanted:
                    relay.deliver(*message(e, registry_id))
                    delivered += 1
                reg.acknowledge(args.consumer, e.id)  # only after its 2xx (or not wanted)
                position = e.id
            if not page.items and args.exit_when_idle:
                emit(
                    args.json,
                    {"delivered": delivered, "position": position},
                    [f"delivered {delivered} event(s); {printable(args.consumer)} at {position}"],
                )
                return EXIT_OK
