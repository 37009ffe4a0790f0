"""Failed-login throttling, per account and per client IP, in Redis.

Only failures count: each failed attempt bumps two fixed-window counters; an
attempt is refused with 429 while either is at its limit, whatever the
password, until the window ends (the Retry-After). The account counter is
keyed by a digest of the normalised login string, so unknown accounts are
throttled the same way as known ones and the key reveals no email.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.exceptions import RedisError

from shared.errors import ServiceUnavailable, TooManyRequests
from shared.redis_conn import Redis


@dataclass(frozen=True, kw_only=True)
class LoginLimits:
    per_account: int
    per_ip: int
    window_seconds: int


def _keys(login: str, ip: str | None) -> tuple[str, str]:
    account = hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]
    return f"tg:login-fail:acct:{account}", f"tg:login-fail:ip:{ip or 'unknown'}"


class LoginThrottle:
    def __init__(self, redis: Redis, limits: LoginLimits) -> None:
        self._redis = redis
        self._limits = limits

    async def check(self, login: str, ip: str | None) -> None:
        """Raise 429 when the account or the IP has failed too often."""
        account_key, ip_key = _keys(login, ip)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(account_key)
                pipe.get(ip_key)
                pipe.ttl(account_key)
                pipe.ttl(ip_key)
                account, per_ip, account_ttl, ip_ttl = await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("login throttling is unavailable; try again") from exc
        waits = []
        if account is not None and int(account) >= self._limits.per_account:
            waits.append(int(account_ttl))
        if per_ip is not None and int(per_ip) >= self._limits.per_ip:
            waits.append(int(ip_ttl))
        if waits:
            raise TooManyRequests(
                "too many failed logins; try again later",
                retry_after=max(max(waits), 1),
            )

    async def record_failure(self, login: str, ip: str | None) -> None:
        window = self._limits.window_seconds
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in _keys(login, ip):
                    pipe.incr(key)
                    pipe.expire(key, window, nx=True)
                await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("login throttling is unavailable; try again") from exc
