"""Reserving a request's worst-case cost before it is relayed.

One Redis round trip in the common case (the atomic place script, sent in
one pipeline with the other requests' commands of the same loop turn:
`redis_batch`). When Redis
has no balance snapshot for the user (a first request, or Redis lost its
data), the balance is fetched from billing once, installed (never over a
newer one), and the hold tried again. When Redis does not answer, the request
is refused with 503: nothing is relayed unmetered. A placed hold is renewed
while its request runs (`hold_keeper`), until the relay says it `ended`.
The place script lets the user's expired holds go only below billing's last
read watermark (`billing_progress`), with no extra round trip.

Limits (DESIGN 13, `shared/limits.py`): a request with limits set sends the
limited place script instead, in the same single command: the limits are
checked, the hold placed, and only then the limits taken; a refusal by a
limit is a 429 (`admission.limits.LimitExceeded`) that took nothing. A
request with none sends exactly the command it always did. The request's
concurrency slots are renewed with its hold while it runs (`hold_keeper`).

A key's spend budget (`admission.key_budget`) is one more limit of that
script. When its counter for the period is missing (a new period, Redis lost
it), the script takes nothing and says so; the counter is seeded from the
usage service (what the key spent in the period, by its usage records) and
the hold tried again, as a missing balance snapshot is fetched from billing.

The place script answers what is left above the floor once the hold is
placed, and where the limits stand; the gate remembers both per user
(`headroom`), and `covers` says whether they cover a request several times
over, for the hold off the latency path (`relay/optimistic_hold.py`). Any
refusal forgets them.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import aiohttp
from redis.exceptions import NoScriptError, RedisError

from services.gateway.admission import key_budget
from services.gateway.admission.key_budget import PlannedBudget
from services.gateway.admission.limits import LimitExceeded
from services.gateway.metering.billing_progress import BillingProgress
from services.gateway.metering.headroom import Headroom
from services.gateway.metering.hold_keeper import HoldKeeper
from shared.errors import PaymentRequired, ServiceUnavailable
from shared.holds import Holds, Placed, Snapshot, parse_placed, to_nano_up
from shared.internal import TOKEN_HEADER
from shared.limits import Kind, Limit, LimitedPlace, Standing, parse_place_reply
from shared.redis_batch import CommandBatcher


class HoldGate:
    def __init__(
        self,
        holds: Holds,
        batch: CommandBatcher,
        keeper: HoldKeeper,
        progress: BillingProgress,
        session: aiohttp.ClientSession,
        billing_url: str,
        token: str,
        usage_url: str,
        optimistic_multiple: int = 0,
    ) -> None:
        self._holds = holds
        self._batch = batch
        self._keeper = keeper
        self._progress = progress
        self._session = session
        self._billing_url = billing_url
        self._token = token
        self._usage_url = usage_url
        # The last-seen balance and limits, for the hold off the latency path.
        self.headroom = Headroom(optimistic_multiple)

    def covers(self, user_id: uuid.UUID, amount: Decimal, applied: tuple[Limit, ...]) -> bool:
        """Whether this request's hold may go with its upstream request (`headroom`)."""
        return self.headroom.covers(user_id, to_nano_up(amount), applied)

    async def reserve(
        self,
        user_id: uuid.UUID,
        hold_id: str,
        amount: Decimal,
        applied: tuple[Limit, ...] = (),
        budget: PlannedBudget | None = None,
    ) -> tuple[Standing, ...]:
        """Hold `amount` (and take the `applied` limits with it, `budget`'s among
        them when the key has one); where the limits stand."""
        if applied:
            return await self._reserve_limited(user_id, hold_id, amount, applied, budget)
        try:
            placed, available = await self._place(user_id, hold_id, amount)
            if placed is Placed.NO_SNAPSHOT:
                await self._holds.install(user_id, await self._snapshot(user_id))
                placed, available = await self._place(user_id, hold_id, amount, batch=False)
        except (RedisError, OSError) as exc:
            self.headroom.clear()  # hold first for everyone until Redis answers again
            raise ServiceUnavailable("metering is unavailable; try again shortly") from exc
        if placed is not Placed.PLACED:
            self.headroom.forget(user_id)
            raise _refused(amount)
        self.headroom.saw(user_id, available, ())
        self._keeper.opened(user_id, hold_id, _now_ms())
        return ()

    async def _reserve_limited(
        self,
        user_id: uuid.UUID,
        hold_id: str,
        amount: Decimal,
        applied: tuple[Limit, ...],
        budget: PlannedBudget | None,
    ) -> tuple[Standing, ...]:
        try:
            outcome = await self._place_limited(user_id, hold_id, amount, applied)
            for _ in range(2):  # a budget's counter, a balance snapshot: each at most once
                if outcome.unseeded is not None and budget is not None:
                    await self._seed(budget)
                elif outcome.placed == Placed.NO_SNAPSHOT.value:
                    await self._holds.install(user_id, await self._snapshot(user_id))
                else:
                    break
                outcome = await self._place_limited(user_id, hold_id, amount, applied, batch=False)
        except (RedisError, OSError) as exc:
            self.headroom.clear()  # hold first for everyone until Redis answers again
            raise ServiceUnavailable("metering is unavailable; try again shortly") from exc
        if outcome.placed == Placed.PLACED.value:
            self.headroom.saw(user_id, outcome.available_nano, outcome.standings)
        else:
            self.headroom.forget(user_id)
        if outcome.refusal is not None:
            raise LimitExceeded(outcome.refusal)
        if outcome.budget_refusal is not None and budget is not None:
            raise key_budget.refused(budget, outcome.budget_refusal.left_nano, amount)
        if outcome.unseeded is not None:  # seeded twice and gone again: Redis is not keeping it
            raise ServiceUnavailable("metering is unavailable; try again shortly")
        if outcome.placed != Placed.PLACED.value:
            raise _refused(amount)
        slots = tuple(limit.key for limit in applied if limit.kind is Kind.CONCURRENCY)
        self._keeper.opened(user_id, hold_id, _now_ms(), slots)
        return outcome.standings

    async def _place_limited(
        self,
        user_id: uuid.UUID,
        hold_id: str,
        amount: Decimal,
        applied: tuple[Limit, ...],
        *,
        batch: bool = True,
    ) -> LimitedPlace:
        now_ms = _now_ms()
        purge_ms = self._progress.purge_before(now_ms)
        slot_expiry_ms = now_ms + self._keeper.slot_ttl_ms
        if batch:
            command = self._holds.place_limited_command(
                user_id, hold_id, amount, now_ms, applied, slot_expiry_ms, purge_ms=purge_ms
            )
            try:
                return parse_place_reply(await self._batch.execute(*command), applied)
            except NoScriptError:  # loads it
                pass
        return await self._holds.place_limited(
            user_id, hold_id, amount, now_ms, applied, slot_expiry_ms, purge_ms=purge_ms
        )

    def ended(self, hold_id: str) -> None:
        """The request is over: its hold is no longer renewed (billing settles it)."""
        self._keeper.closed(hold_id)

    async def _place(
        self, user_id: uuid.UUID, hold_id: str, amount: Decimal, *, batch: bool = True
    ) -> tuple[Placed, int | None]:
        """Batched with other requests' Redis commands of this loop turn."""
        now_ms = _now_ms()
        purge_ms = self._progress.purge_before(now_ms)
        if batch:
            command = self._holds.place_command(user_id, hold_id, amount, now_ms, purge_ms=purge_ms)
            try:
                return parse_placed(await self._batch.execute(*command))
            except NoScriptError:  # loads it
                pass
        return await self._holds.place_seeing(user_id, hold_id, amount, now_ms, purge_ms=purge_ms)

    async def _seed(self, budget: PlannedBudget) -> None:
        """Install the budget's counter with what the key spent in the period so far
        (the usage service's records: events still in the stream are not counted)."""
        url = f"{self._usage_url}/internal/keys/{budget.key_id}/spend"
        query = {"user_id": str(budget.user_id)}
        if budget.since is not None:
            query["since"] = budget.since.isoformat()
        try:
            async with self._session.get(
                url,
                params=query,
                headers={TOKEN_HEADER: self._token},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response:
                response.raise_for_status()
                spent = Decimal((await response.json())["spent"])
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError, ArithmeticError) as exc:
            raise ServiceUnavailable("usage is unavailable; try again shortly") from exc
        await self._holds.seed_budget(budget.limit.key, spent, budget.expire_at_ms)

    async def _snapshot(self, user_id: uuid.UUID) -> Snapshot:
        url = f"{self._billing_url}/internal/balances/{user_id}"
        try:
            async with self._session.get(
                url, headers={TOKEN_HEADER: self._token}, timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                response.raise_for_status()
                body = await response.json()
            return Snapshot(
                balance=Decimal(body["balance"]),
                floor=Decimal(body.get("floor", "0")),
                version=int(body.get("version", 0)),
            )
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            raise ServiceUnavailable("billing is unavailable; try again shortly") from exc


def _refused(amount: Decimal) -> PaymentRequired:
    return PaymentRequired(
        f"insufficient balance: this request may cost up to {amount.normalize():f} USD"
    )


def _now_ms() -> int:
    return int(time.time() * 1000)
