"""`tollgate admin dead-letters list|retry|resolve`: the usage events set aside.

A consumer group sets an event aside (`shared.dead_letters`) when it cannot
take it; `tollgate reconcile` fails until each one is dealt with:

- `list` shows the unresolved ones (`--all`: resolved ones too, with who
  resolved them, when, why and how): id, group, event id, time, reason.
- `retry ID...` adds the event's raw bytes to the usage stream again (after
  a fix): every group reads it, and both are idempotent by event id, so the
  group that took it before changes nothing. If it fails again it is set
  aside again, as a new dead letter.
- `resolve ID... --note WHY` closes it without retrying (the event was
  settled by hand, or is garbage): the note and who (`--by`, default the
  login name) are kept.

Nothing is ever deleted: the dead-letter stream and its resolutions are the
audit trail. It needs only Redis, found like every other subcommand's (the
dev data directory beside `tollgate dev`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from redis.exceptions import RedisError, ResponseError

from services.billing.settings import Settings as BillingSettings
from shared import dead_letters, redis_conn
from shared.settings import load_or_exit
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM


def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "dead-letters", help="usage events set aside by a consumer: list, retry, resolve"
    )
    actions = parser.add_subparsers(dest="dead_letter_command", required=True)
    listing = actions.add_parser("list", help="the unresolved dead letters")
    listing.add_argument("--all", action="store_true", help="resolved ones too")
    for name, help_text in (
        ("retry", "add the events to the usage stream again"),
        ("resolve", "close dead letters without retrying them"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("ids", nargs="+", metavar="ID", help="dead letter id (from `list`)")
        action.add_argument("--note", required=name == "resolve", default="", help="why")
        action.add_argument("--by", default=None, help="who (default: your login name)")


def run(arguments: argparse.Namespace) -> int:
    settings = load_or_exit(BillingSettings.from_env)
    try:
        return asyncio.run(_run(settings.common.redis_url, arguments))
    except RedisError as exc:
        print(f"dead-letters: Redis refused: {type(exc).__name__}", file=sys.stderr)
        return 1


async def _run(redis_url: str, arguments: argparse.Namespace) -> int:
    async with redis_conn.client(redis_url) as redis:
        if arguments.dead_letter_command == "list":
            return await _list(redis, show_all=arguments.all)
        by = arguments.by or getpass.getuser()
        failed = 0
        for dead_id in arguments.ids:
            failed += not await _act(redis, arguments.dead_letter_command, dead_id, by, arguments)
        return 1 if failed else 0


async def _list(redis: redis_conn.Redis, *, show_all: bool) -> int:
    letters = await dead_letters.listing(redis)
    shown = [letter for letter in letters if show_all or letter.resolution is None]
    for letter in shown:
        print(
            f"{letter.id}  group={letter.group}  event={letter.event_id or '-'}  "
            f"at={letter.at}  entry={letter.entry_id}  reason={letter.reason}"
        )
        if letter.resolution is not None:
            done = letter.resolution
            retried = f" as {done.retried_as}" if done.retried_as else ""
            print(f"    {done.action}{retried} by {done.by} at {done.at}: {done.note}")
    unresolved = sum(letter.resolution is None for letter in letters)
    print(f"{unresolved} unresolved dead letter(s) of {len(letters)}")
    return 0


async def _act(
    redis: redis_conn.Redis, action: str, dead_id: str, by: str, arguments: argparse.Namespace
) -> bool:
    shown_id = dead_letters.shown(dead_id, 40)
    try:
        letter = await dead_letters.find(redis, dead_id)
    except ResponseError:
        letter = None  # not a stream id at all
    if letter is None:
        print(f"{action} refused: no dead letter {shown_id}", file=sys.stderr)
        return False
    if action == "retry":
        new_id = await dead_letters.retry(
            redis, letter, stream=USAGE_STREAM, field=EVENT_FIELD, by=by, note=arguments.note
        )
        done = new_id is not None
        message = f"retried {letter.id}: event {letter.event_id or '-'} is entry {new_id} again"
    else:
        done = await dead_letters.resolve(redis, letter.id, by=by, note=arguments.note)
        message = f"resolved {letter.id} (event {letter.event_id or '-'})"
    if not done:
        print(f"{action} refused: dead letter {letter.id} was resolved already", file=sys.stderr)
        return False
    print(message)
    return True
