"""The usage event (docs/usage-event.md, schema version 2), decoded once for every consumer.

Pure, no IO. A stream entry's raw bytes (`decode`), or an already parsed JSON
object (`read`), in; a frozen `UsageEvent` out, or `UsageEventError`. Billing
and usage read events only through here, so they can never disagree about
an event: both take it, or neither does (reconcile's invariant 3 compares
what they stored). Rules:

- The money fields decide. `v` (1 or 2), `event_id` (the idempotency key:
  1 to 200 characters, each storable), `user_id` (a UUID), `ts` (ISO 8601
  with a zone) and the five priced counts (`input_tokens`, `output_tokens`,
  `cache_read_tokens`, `cache_write_tokens`, `web_search_requests`: missing
  or null is 0; otherwise an integer 0 to `MAX_COUNT`) and, from version 2,
  `price_multiplier` (the caller's group multiplier: a decimal string above
  0 and at most `MAX_MULTIPLIER`; a version 1 event was priced at 1) must
  be readable, or the event is refused: never guessed, since a guessed charge can never be
  redone. Everything else is repaired, never refused, so an event whose
  money fields are readable is charged once whatever junk its other fields
  hold.
- Text keeps only what PostgreSQL `text` can hold: NUL and lone surrogates
  (which UTF-8 cannot encode) are removed, then the text is cut to its cap
  (`TEXT_CAPS`); empty becomes None. A hold id that needed repair is
  dropped (None): a changed id would name some other hold.
- Dates: `ts` is normalised to UTC. A time outside what both Python's
  calendar (years 1 to 9999) and PostgreSQL's timestamptz hold, with a day to
  spare at each end (so a day's arithmetic or another zone never overflows),
  is refused: `9999-12-31T23:59:59-14:00` is not a time to price at.
- Malformed details are repaired: ids that are not UUIDs, an address that
  is not an IP (a zone index is dropped: `inet` refuses it), non-finite or
  negative milliseconds, costs outside `numeric(30, 12)`, an `http_status`
  or `attempts` out of range become None; flags (`stream`, `partial`) other
  than `true` are false; a `reasoning_tokens` that is not a count (display
  only) becomes 0.
- JSON: orjson first; bytes it refuses (a lone surrogate escape, a number
  past a double, invalid UTF-8) are read again by the standard library, with
  invalid UTF-8 replaced, so the money fields still decide.
- `UsageEventError` names the field and the event id when it is usable,
  never a value: event content is not for logs.
"""

from __future__ import annotations

import decimal
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import orjson

SCHEMA_VERSION = 2  # what the gateway writes
VERSIONS = (1, 2)  # what consumers read: version 1 is version 2 with a multiplier of 1
MAX_MULTIPLIER = Decimal(100)  # auth.groups' CHECK
MULTIPLIER_PLACES = 4  # auth.groups' and billing's numeric(10, 4)
MAX_EVENT_ID = 200
MAX_COUNT = 10**12  # far above any real request; keeps costs inside numeric(30, 12)
MAX_MONEY = Decimal(10) ** 18  # numeric(30, 12) holds 18 integer digits
MAX_ATTEMPTS = 1000
MONEY_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "web_search_requests",
)
TEXT_CAPS = {
    "endpoint": 64,
    "requested_model": 200,
    "upstream_model": 200,
    "status": 32,
    "error_code": 200,
    "usage_source": 32,
    "user_agent": 512,
    "hold_id": 200,
}
# What PostgreSQL text (UTF-8) cannot hold: NUL, and surrogates, which are not
# characters and have no UTF-8 form.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Python's datetime ends at 0001-01-01 and 9999-12-31; PostgreSQL's reaches beyond both.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
_MONEY_PLACES = Decimal(1).scaleb(-12)
_MONEY_CONTEXT = decimal.Context(prec=60)


class UsageEventError(ValueError):
    """The event cannot be read; `field` says which part, `event_id` which event."""

    def __init__(self, field: str, problem: str, event_id: str | None = None) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.event_id = event_id


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageEvent:
    """Every field of docs/usage-event.md, checked and repaired."""

    v: int
    event_id: str
    ts: datetime  # UTC
    user_id: uuid.UUID
    key_id: uuid.UUID | None
    channel_id: uuid.UUID | None
    endpoint: str | None
    requested_model: str | None
    upstream_model: str | None
    stream: bool
    status: str | None
    http_status: int | None
    error_code: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    web_search_requests: int
    usage_source: str | None
    partial: bool  # cut short, billed input plus delivered output; absent in older events
    ttfb_ms: float | None
    latency_ms: float | None
    client_ip: str | None
    user_agent: str | None
    hold_id: str | None
    hold_amount: Decimal | None
    attempts: int | None
    cost: Decimal | None  # the gateway's estimate at its prices; billing prices again
    price_multiplier: Decimal = Decimal(1)  # the caller's group's; 1 in version 1

    @property
    def model(self) -> str | None:
        """The model priced: the requested one, else the upstream one."""
        return self.requested_model or self.upstream_model


def decode(raw: bytes | str) -> UsageEvent:
    """A stream entry's JSON, read; `UsageEventError` when it is not a usable event."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = _lenient_json(raw)
    if not isinstance(parsed, dict):
        raise UsageEventError("event", f"a JSON object is required, not {type(parsed).__name__}")
    return read(parsed)


def read(fields: Mapping[str, object]) -> UsageEvent:
    """An event already parsed from JSON, read."""
    event_id = _event_id(fields.get("event_id"))
    version = fields.get("v")
    if isinstance(version, bool) or not isinstance(version, int) or version not in VERSIONS:
        raise UsageEventError("v", "schema version 1 or 2 is required", event_id)
    multiplier = (
        Decimal(1) if version == 1 else _multiplier(fields.get("price_multiplier"), event_id)
    )
    counts = {name: _count(fields.get(name), name, event_id) for name in MONEY_COUNTS}
    texts = {name: _text(fields.get(name), cap) for name, cap in TEXT_CAPS.items()}
    raw_hold = fields.get("hold_id")
    return UsageEvent(
        v=version,
        event_id=event_id,
        ts=_timestamp(fields.get("ts"), event_id),
        user_id=_user_id(fields.get("user_id"), event_id),
        key_id=_uuid(fields.get("key_id")),
        channel_id=_uuid(fields.get("channel_id")),
        endpoint=texts["endpoint"],
        requested_model=texts["requested_model"],
        upstream_model=texts["upstream_model"],
        stream=fields.get("stream") is True,
        status=texts["status"],
        http_status=_small_int(fields.get("http_status"), 999),
        error_code=texts["error_code"],
        reasoning_tokens=_reasoning(fields.get("reasoning_tokens")),
        usage_source=texts["usage_source"],
        partial=fields.get("partial") is True,
        ttfb_ms=_milliseconds(fields.get("ttfb_ms")),
        latency_ms=_milliseconds(fields.get("latency_ms")),
        client_ip=_ip(fields.get("client_ip")),
        user_agent=texts["user_agent"],
        hold_id=texts["hold_id"] if texts["hold_id"] == raw_hold else None,
        hold_amount=_money(fields.get("hold_amount")),
        attempts=_small_int(fields.get("attempts"), MAX_ATTEMPTS),
        cost=_money(fields.get("cost")),
        price_multiplier=multiplier,
        **counts,
    )


def storable(text: str) -> str:
    """`text` without what PostgreSQL text cannot hold."""
    return _UNSTORABLE.sub("", text)


def _lenient_json(raw: bytes | str) -> object:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so is 4300+ digits
        raise UsageEventError("event", "not JSON") from None


def _event_id(value: object) -> str:
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_EVENT_ID
        or _UNSTORABLE.search(value)
    ):
        raise UsageEventError("event_id", f"a string of 1 to {MAX_EVENT_ID} storable characters")
    return value


def _user_id(value: object, event_id: str) -> uuid.UUID:
    found = _uuid(value)
    if found is None:
        raise UsageEventError("user_id", "a UUID is required", event_id)
    return found


def _timestamp(value: object, event_id: str) -> datetime:
    if not isinstance(value, str):
        raise UsageEventError("ts", "an ISO 8601 time with a zone is required", event_id)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageEventError("ts", "not an ISO 8601 time", event_id) from None
    if parsed.tzinfo is None:
        raise UsageEventError("ts", "must carry a time zone", event_id)
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc <= LATEST:
        raise UsageEventError("ts", "outside 0001-01-02 to 9999-12-30 in UTC", event_id)
    return in_utc


def _count(value: object, name: str, event_id: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise UsageEventError(name, f"an integer from 0 to {MAX_COUNT} is required", event_id)
    return value


def _multiplier(value: object, event_id: str) -> Decimal:
    """A money field: an unreadable multiplier is refused, never guessed."""
    problem = f"a decimal string above 0 and at most {MAX_MULTIPLIER} is required"
    if not isinstance(value, str) or len(value) > 64:
        raise UsageEventError("price_multiplier", problem, event_id)
    try:
        multiplier = Decimal(value)
    except decimal.InvalidOperation:
        raise UsageEventError("price_multiplier", problem, event_id) from None
    if not multiplier.is_finite() or not 0 < multiplier <= MAX_MULTIPLIER:
        raise UsageEventError("price_multiplier", problem, event_id)
    exponent = multiplier.normalize().as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -MULTIPLIER_PLACES:
        # The ledger keeps it as numeric(10, 4): what is charged is what it shows.
        raise UsageEventError("price_multiplier", f"at most {MULTIPLIER_PLACES} places", event_id)
    return multiplier.normalize()


def _reasoning(value: object) -> int:
    try:
        return _count(value, "reasoning_tokens", "")
    except UsageEventError:
        return 0


def _small_int(value: object, maximum: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        return None
    return value


def _text(value: object, cap: int) -> str | None:
    if not isinstance(value, str):
        return None
    return storable(value)[:cap] or None


def _uuid(value: object) -> uuid.UUID | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _money(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or _too_long(value):
        return None
    try:
        amount = Decimal(str(value))
    except (decimal.InvalidOperation, ValueError):  # ValueError: an int too long to print
        return None
    if not amount.is_finite() or not 0 <= amount < MAX_MONEY:
        return None
    # numeric(30, 12) rounds to 12 places anyway; an exponent like 1e-999999 must
    # not reach it unrounded.
    return amount.quantize(_MONEY_PLACES, context=_MONEY_CONTEXT)


def _too_long(value: str | int | float) -> bool:
    return isinstance(value, str) and len(value) > 64


def _milliseconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _ip(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        address = ipaddress.ip_address(value.partition("%")[0])
    except ValueError:
        return None
    return str(address)
