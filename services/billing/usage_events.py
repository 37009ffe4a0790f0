"""What billing charges for one usage event: a thin projection of `shared.usage_event`.

Pure, no IO. The event schema is read in one place (`shared/usage_event.py`,
which decides what is refused and what is repaired); billing keeps only what
pricing and the dedupe record need: the event id, the user, the time, the
model priced (the requested model, else the upstream one, else none), the
token counts, the caller's group price multiplier (1 for a version 1 event)
and the hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.usage_event import MONEY_COUNTS, UsageEvent, UsageEventError, read

__all__ = ["TOKEN_FIELDS", "UsageCharge", "UsageEventError", "charge_of", "read_event"]

TOKEN_FIELDS = MONEY_COUNTS


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageCharge:
    """What one usage event asks billing to charge."""

    event_id: str
    user_id: uuid.UUID
    ts: datetime
    model: str | None
    hold_id: str | None
    key_id: uuid.UUID | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    web_search_requests: int = 0
    price_multiplier: Decimal = Decimal(1)

    @property
    def has_usage(self) -> bool:
        return any(getattr(self, name) for name in TOKEN_FIELDS)


def charge_of(event: UsageEvent) -> UsageCharge:
    return UsageCharge(
        event_id=event.event_id,
        user_id=event.user_id,
        ts=event.ts,
        model=event.model,
        hold_id=event.hold_id,
        key_id=event.key_id,
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cache_read_tokens=event.cache_read_tokens,
        cache_write_tokens=event.cache_write_tokens,
        web_search_requests=event.web_search_requests,
        price_multiplier=event.price_multiplier,
    )


def read_event(fields: Mapping[str, object]) -> UsageCharge:
    """The charge of an event held as a parsed JSON object (tests, benchmarks)."""
    return charge_of(read(fields))
