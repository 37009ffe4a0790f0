"""How often one account may be sent a mail it asked for (resend, reset).

Per account and kind: one mail per `gap_seconds` and `per_day` a day, in
Redis. Asking again sooner gets the number of seconds to wait; the callers
decide what to answer (a 429 for a signed-in resend; nothing visible for a
password reset, whose answer must not depend on the account).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

from shared.errors import ServiceUnavailable
from shared.redis_conn import Redis

DAY_SECONDS = 86400


@dataclass(frozen=True, kw_only=True)
class MailLimit:
    kind: str
    gap_seconds: int = 60
    per_day: int = 10


VERIFY_RESEND = MailLimit(kind="verify-resend")
PASSWORD_RESET = MailLimit(kind="password-reset")


async def wait_before(redis: Redis, limit: MailLimit, user_id: uuid.UUID) -> int:
    """Count one mail now: 0 when it may go, else the seconds to wait.
    503 when Redis is away (no mail goes out unthrottled)."""
    gap_key = f"tg:mail-limit:{limit.kind}:gap:{user_id}"
    day_key = f"tg:mail-limit:{limit.kind}:day:{user_id}"
    try:
        if not await redis.set(gap_key, b"1", nx=True, ex=limit.gap_seconds):
            return max(int(await redis.ttl(gap_key)), 1)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(day_key)
            pipe.expire(day_key, DAY_SECONDS, nx=True)
            pipe.ttl(day_key)
            count, _, day_ttl = await pipe.execute()
    except RedisError as exc:
        raise ServiceUnavailable("mail is unavailable just now; try again") from exc
    if int(count) > limit.per_day:
        return max(int(day_ttl), 1)
    return 0
