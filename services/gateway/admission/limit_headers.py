"""The rate-limit headers of each client family, on answers and on 429s (DESIGN 13).

Pure: no IO. A client's SDK or tooling reads its provider's own headers, so
the gateway speaks them: OpenAI `x-ratelimit-{limit,remaining,reset}-
{requests,tokens}` (the reset a Go-style duration: `6s`, `1m0s`, `250ms`),
Anthropic `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`
(the reset an RFC 3339 time, in UTC, rounded up to the second). Gemini
answers carry none beyond `Retry-After` on a 429.

When a key's and an account's limit of one kind both apply, the headers
describe the one with the fewest left. Tokens remaining count the request's
worst case as taken (its reserve settles when its usage event is published).
Concurrency has no header in any family; a 429 for it carries `Retry-After`.
Only a request admitted against some limit gets headers: one with no limit
set gets none and costs nothing here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from services.gateway.relay.apis import Family
from shared.limits import Kind, Refusal, Standing

# What the relay set for its answer (admitted or refused); `apply` writes it.
LIMIT_HEADERS = web.RequestKey("limit_headers", dict[str, str])

_OPENAI_NAMES = {Kind.RPM: "requests", Kind.TPM: "tokens"}


def go_duration(ms: int) -> str:
    """A duration as OpenAI writes its resets: `250ms`, `6s`, `1.5s`, `1m0s`."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    minutes, rest = divmod(ms, 60_000)
    seconds = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def rfc3339(now: datetime, after_ms: int) -> str:
    at = now + timedelta(milliseconds=after_ms)
    if at.microsecond:
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _render(
    family: Family, kind: Kind, limit: int, remaining: int, reset_ms: int, now: datetime
) -> dict[str, str]:
    if family is Family.OPENAI:
        name = _OPENAI_NAMES[kind]
        return {
            f"x-ratelimit-limit-{name}": str(limit),
            f"x-ratelimit-remaining-{name}": str(remaining),
            f"x-ratelimit-reset-{name}": go_duration(reset_ms),
        }
    if family is Family.ANTHROPIC:
        name = _OPENAI_NAMES[kind]
        return {
            f"anthropic-ratelimit-{name}-limit": str(limit),
            f"anthropic-ratelimit-{name}-remaining": str(remaining),
            f"anthropic-ratelimit-{name}-reset": rfc3339(now, reset_ms),
        }
    return {}


def _tightest(standings: Iterable[Standing], kind: Kind) -> Standing | None:
    chosen: Standing | None = None
    for standing in standings:
        if standing.limit.kind is not kind:
            continue
        if chosen is None or (standing.remaining, -standing.reset_ms) < (
            chosen.remaining,
            -chosen.reset_ms,
        ):
            chosen = standing
    return chosen


def admitted_headers(
    family: Family, standings: tuple[Standing, ...], now: datetime
) -> dict[str, str]:
    """An admitted request's headers: where its tightest limits of each kind stand."""
    headers: dict[str, str] = {}
    for kind in (Kind.RPM, Kind.TPM):
        standing = _tightest(standings, kind)
        if standing is not None:
            headers.update(
                _render(
                    family,
                    kind,
                    standing.limit.limit,
                    standing.remaining,
                    standing.reset_ms,
                    now,
                )
            )
    return headers


def refused_headers(family: Family, refusal: Refusal, now: datetime) -> dict[str, str]:
    """A 429's headers (besides `Retry-After`): the refusing limit, nothing left of it."""
    limit = refusal.limit
    if limit.kind is Kind.CONCURRENCY:
        return {}
    reset_ms = refusal.retry_after_ms if refusal.retry_after_ms is not None else 60_000
    return _render(family, limit.kind, limit.limit, 0, math.ceil(reset_ms), now)


async def apply(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the headers the relay set, on its answer (streams
    are prepared deep in the relay; this reaches them and errors alike)."""
    headers = request.get(LIMIT_HEADERS)
    if headers:
        response.headers.update(headers)
