"""Throttling redemption attempts in Redis, against guessing codes.

The idea of auth's login throttle (`services/auth/throttle.py`), for codes:

- Only refusals count (a wrong, used or expired code), in fixed windows: per
  user and per source (an IPv4 address or an IPv6 /64). A successful
  redemption costs nothing, so a person redeeming a stack of real codes is
  never slowed.
- A user or a source at its limit gets 429 with Retry-After before the code is
  even looked at, whatever the code, so a guesser learns nothing more until
  the window ends. Another user on the same source is stopped too once the
  source is at its limit (a guesser with many accounts on one machine), and
  one user is stopped from every source (a guesser with many machines).
- With codes of 140 random bits, guessing is hopeless anyway; the throttle
  keeps a guesser from costing the database anything, and keeps a short or
  leaked-in-part code from being completed by brute force.
- Redis failing closes redemption with 503 rather than opening it.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

from shared.errors import ServiceUnavailable, TooManyRequests
from shared.redis_conn import Redis


@dataclass(frozen=True, kw_only=True)
class RedeemLimits:
    per_user: int = 10
    per_ip: int = 30
    window_seconds: int = 900


def source_of(ip: str | None) -> str:
    """One client: an IPv4 address, or the IPv6 /64 it is in (as auth counts)."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.version == 4:
        return str(address)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _keys(user_id: uuid.UUID, ip: str | None) -> tuple[str, str]:
    return (f"tg:redeem-fail:user:{user_id}", f"tg:redeem-fail:ip:{source_of(ip)}")


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("redemption is unavailable right now; try again")


class RedeemThrottle:
    def __init__(self, redis: Redis, limits: RedeemLimits) -> None:
        self._redis = redis
        self._limits = limits

    async def check(self, user_id: uuid.UUID, ip: str | None) -> None:
        """Raise 429 when this user or source may not try a code now."""
        keys = _keys(user_id, ip)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                for key in keys:
                    pipe.ttl(key)
                per_user, per_ip, user_ttl, ip_ttl = await pipe.execute()
        except RedisError as exc:
            raise _unavailable() from exc
        waits = []
        if per_user is not None and int(per_user) >= self._limits.per_user:
            waits.append(int(user_ttl))
        if per_ip is not None and int(per_ip) >= self._limits.per_ip:
            waits.append(int(ip_ttl))
        if waits:
            raise TooManyRequests(
                "too many codes refused; try again later", retry_after=max(max(waits), 1)
            )

    async def record_refusal(self, user_id: uuid.UUID, ip: str | None) -> None:
        window = self._limits.window_seconds
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in _keys(user_id, ip):
                    pipe.incr(key)
                    pipe.expire(key, window, nx=True)
                await pipe.execute()
        except RedisError as exc:
            raise _unavailable() from exc
