"""Fault-injection controls: how a request asks the mock to misbehave.

Two spellings, same meaning; a model-name suffix wins over a header:

    header                 suffix key            meaning
    X-Mock-Chunks: N       chunks=N              N output pieces (default 8, 1..10000)
    X-Mock-Delay-Ms: N     delay=N (delay-ms)    sleep N ms before each piece
    X-Mock-Status: C       status=C              answer status C (400..599) in the
                                                 provider's error format before any
                                                 byte; 429 carries Retry-After: 1
    X-Mock-Reset-After: N  reset=N (reset-after) abort the TCP connection after N
                                                 pieces, without a clean end
    X-Mock-Stall: N        stall=N               after N pieces, send nothing more
                                                 until the client goes away
    X-Mock-Fixture: P      fixture=P             replay recorded file P (relative to
                                                 the fixtures dir) byte for byte
    X-Mock-Cache: read     cache=read|write      report half the prompt as cache
                                                 read (or, Anthropic, cache write)

The suffix follows the model name after its last `@`, comma-separated:
`gpt-4o-mini@chunks=5,delay=20,status=500`. It is stripped before answering and
the answer echoes the base name. A trailing `@...` without `=` is part of the
name (`claude-sonnet-4-5@20250929` stays whole).

"Pieces" are content events (text or tool-argument deltas); the preamble
(role chunk, `message_start`, `response.created`...) is always sent first. When
a reset or stall count is at least the number of pieces, it happens before the
trailer (finish chunk, usage, `[DONE]`, `message_stop`...). Non-streaming
requests: a reset aborts before any byte; a stall sends the headers and then
nothing; the delay is slept once per piece before the body. Fixture replays
count every SSE event as a piece.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from services.mockprovider.errors import BadRequest

DEFAULT_CHUNKS = 8
MAX_COUNT = 10_000
MAX_DELAY_MS = 60_000

CacheMode = Literal["none", "read", "write"]


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    chunks: int = DEFAULT_CHUNKS
    delay_ms: int = 0
    status: int | None = None
    reset_after: int | None = None
    stall_after: int | None = None
    fixture: str | None = None
    cache: CacheMode = "none"


_HEADERS = {
    "x-mock-chunks": "chunks",
    "x-mock-delay-ms": "delay_ms",
    "x-mock-status": "status",
    "x-mock-reset-after": "reset_after",
    "x-mock-stall": "stall_after",
    "x-mock-fixture": "fixture",
    "x-mock-cache": "cache",
}
_SUFFIX_KEYS = {
    "chunks": "chunks",
    "delay": "delay_ms",
    "delay-ms": "delay_ms",
    "status": "status",
    "reset": "reset_after",
    "reset-after": "reset_after",
    "stall": "stall_after",
    "fixture": "fixture",
    "cache": "cache",
}
_CACHE_MODES: dict[str, CacheMode] = {"none": "none", "read": "read", "write": "write"}
_BOUNDS = {
    "chunks": (1, MAX_COUNT),
    "delay_ms": (0, MAX_DELAY_MS),
    "status": (400, 599),
    "reset_after": (0, MAX_COUNT),
    "stall_after": (0, MAX_COUNT),
}


def split_model(model: str) -> tuple[str, str | None]:
    """`"gpt-4o-mini@chunks=5"` -> `("gpt-4o-mini", "chunks=5")`."""
    base, at, suffix = model.rpartition("@")
    if not at or "=" not in suffix:
        return model, None
    return base, suffix


def parse(headers: Mapping[str, str], suffix: str | None) -> Behaviour:
    """Headers first, then the model suffix over them; errors name the control."""
    behaviour = Behaviour()
    for header, field in _HEADERS.items():
        raw = headers.get(header)
        if raw is not None:
            behaviour = _apply(behaviour, field, raw.strip(), header)
    for item in (suffix or "").split(","):
        if not item.strip():
            continue
        key, eq, raw = item.partition("=")
        target = _SUFFIX_KEYS.get(key.strip().lower())
        if not eq or target is None:
            known = ", ".join(sorted(_SUFFIX_KEYS))
            raise BadRequest(f"model suffix control {item!r} is not one of {known} (key=value)")
        behaviour = _apply(behaviour, target, raw.strip(), f"model suffix {key.strip()}")
    return behaviour


def _apply(behaviour: Behaviour, field: str, raw: str, source: str) -> Behaviour:
    if field == "fixture":
        if not raw:
            raise BadRequest(f"{source} must name a fixture file")
        return replace(behaviour, fixture=raw)
    if field == "cache":
        mode = _CACHE_MODES.get(raw.lower())
        if mode is None:
            raise BadRequest(f"{source} must be none, read or write, got {raw!r}")
        return replace(behaviour, cache=mode)
    low, high = _BOUNDS[field]
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise BadRequest(f"{source} must be an integer from {low} to {high}, got {raw!r}")
    value = int(raw)
    match field:
        case "chunks":
            return replace(behaviour, chunks=value)
        case "delay_ms":
            return replace(behaviour, delay_ms=value)
        case "status":
            return replace(behaviour, status=value)
        case "reset_after":
            return replace(behaviour, reset_after=value)
        case _:
            return replace(behaviour, stall_after=value)
