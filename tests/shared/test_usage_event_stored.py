"""Whatever the decoder accepts, both consumers store: generated events, real PostgreSQL.

The property behind "no single event can stop a consumer": an event
`shared.usage_event` reads (hostile text, edge-of-calendar times in any zone,
counts at their limits, junk details) never makes billing's or usage's SQL
fail. Hypothesis generates the events; billing and usage store them in the
run's database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.billing.charging import charge_batch
from services.usage.recording import record_batch
from shared import db as shared_db
from shared.usage_event import MAX_COUNT, UsageEventError, read
from tests.billing.conftest import add_price, price
from tests.usage.factory import usage_event

# NUL and lone surrogates (what PostgreSQL text cannot hold), controls, the rest.
HOSTILE = st.one_of(st.sampled_from(["\x00", "\ud800", "\udfff", "\x1b", "%"]), st.characters())
JUNK = st.one_of(
    st.text(alphabet=HOSTILE, max_size=300),
    st.text(max_size=600),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
TEXT_FIELDS = (
    "endpoint", "requested_model", "upstream_model", "status", "error_code", "usage_source",
    "user_agent", "hold_id", "client_ip", "key_id", "channel_id", "cost", "hold_amount",
    "ttfb_ms", "latency_ms", "http_status", "attempts", "stream", "partial", "reasoning_tokens",
)  # fmt: skip
COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
EDGES = st.sampled_from(
    [datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)]
)
TIMES = st.one_of(
    EDGES,
    st.datetimes(min_value=datetime(1, 1, 3), max_value=datetime(9999, 12, 29)).map(
        lambda moment: moment.replace(tzinfo=UTC)
    ),
)
ZONES = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    moment = draw(TIMES)
    zone = draw(ZONES)
    try:
        shown = moment.astimezone(zone).isoformat()
    except OverflowError:  # the calendar's edge in a zone past it: UTC then
        shown = moment.isoformat()
    event = usage_event(uuid.uuid4(), f"req_{uuid.uuid4().hex}", ts=shown)
    for name in draw(st.lists(st.sampled_from(TEXT_FIELDS), unique=True, max_size=8)):
        event[name] = draw(JUNK)
    event["requested_model"] = draw(st.one_of(st.just("m"), st.just(event["requested_model"])))
    for name in COUNTS:
        event[name] = draw(st.one_of(st.integers(0, 1000), st.just(MAX_COUNT)))
    return event


@pytest.fixture
async def pool(database_url: str, db: Any) -> AsyncIterator[Any]:
    """A pool like the services'; `db` empties the tables after the test."""
    async with shared_db.pool(database_url, max_size=2) as created:
        yield created


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(events(), min_size=1, max_size=5))
async def test_every_event_the_decoder_accepts_is_stored_by_both_consumers(
    pool: Any, batch: list[dict[str, Any]]
) -> None:
    if not await pool.fetchval("SELECT count(*) FROM billing.prices"):
        await add_price(pool, price(effective_from=datetime(1, 1, 2, tzinfo=UTC)))
    decoded = []
    for event in batch:
        try:
            decoded.append(read(event))
        except UsageEventError:
            continue  # refused: set aside by the consumer, never stored
    charged = await charge_batch(pool, decoded)
    recorded = await record_batch(pool, decoded)
    assert len(charged.charged) == recorded.recorded == len(decoded)
