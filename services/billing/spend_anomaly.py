"""Spend anomalies: an hour's spend far above the account's usual (DESIGN 13).

What counts as one (`judge`, pure):

- The last hour: the current five-minute bucket and the eleven before it
  (55 to 60 minutes; spend is kept per five minutes, by the usage event's
  time, so a burst across a clock hour is seen whole).
- The account's usual hourly spend: what it spent in the seven days before
  the last hour, divided by the hours of that week it has been spending
  (from its first recorded spend in it, at least 1, at most 168). An account
  with no spend before the last hour has a usual of 0: the floor alone
  decides (its first hour above the floor is told, which is what a leaked key
  on a new account looks like).
- An anomaly: the account's last hour above `ANOMALY_MULTIPLE` (5) times its
  usual and above `ANOMALY_FLOOR_USD` (5). Each key whose own last hour is
  above both is named in it (and, with `ANOMALY_SUSPEND_KEY`, suspended);
  spend without a key (signed-in callers) counts for the account only.

Where it runs, and why a loop rather than a check at charge time: the usual
spend reads a week of an account's buckets, and the charge's transaction
holds the account locks every other charge of the user waits for; a check
there would lengthen the consumer's hottest transaction for every batch, to
catch something a minute later is still early enough. So the charge only
adds its spend to the account's bucket (`record_spend`: one set-based
statement per batch, under the locks the charge already holds, so one
account's rows never race), and `Detector`, a loop in billing's consumer
processes, looks every `ANOMALY_CHECK_SECONDS` (60), one process at a time
(a PostgreSQL advisory lock, as the payment reconciler), at the accounts
whose last hour is above the floor: the rest cannot be anomalies.

No flood: an account is mailed at most once per `ANOMALY_QUIET_HOURS` (24),
and a key suspended by an anomaly at most once in that window (its owner
can resume it without it being suspended again for the same burst). Both
come from `billing.spend_anomalies`, which keeps every anomaly acted on; a
row is the work queued for `anomaly_alerts.AlertWorker` (suspend the keys,
mail the user and the operators), done outside the detector's lock; the
worker looks for it every second, as the low-balance mailer does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from services.billing.charge_plan import PlannedCharge
from shared import tasks
from shared.service import DB
from shared.settings import Environ, SettingsError
from shared.settings import flag as read_flag
from shared.settings import integer as read_integer

_log = logging.getLogger(__name__)

LOCK_KEY = 0x73_70_6E_64  # one detector at a time, across billing processes
NO_KEY = uuid.UUID(int=0)  # spend without an API key (a signed-in caller)
BUCKET = "5 minutes"
KEPT_DAYS = 8  # buckets older than this are deleted: the usual looks back 7 days
ZERO = Decimal(0)


@dataclass(frozen=True, kw_only=True)
class AnomalySettings:
    """ANOMALY_* (README's settings table)."""

    multiple: Decimal = Decimal(5)
    floor_usd: Decimal = Decimal(5)
    quiet_hours: int = 24
    suspend_key: bool = False
    check_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Environ) -> AnomalySettings:
        return cls(
            multiple=_decimal(env, "ANOMALY_MULTIPLE", Decimal(5), low=Decimal(1)),
            floor_usd=_decimal(env, "ANOMALY_FLOOR_USD", Decimal(5), low=ZERO),
            quiet_hours=read_integer(env, "ANOMALY_QUIET_HOURS", 24, low=1, high=24 * 30),
            suspend_key=read_flag(env, "ANOMALY_SUSPEND_KEY", False),
            check_seconds=float(read_integer(env, "ANOMALY_CHECK_SECONDS", 60, low=1, high=3600)),
        )


def _decimal(env: Environ, name: str, default: Decimal, *, low: Decimal) -> Decimal:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SettingsError(f"{name} must be a decimal number, got {raw!r}") from None
    if not value.is_finite() or value < low or value > Decimal(1_000_000):
        raise SettingsError(f"{name} must be between {low} and 1000000, got {raw!r}")
    return value


# ---- in the charge's transaction -------------------------------------------------------


async def record_spend(connection: Any, charges: Sequence[PlannedCharge]) -> None:
    """Add what each event cost to its account's and key's five-minute bucket.
    Call inside the charge's transaction, with the users' accounts locked.
    Events more than a week old (a replay, a stalled consumer catching up far
    behind) are left out: they cannot change any hour the detector reads
    as the last one, and would only be deleted again."""
    costly = [charge for charge in charges if charge.cost > 0]
    if not costly:
        return
    await connection.execute(
        "INSERT INTO billing.spend_buckets AS s (user_id, key_id, bucket, spent) "
        f"SELECT user_id, key_id, date_bin('{BUCKET}', least(ts, now()), "
        "TIMESTAMPTZ '2000-01-01 00:00:00+00'), sum(cost) "
        "FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::numeric[]) "
        "AS e(user_id, key_id, ts, cost) "
        f"WHERE ts > now() - interval '{KEPT_DAYS - 1} days' "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 "
        "ON CONFLICT (user_id, key_id, bucket) DO UPDATE SET spent = s.spent + EXCLUDED.spent",
        [charge.event.user_id for charge in costly],
        [charge.event.key_id or NO_KEY for charge in costly],
        [charge.event.ts for charge in costly],
        [charge.cost for charge in costly],
    )


# ---- judging (pure) --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AccountSpend:
    """An account's last hour, its usual hourly spend, and its last hour per key."""

    user_id: uuid.UUID
    spent: Decimal
    usual: Decimal
    keys: Mapping[uuid.UUID, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Anomaly:
    user_id: uuid.UUID
    spent: Decimal
    usual: Decimal
    # The keys whose own last hour is above the threshold, biggest first.
    keys: tuple[tuple[uuid.UUID, Decimal], ...]


def above(amount: Decimal, usual: Decimal, settings: AnomalySettings) -> bool:
    """Above both the multiple of the usual and the floor."""
    return amount > settings.multiple * usual and amount > settings.floor_usd


def judge(spend: AccountSpend, settings: AnomalySettings) -> Anomaly | None:
    if not above(spend.spent, spend.usual, settings):
        return None
    keys = sorted(
        (
            (key_id, amount)
            for key_id, amount in spend.keys.items()
            if key_id != NO_KEY and above(amount, spend.usual, settings)
        ),
        key=lambda pair: (-pair[1], str(pair[0])),
    )
    return Anomaly(user_id=spend.user_id, spent=spend.spent, usual=spend.usual, keys=tuple(keys))


# ---- the detector ----------------------------------------------------------------------

_CANDIDATES = f"""
WITH w AS (
    SELECT date_bin('{BUCKET}', now(), TIMESTAMPTZ '2000-01-01 00:00:00+00')
           - interval '55 minutes' AS start
), recent AS (
    SELECT b.user_id, sum(b.spent) AS spent
    FROM billing.spend_buckets b, w
    WHERE b.bucket >= w.start
    GROUP BY b.user_id
    HAVING sum(b.spent) > $1
)
SELECT r.user_id, r.spent, w.start,
       coalesce((
           SELECT sum(h.spent) / greatest(1, least(168,
                      ceil(extract(epoch FROM w.start - min(h.bucket)) / 3600)))
           FROM billing.spend_buckets h
           WHERE h.user_id = r.user_id
             AND h.bucket >= w.start - interval '7 days' AND h.bucket < w.start
       ), 0) AS usual
FROM recent r, w
ORDER BY r.user_id
"""


async def find_anomalies(
    connection: Any, settings: AnomalySettings
) -> tuple[list[Anomaly], datetime | None]:
    """The accounts whose last hour is an anomaly now, and where that hour starts."""
    rows = await connection.fetch(_CANDIDATES, settings.floor_usd)
    if not rows:
        return [], None
    start: datetime = rows[0]["start"]
    per_key: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = {}
    for row in await connection.fetch(
        "SELECT user_id, key_id, sum(spent) AS spent FROM billing.spend_buckets "
        "WHERE user_id = ANY($1::uuid[]) AND bucket >= $2 GROUP BY user_id, key_id",
        [row["user_id"] for row in rows],
        start,
    ):
        per_key.setdefault(row["user_id"], {})[row["key_id"]] = row["spent"]
    found = []
    for row in rows:
        spend = AccountSpend(
            user_id=row["user_id"],
            spent=row["spent"],
            usual=row["usual"],
            keys=per_key.get(row["user_id"], {}),
        )
        anomaly = judge(spend, settings)
        if anomaly is not None:
            found.append(anomaly)
    return found, start


async def queue_actions(
    connection: Any, anomaly: Anomaly, window_start: datetime, settings: AnomalySettings
) -> bool:
    """Record the anomaly with what is left to do (a mail outside the account's
    quiet window, the keys not suspended by an anomaly within it); nothing
    when there is nothing to do. Whether a row was queued."""
    quiet = settings.quiet_hours * 3600
    mailed = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM billing.spend_anomalies WHERE user_id = $1 AND mail "
        "AND detected_at > now() - make_interval(secs => $2))",
        anomaly.user_id,
        quiet,
    )
    suspend: list[uuid.UUID] = []
    if settings.suspend_key and anomaly.keys:
        recent = await connection.fetch(
            "SELECT DISTINCT unnest(suspend_keys) AS key_id FROM billing.spend_anomalies "
            "WHERE user_id = $1 AND detected_at > now() - make_interval(secs => $2)",
            anomaly.user_id,
            quiet,
        )
        done = {row["key_id"] for row in recent}
        suspend = [key_id for key_id, _ in anomaly.keys if key_id not in done]
    if mailed and not suspend:
        return False
    await connection.execute(
        "INSERT INTO billing.spend_anomalies "
        "(user_id, window_start, spent, usual, keys, suspend_keys, mail) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, $6::uuid[], $7)",
        anomaly.user_id,
        window_start,
        anomaly.spent,
        anomaly.usual,
        [{"key_id": str(k), "spent": str(amount)} for k, amount in anomaly.keys],
        suspend,
        not mailed,
    )
    return True


async def run_once(pool: Any, settings: AnomalySettings) -> int | None:
    """One round, if no other process holds the detector's lock (None then):
    how many anomalies were queued. Old buckets are deleted on the way."""
    async with pool.acquire() as connection:
        if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            return None
        try:
            await connection.execute(
                "DELETE FROM billing.spend_buckets "
                f"WHERE bucket < now() - interval '{KEPT_DAYS} days'"
            )
            queued = 0
            async with connection.transaction():
                anomalies, start = await find_anomalies(connection, settings)
                for anomaly in anomalies:
                    assert start is not None
                    queued += await queue_actions(connection, anomaly, start, settings)
            if queued:
                _log.warning("spend anomalies queued", extra={"count": queued})
            return queued
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


def detecting(settings: AnomalySettings) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context running the detector in the background."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = tasks.spawn(_loop(app, stop, settings), name="spend-anomaly-detector")
        yield
        stop.set()
        await task

    return context


async def _loop(app: web.Application, stop: asyncio.Event, settings: AnomalySettings) -> None:
    while not stop.is_set():
        await tasks.sleep_unless(stop, settings.check_seconds)
        if stop.is_set():
            return
        try:
            await run_once(app[DB], settings)
        except Exception:  # the database is away: keep the loop, try again later
            _log.exception("spend anomaly round failed")
