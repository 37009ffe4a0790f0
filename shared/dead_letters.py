"""The dead-letter stream: usage events a consumer group could not take, set aside.

A stream entry that is not a usage event, or whose handling fails for a
reason retrying cannot cure (see `shared.stream_consumer`), is moved here by
the group that met it, so the group goes on with everything else. Rules:

- One entry per (group, stream entry) set aside, in `DEAD_STREAM`, with the
  original entry id, the group, the event's raw bytes (kept whole: they are
  what an operator retries), the event id when one is usable, the reason
  (capped and escaped: it may quote the event) and the time.
- Setting aside is atomic with acknowledging the entry in its group
  (`MULTI`: `XADD` to the dead stream, `XACK` in the group), so an entry is
  never both lost and acknowledged, and never set aside twice.
- Dead letters are never trimmed or deleted: the stream is the audit trail.
  An operator resolves one (`tollgate admin dead-letters resolve`) or retries
  it (`retry`: the raw event is added to the usage stream again, in the same
  `MULTI` as its resolution). Resolutions live in the hash `RESOLUTIONS`
  (dead id -> who, when, why, what was done), written once (`HSETNX`).
- A retried event reaches every group, not only the one that set it aside:
  both consumers are idempotent by event id, so the group that took it the
  first time changes nothing, and a group that fails on it again sets it
  aside again as a new dead letter. Simpler and safer than a private
  per-group stream, which would need its own consumer.
- `tollgate reconcile` fails while any dead letter is unresolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.client_input import cap
from shared.redis_conn import Redis

DEAD_STREAM = "tg:usage:dead"
RESOLUTIONS = "tg:usage:dead:resolved"
REASON_MAX = 300
NOTE_MAX = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    action: str  # "resolved" or "retried"
    by: str
    note: str
    at: str
    retried_as: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    id: str
    entry_id: str
    group: str
    event_id: str | None
    reason: str
    at: str
    event: bytes
    resolution: Resolution | None = None


def shown(text: str, limit: int) -> str:
    """`text` safe to store and print: its first `limit` characters, control
    characters and surrogates escaped, and how many more there were."""
    # The mark `cap` adds is printable: escaping after the cut escapes only the text.
    return "".join(
        c if c.isprintable() and not "\ud800" <= c <= "\udfff" else f"\\x{{{ord(c):x}}}"
        for c in cap(text, limit)
    )


async def set_aside(
    redis: Redis,
    *,
    stream: str,
    group: str,
    entry_id: str,
    raw: bytes,
    event_id: str | None,
    reason: str,
) -> str:
    """Move one entry of `stream` to the dead stream and acknowledge it in `group`."""
    fields: dict[Any, Any] = {
        "entry_id": entry_id,
        "group": group,
        "event": raw,
        "event_id": shown(event_id, 200) if event_id else "",
        "reason": shown(reason, REASON_MAX),
        "at": _now(),
    }
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(DEAD_STREAM, fields)
        pipe.xack(stream, group, entry_id)
        dead_id, _ = await pipe.execute()
    return _text(dead_id)


async def listing(redis: Redis) -> list[DeadLetter]:
    """Every dead letter, oldest first, with its resolution if it has one."""
    entries: Any = await redis.xrange(DEAD_STREAM)
    resolutions = await redis.hgetall(RESOLUTIONS)
    found = {_text(key): _resolution(value) for key, value in resolutions.items()}
    return [
        _letter(_text(dead_id), fields, found.get(_text(dead_id))) for dead_id, fields in entries
    ]


async def unresolved(redis: Redis) -> list[DeadLetter]:
    return [letter for letter in await listing(redis) if letter.resolution is None]


async def find(redis: Redis, dead_id: str) -> DeadLetter | None:
    entries: Any = await redis.xrange(DEAD_STREAM, min=dead_id, max=dead_id)
    if not entries:
        return None
    resolution = await redis.hget(RESOLUTIONS, dead_id)
    return _letter(dead_id, entries[0][1], _resolution(resolution) if resolution else None)


async def resolve(redis: Redis, dead_id: str, *, by: str, note: str) -> bool:
    """Mark a dead letter resolved; False when it already was."""
    resolution = Resolution(action="resolved", by=by, note=shown(note, NOTE_MAX), at=_now())
    return bool(await redis.hsetnx(RESOLUTIONS, dead_id, _dumps(resolution)))


# Atomic: re-add the raw event and record the resolution naming its new entry
# id, unless the letter was resolved already.
_RETRY = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3])
local resolution = cjson.decode(ARGV[4])
resolution['retried_as'] = id
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(resolution))
return id
"""


async def retry(
    redis: Redis, letter: DeadLetter, *, stream: str, field: bytes, by: str, note: str
) -> str | None:
    """Add the letter's raw event to `stream` again and mark the letter retried;
    the new entry id, or None when the letter was resolved already."""
    resolution = Resolution(action="retried", by=by, note=shown(note, NOTE_MAX), at=_now())
    new_id = await redis.eval(
        _RETRY, 2, stream, RESOLUTIONS, letter.id, field, letter.event, _dumps(resolution)
    )
    return None if new_id is None else _text(new_id)


def _letter(dead_id: str, fields: dict[Any, Any], resolution: Resolution | None) -> DeadLetter:
    event_id = _text(fields.get(b"event_id", b""))
    return DeadLetter(
        id=dead_id,
        entry_id=_text(fields.get(b"entry_id", b"")),
        group=_text(fields.get(b"group", b"")),
        event_id=event_id or None,
        reason=_text(fields.get(b"reason", b"")),
        at=_text(fields.get(b"at", b"")),
        event=fields.get(b"event", b""),
        resolution=resolution,
    )


def _resolution(value: bytes | str) -> Resolution:
    try:
        return Resolution(**orjson.loads(value))
    except (orjson.JSONDecodeError, TypeError):  # written by hand: still a resolution
        return Resolution(action="resolved", by="", note=shown(_text(value), NOTE_MAX), at="")


def _dumps(resolution: Resolution) -> bytes:
    fields = {key: getattr(resolution, key) for key in Resolution.__dataclass_fields__}
    return orjson.dumps({key: value for key, value in fields.items() if value is not None})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
