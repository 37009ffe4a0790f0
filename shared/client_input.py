"""Text and times from clients: what may be taken in, and how it is quoted back.

Pure. Every service checks client text once, where it enters (a body field,
a query or path parameter, a relayed model name), with these rules:

- NUL is never taken: PostgreSQL's text cannot hold it, so a NUL that got in
  would fail every statement that carries it (an `/api` call with a 500, a
  batch of usage events forever). Lone surrogates (what an undecodable byte
  of a header becomes in Python) are refused too: they cannot be encoded as
  UTF-8, so neither PostgreSQL, orjson nor a log line can take them.
- Other control characters are refused in names and identifiers (a model, a
  key's name, a login); free text may hold tabs and line breaks; secrets
  (passwords, provider keys) may hold any but NUL.
- Lengths are checked against a limit given by the caller.
- Times must name an instant both PostgreSQL's timestamptz and Python's
  datetime can hold whatever the zone, with a day to spare at each end of
  Python's calendar (years 1 to 9999): a day's arithmetic on it, or viewing it
  in any zone, never overflows.
- A value that is only recorded, never checked (a user agent), is made
  recordable instead: NUL and lone surrogates replaced, capped. A header
  passed on (to an upstream) is made `encodable`: lone surrogates replaced.

A problem is worded without the value: no client string goes whole into an
error message or a log line. Where a value must be quoted back, `cap` cuts it
to a few dozen characters and says how much was left out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

# A model, alias or channel model name: far longer than any real one (the
# longest in use are under 100), short enough to quote in an error; the
# limit of prices, channels, aliases and the usage event's model fields too.
MODEL_NAME_MAX = 200
# How much of a client's string an error message or log line quotes.
QUOTE_MAX = 80

Controls = Literal["none", "lines", "any"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Unicode's Cc: C0, DEL and C1.
_CONTROLS: dict[Controls, re.Pattern[str]] = {
    "none": re.compile("[\x00-\x1f\x7f-\x9f]"),
    "lines": re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"),
    "any": re.compile("\x00"),
}
_CONTROL_PROBLEMS: dict[Controls, str] = {
    "none": "must not contain control characters",
    "lines": "must not contain control characters other than tabs and line breaks",
    "any": "must not contain NUL characters",
}
_UNRECORDABLE = re.compile("[\x00\ud800-\udfff]")

# Python's datetime ends at 0001-01-01 and 9999-12-31; PostgreSQL's
# timestamptz reaches far beyond both.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
_OUT_OF_RANGE = "outside the times this service keeps (0001-01-02 to 9999-12-30, in UTC)"


def cap(text: str, limit: int = QUOTE_MAX) -> str:
    """`text`, or its first `limit` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…(+{len(text) - limit} chars)"


def text_problem(value: str, *, max_length: int, controls: Controls = "lines") -> str | None:
    """What is wrong with `value` as client text, or None; never quotes it.

    `controls`: "none" for names and identifiers, "lines" for free text (tabs
    and line breaks allowed), "any" for secrets (only NUL refused).
    """
    if len(value) > max_length:
        return f"at most {max_length} characters"
    if "\x00" in value:
        return "must not contain NUL characters"
    if _CONTROLS[controls].search(value) is not None:
        return _CONTROL_PROBLEMS[controls]
    if _LONE_SURROGATE.search(value) is not None:
        return "must be valid Unicode text (it holds a lone surrogate)"
    return None


def name_problem(value: str, *, max_length: int = MODEL_NAME_MAX) -> str | None:
    """What is wrong with `value` as a name (a model, an alias), or None."""
    if not value.strip():
        return "must not be blank"
    return text_problem(value, max_length=max_length, controls="none")


def holds_nul(value: object) -> bool:
    """Whether a decoded JSON value has a NUL in any string, key or value, at any depth.

    A walk with its own stack: JSON nests deeper than Python's recursion limit.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def time_problem(value: datetime) -> str | None:
    """What is wrong with `value` as a client's time, or None."""
    if value.tzinfo is None:
        return "must carry a time zone (for example Z)"
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        return _OUT_OF_RANGE
    if not EARLIEST <= utc <= LATEST:
        return _OUT_OF_RANGE
    return None


def encodable(value: str) -> str:
    """`value` with each lone surrogate (an undecodable header byte) replaced by
    U+FFFD, so it can be encoded as UTF-8 again (to forward it, to log it)."""
    if value.isascii() or _LONE_SURROGATE.search(value) is None:
        return value
    return _LONE_SURROGATE.sub("\ufffd", value)


def recordable(value: str | None, max_length: int) -> str | None:
    """A value kept as the client sent it but never checked (a user agent):
    NUL and lone surrogates replaced by U+FFFD, cut to `max_length`; None when empty."""
    if not value:
        return None
    value = value[:max_length]
    if _UNRECORDABLE.search(value) is not None:
        value = _UNRECORDABLE.sub("\ufffd", value)
    return value
