"""Recording usage events: records and daily aggregates, exactly once.

`record_batch` is what the usage stream consumer calls with a batch of events
decoded by `shared.usage_event` (one that cannot be read never gets here: the
consumer dead-letters it). Rules it keeps:

- One transaction per batch, one set-based statement: the events travel as
  one array per column (`unnest`), records are inserted with
  `ON CONFLICT (event_id) DO NOTHING RETURNING`, and only the rows that
  statement really inserted are added to `usage.daily`. A redelivered or
  replayed event, or the same event twice in one batch, changes nothing.
- When the call returns, the batch is committed: the consumer may acknowledge
  its stream entries. When it raises, nothing of the batch is committed.
- Events are sorted by id and aggregates by key before they are written, so
  two consumers with overlapping batches lock rows in the same order; a
  deadlock or serialization failure that still happens is retried here, which
  is safe because the whole batch is idempotent.
- Database trouble propagates as asyncpg's own errors (`PostgresError`) or
  `OSError`: nothing of the batch is committed, and the stream consumer
  decides whether to retry the batch or split it to find an event at fault.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

import asyncpg

from services.usage.events import UsageRecord, record_of
from shared.usage_event import UsageEvent

_log = logging.getLogger(__name__)

_ATTEMPTS = 3
_COLUMNS = tuple(field.name for field in fields(UsageRecord))
_ROW = attrgetter(*_COLUMNS)
_TYPES = (
    "text", "timestamptz", "uuid", "uuid", "text", "text",
    "bigint", "bigint", "bigint", "bigint", "bigint",
    "numeric", "text", "integer", "text", "float8", "float8",
    "inet", "text", "boolean", "text", "uuid", "boolean",
)  # fmt: skip
_SUMMED = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "errors",
    "cost",
)

_RECORD_SQL = f"""
WITH incoming AS (
    SELECT * FROM unnest({", ".join(f"${i}::{t}[]" for i, t in enumerate(_TYPES, start=1))})
        AS t({", ".join(_COLUMNS)})
),
inserted AS (
    INSERT INTO usage.records ({", ".join(_COLUMNS)})
    SELECT {", ".join(_COLUMNS)} FROM incoming
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id, user_id, occurred_at, model, input_tokens, output_tokens,
              cache_read_tokens, cache_write_tokens, reasoning_tokens, status, cost
),
rolled_up AS (
    INSERT INTO usage.daily (user_id, day, model, {", ".join(_SUMMED)})
    SELECT user_id, (occurred_at AT TIME ZONE 'UTC')::date, model,
           count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
           sum(cache_write_tokens), sum(reasoning_tokens),
           count(*) FILTER (WHERE status <> 'ok'), coalesce(sum(cost), 0)
    FROM inserted
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (user_id, day, model) DO UPDATE SET
        {", ".join(f"{name} = daily.{name} + EXCLUDED.{name}" for name in _SUMMED)}
)
SELECT event_id FROM inserted
"""
assert len(_TYPES) == len(_COLUMNS)


@dataclass(frozen=True, kw_only=True)
class RecordResult:
    """What one batch did: every event given is in exactly one count."""

    recorded: int  # newly inserted, and added to the daily aggregates
    duplicates: int  # recorded before, or repeated within the batch


async def record_batch(pool: Any, events: Sequence[UsageEvent]) -> RecordResult:
    """Record a batch of decoded usage events in one transaction."""
    records = _unique(events)
    if not records:
        return RecordResult(recorded=0, duplicates=len(events))
    recorded = await _insert(pool, _column_arrays(records))
    return RecordResult(recorded=recorded, duplicates=len(events) - recorded)


def _unique(events: Sequence[UsageEvent]) -> list[UsageRecord]:
    """The first record of each event id, sorted by id."""
    by_id: dict[str, UsageRecord] = {}
    for event in events:
        if event.event_id not in by_id:
            by_id[event.event_id] = record_of(event)
    return [by_id[event_id] for event_id in sorted(by_id)]


def _column_arrays(records: list[UsageRecord]) -> list[list[Any]]:
    return [list(column) for column in zip(*map(_ROW, records), strict=True)]


async def _insert(pool: Any, columns: list[list[Any]]) -> int:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with pool.acquire() as connection, connection.transaction():
                inserted = await connection.fetch(_RECORD_SQL, *columns)
            return len(inserted)
        except asyncpg.TransactionRollbackError:
            if attempt == _ATTEMPTS:
                raise
            _log.info("usage batch rolled back by a conflict; retrying", extra={"attempt": attempt})
    raise AssertionError("unreachable")
