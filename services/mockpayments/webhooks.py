"""Webhook delivery, one outbox per provider: signed posts with retries, and
the faults a test asks for (copies, delay, drop, bad signature, hold, reorder).

Each event's body is serialized once; every copy and every retry posts those
same bytes, signed afresh at the moment of the attempt (as the providers do).
First attempts go out one event at a time in the order the events happened,
unless a fault says otherwise; a copy that gets no 2xx is retried after each
of `retry_delays` in turn, then the event counts as failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from shared import tasks

_log = logging.getLogger(__name__)
TIMEOUT = aiohttp.ClientTimeout(total=10)
WRONG = b"-not-the-secret"


class Clock:
    """Real time plus an offset a test may set (`POST /_mock/clock`)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


def hmac_hex(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def stripe_headers(secret: str, body: bytes, timestamp: int, bad: bool) -> dict[str, str]:
    """Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    key = secret.encode() + (WRONG if bad else b"")
    signature = hmac_hex(key, f"{timestamp}.".encode() + body)
    return {
        "Stripe-Signature": f"t={timestamp},v1={signature}",
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }


def creem_headers(secret: str, body: bytes, timestamp: int, bad: bool) -> dict[str, str]:
    """creem-signature: the hex HMAC-SHA256 of the raw body."""
    key = secret.encode() + (WRONG if bad else b"")
    return {"creem-signature": hmac_hex(key, body), "Content-Type": "application/json"}


Signer = Callable[[str, bytes, int, bool], dict[str, str]]


@dataclass(kw_only=True)
class Faults:
    """What happens to one next event."""

    copies: int = 1  # posted this many times at once
    delay: float = 0.0  # seconds before the first attempt
    drop: bool = False  # never sent: a lost webhook
    bad_signature: bool = False  # signed with the wrong secret
    hold: bool = False  # kept until `release`

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Faults:
        copies = body.get("copies", body.get("duplicate", 1))
        delay = body.get("delay", 0)
        if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= 100:
            raise ValueError("copies must be an integer from 1 to 100")
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 3600:
            raise ValueError("delay must be seconds from 0 to 3600")
        flags = {}
        for name in ("drop", "bad_signature", "hold"):
            value = body.get(name, False)
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            flags[name] = value
        return cls(copies=copies, delay=float(delay), **flags)


@dataclass(kw_only=True)
class ApiFault:
    """What happens to one next API call to a provider."""

    delay: float = 0.0  # seconds before the answer (after the work is done)
    status: int | None = None  # answer this error status instead, doing nothing
    pay_first: bool = False  # a checkout created is paid before the answer goes back

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ApiFault:
        delay = body.get("delay", 0)
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= 600:
            raise ValueError("delay must be seconds from 0 to 600")
        status = body.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError("status must be an HTTP error status (400 to 599)")
        pay_first = body.get("pay_first", False)
        if not isinstance(pay_first, bool):
            raise ValueError("pay_first must be true or false")
        return cls(delay=float(delay), status=status, pay_first=pay_first)


@dataclass(kw_only=True)
class Delivery:
    event_id: str
    event_type: str
    body: bytes
    status: str = "pending"  # pending, delivered, failed, dropped, held, no_endpoint
    attempts: list[dict[str, Any]] = field(default_factory=list)


class Outbox:
    def __init__(
        self,
        provider: str,
        *,
        url: str,
        secret: str,
        signer: Signer,
        clock: Clock,
        retry_delays: tuple[float, ...],
    ) -> None:
        self.provider = provider
        self.url = url
        self.secret = secret
        self.retry_delays = retry_delays
        self._signer = signer
        self._clock = clock
        self.deliveries: dict[str, Delivery] = {}
        self._faults: list[Faults] = []
        self._reorder_left = 0
        self._reorder_buffer: list[tuple[Delivery, Faults]] = []
        self._held: list[tuple[Delivery, Faults]] = []
        self._queue: asyncio.Queue[tuple[Delivery, Faults, bool]] = asyncio.Queue()
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    # -- test controls ---------------------------------------------------

    def add_faults(self, faults: Faults, count: int) -> None:
        self._faults.extend(Faults(**vars(faults)) for _ in range(count))

    def reorder(self, count: int) -> None:
        """The next `count` events are sent in reverse order, once all happened."""
        self._reorder_left = count

    def release(self, reverse: bool = False) -> int:
        held, self._held = self._held, []
        for delivery, faults in reversed(held) if reverse else held:
            faults.hold = False
            delivery.status = "pending"
            self._queue.put_nowait((delivery, faults, False))
        return len(held)

    def resend(self, event_id: str, faults: Faults) -> bool:
        delivery = self.deliveries.get(event_id)
        if delivery is None or not self.url:
            return False
        self._queue.put_nowait((delivery, faults, False))
        return True

    def reset(self) -> None:
        self.deliveries.clear()
        self._faults.clear()
        self._held.clear()
        self._reorder_left = 0
        self._reorder_buffer.clear()

    def delivered(self, event_id: str) -> bool:
        delivery = self.deliveries.get(event_id)
        return delivery is not None and delivery.status == "delivered"

    def pending(self, event_id: str) -> bool:
        delivery = self.deliveries.get(event_id)
        return delivery is not None and delivery.status in {"pending", "held"}

    # -- emitting --------------------------------------------------------

    def emit(self, event_id: str, event_type: str, body: bytes) -> None:
        delivery = Delivery(event_id=event_id, event_type=event_type, body=body)
        self.deliveries[event_id] = delivery
        if not self.url:
            delivery.status = "no_endpoint"
            return
        faults = self._faults.pop(0) if self._faults else Faults()
        if faults.drop:
            delivery.status = "dropped"
            _log.info("webhook dropped", extra={"event": event_id, "provider": self.provider})
            return
        if faults.hold:
            delivery.status = "held"
            self._held.append((delivery, faults))
            return
        if self._reorder_left > 0:
            self._reorder_buffer.append((delivery, faults))
            self._reorder_left -= 1
            if self._reorder_left == 0:
                buffered, self._reorder_buffer = self._reorder_buffer, []
                for item in reversed(buffered):
                    self._queue.put_nowait((*item, False))
            return
        self._queue.put_nowait((delivery, faults, False))

    # -- sending ---------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        self._worker = tasks.spawn(self._dispatch(), name=f"webhooks-{self.provider}")

    async def stop(self) -> None:
        pending = [t for t in (self._worker, *self._running) if t is not None]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _dispatch(self) -> None:
        while True:
            delivery, faults, delayed = await self._queue.get()
            if faults.delay > 0 and not delayed:
                self._spawn(self._later(delivery, faults))
                continue
            firsts = await asyncio.gather(
                *(self._attempt(delivery, faults.bad_signature, n) for n in range(faults.copies))
            )
            for copy, ok in enumerate(firsts):
                if not ok:
                    self._spawn(self._retry(delivery, faults.bad_signature, copy))

    async def _later(self, delivery: Delivery, faults: Faults) -> None:
        await asyncio.sleep(faults.delay)
        self._queue.put_nowait((delivery, faults, True))

    def _spawn(self, coro: Any) -> None:
        task = tasks.spawn(coro, name=f"webhook-{self.provider}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _retry(self, delivery: Delivery, bad: bool, copy: int) -> None:
        for wait in self.retry_delays:
            await asyncio.sleep(wait)
            if await self._attempt(delivery, bad, copy):
                return
        if delivery.status != "delivered":
            delivery.status = "failed"

    async def _attempt(self, delivery: Delivery, bad: bool, copy: int) -> bool:
        assert self._session is not None
        timestamp = int(self._clock.now())
        headers = self._signer(self.secret, delivery.body, timestamp, bad)
        record: dict[str, Any] = {
            "copy": copy,
            "at": timestamp,
            "bad_signature": bad,
            "status": None,
            "error": None,
        }
        delivery.attempts.append(record)
        try:
            async with self._session.post(self.url, data=delivery.body, headers=headers) as answer:
                await answer.read()
                record["status"] = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            record["error"] = type(exc).__name__
            return False
        ok = 200 <= answer.status < 300
        if ok:
            delivery.status = "delivered"
        _log.info(
            "webhook posted",
            extra={
                "provider": self.provider,
                "event": delivery.event_id,
                "type": delivery.event_type,
                "status": answer.status,
            },
        )
        return ok

    def report(self) -> list[dict[str, Any]]:
        return [
            {
                "event_id": d.event_id,
                "type": d.event_type,
                "status": d.status,
                "attempts": list(d.attempts),
            }
            for d in self.deliveries.values()
        ]
