"""Billing's watermark, measured from the billing group's state on a real stream.

Entries are added with explicit ids (1000-0, 2000-0, ...) so the expected
watermark is known; the group is driven as the consumer drives it
(XREADGROUP, XACK).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from services.billing.progress import GROUP, BillingProgress, LagAlert, ProgressMetrics
from services.billing.settings import Settings
from shared.holds import WATERMARK_KEY, read_watermark
from shared.settings import SettingsError, token_secret
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM

PRODUCTION = {"TOLLGATE_ENV": "production", "TOLLGATE_INTERNAL_TOKEN": token_secret()}


def _progress(
    redis: aioredis.Redis, threshold: float = 300
) -> tuple[BillingProgress, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = ProgressMetrics(registry, threshold)
    return BillingProgress(redis, metrics, LagAlert(threshold)), registry


async def _stream(redis: aioredis.Redis, *ms: int) -> None:
    """Entries with ids at these ms, and the billing group from the start."""
    for at in ms:
        await redis.xadd(USAGE_STREAM, {EVENT_FIELD: b"{}"}, id=f"{at}-0")
    await redis.xgroup_create(USAGE_STREAM, GROUP, id="0", mkstream=True)


async def _deliver(redis: aioredis.Redis, count: int) -> list[bytes]:
    reply: Any = await redis.xreadgroup(GROUP, "billing-test", {USAGE_STREAM: ">"}, count=count)
    return [entry_id for _, entries in reply for entry_id, _ in entries]


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------- measuring


async def test_no_billing_group_means_no_watermark(redis: aioredis.Redis) -> None:
    progress, _ = _progress(redis)
    assert await progress.measure() is None  # no stream
    await redis.xadd(USAGE_STREAM, {EVENT_FIELD: b"{}"}, id="1000-0")
    await redis.xgroup_create(USAGE_STREAM, "usage", id="0")
    assert await progress.measure() is None  # another group only
    assert await progress.step() is None
    assert await read_watermark(redis) is None


async def test_nothing_delivered_yet_the_first_entry_bounds_it(redis: aioredis.Redis) -> None:
    await _stream(redis, 1000, 2000, 3000)
    progress, _ = _progress(redis)
    measured = await progress.measure()
    assert measured is not None and measured.watermark_ms == 1000


async def test_the_oldest_pending_entry_bounds_it_then_the_next_undelivered(
    redis: aioredis.Redis,
) -> None:
    await _stream(redis, 1000, 2000, 3000, 4000)
    progress, _ = _progress(redis)
    first, second = await _deliver(redis, 2)  # a batch in hand, not committed
    assert (await progress.measure()).watermark_ms == 1000  # type: ignore[union-attr]
    await redis.xack(USAGE_STREAM, GROUP, first)  # acknowledged out of order: still bounded
    assert (await progress.measure()).watermark_ms == 2000  # type: ignore[union-attr]
    await redis.xack(USAGE_STREAM, GROUP, second)
    # Nothing pending: the first entry not yet delivered.
    assert (await progress.measure()).watermark_ms == 3000  # type: ignore[union-attr]


async def test_a_pending_entry_older_than_acknowledged_ones_holds_it_back(
    redis: aioredis.Redis,
) -> None:
    await _stream(redis, 1000, 2000, 3000)
    progress, _ = _progress(redis)
    first, second, third = await _deliver(redis, 3)
    await redis.xack(USAGE_STREAM, GROUP, second, third)
    assert (await progress.measure()).watermark_ms == 1000  # type: ignore[union-attr]


async def test_caught_up_it_is_redis_now(redis: aioredis.Redis) -> None:
    await _stream(redis, 1000, 2000)
    progress, _ = _progress(redis)
    await redis.xack(USAGE_STREAM, GROUP, *await _deliver(redis, 10))
    before = _now_ms()
    measured = await progress.measure()
    assert measured is not None
    assert measured.watermark_ms == measured.now_ms
    assert before - 1000 <= measured.watermark_ms <= _now_ms() + 1000  # Redis's clock
    assert measured.lag_seconds == 0


# ---------------------------------------------------------------- publishing


async def test_the_stored_watermark_never_moves_backwards(redis: aioredis.Redis) -> None:
    await _stream(redis, 1000, 2000)
    progress, _ = _progress(redis)
    stepped = await progress.step()
    assert stepped is not None and stepped.watermark_ms == 1000
    assert await read_watermark(redis) == 1000
    await redis.set(WATERMARK_KEY, b"garbage")  # not ours: replaced
    stepped = await progress.step()
    assert stepped is not None and stepped.watermark_ms == 1000
    await redis.set(WATERMARK_KEY, 5000)  # another replica measured later
    stepped = await progress.step()
    assert stepped is not None and stepped.watermark_ms == 5000
    assert await read_watermark(redis) == 5000
    await redis.xack(USAGE_STREAM, GROUP, *await _deliver(redis, 10))
    stepped = await progress.step()
    assert stepped is not None and stepped.watermark_ms > 5000  # caught up: now
    assert await read_watermark(redis) == stepped.watermark_ms


async def test_the_lag_is_a_gauge_beside_its_threshold(redis: aioredis.Redis) -> None:
    progress, registry = _progress(redis, threshold=120)
    assert math.isnan(registry.get_sample_value("tollgate_billing_lag_seconds") or 0.0)
    assert registry.get_sample_value("tollgate_billing_lag_alert_seconds") == 120
    old = _now_ms() - 60_000
    await _stream(redis, old, old + 1)
    await progress.step()
    lag = registry.get_sample_value("tollgate_billing_lag_seconds")
    assert lag is not None and 59 <= lag <= 70


# ---------------------------------------------------------------- the alert


def test_the_alert_says_each_crossing_once() -> None:
    alert = LagAlert(300)
    assert [alert.observe(lag) for lag in (0, 299, 300, 301, 900, 301, 12, 0, 400)] == [
        None,
        None,
        None,
        True,
        None,
        None,
        False,
        None,
        True,
    ]


async def test_a_lag_past_the_threshold_is_logged_once_per_crossing(
    redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    progress, _ = _progress(redis, threshold=5)
    old = _now_ms() - 60_000
    await _stream(redis, old)
    with caplog.at_level(logging.INFO, logger="services.billing.progress"):
        for _ in range(3):
            await progress.step()
        await redis.xack(USAGE_STREAM, GROUP, *await _deliver(redis, 10))
        for _ in range(3):
            await progress.step()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.endswith("progress")]
    assert said == [
        ("WARNING", "billing is behind the usage stream; holds stay until it catches up"),
        ("INFO", "billing is back within its lag threshold"),
    ]


def test_the_threshold_is_a_setting() -> None:
    assert Settings.from_env(PRODUCTION).lag_alert_seconds == 300
    env = {**PRODUCTION, "BILLING_LAG_ALERT_SECONDS": "90"}
    assert Settings.from_env(env).lag_alert_seconds == 90
    with pytest.raises(SettingsError, match="BILLING_LAG_ALERT_SECONDS"):
        Settings.from_env({**PRODUCTION, "BILLING_LAG_ALERT_SECONDS": "0"})
