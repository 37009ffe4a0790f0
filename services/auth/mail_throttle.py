"""How often one account may be sent a mail it asked for (resend, reset, sign-in
link), and how often one source may ask for password resets at all.

Per account and kind: one mail per `gap_seconds` and `per_day` a day, in
Redis. Asking again sooner gets the number of seconds to wait; the callers
decide what to answer (a 429 for a signed-in resend; nothing visible for a
password reset, whose answer must not depend on the account).

Per source (an IPv4 address or IPv6 /64, `throttle.source_of`): at most
`RESETS_PER_SOURCE` reset requests an hour, whatever the emails, so one
client cannot make auth look up addresses without end. That refusal (429)
depends only on the source, never on the email asked about.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

from services.auth.throttle import source_of
from shared.errors import ServiceUnavailable, TooManyRequests
from shared.redis_conn import Redis

DAY_SECONDS = 86400
RESETS_PER_SOURCE = 30
SOURCE_WINDOW_SECONDS = 3600


@dataclass(frozen=True, kw_only=True)
class MailLimit:
    kind: str
    gap_seconds: int = 60
    per_day: int = 10


VERIFY_RESEND = MailLimit(kind="verify-resend")
PASSWORD_RESET = MailLimit(kind="password-reset")
# A sign-in link (sign_in_link): asked for by a login, so at most one per 5 minutes.
SIGN_IN_LINK = MailLimit(kind="sign-in-link", gap_seconds=300)


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


async def admit_reset_request(redis: Redis, ip: str | None) -> None:
    """Count one reset request from this source; 429 past the hourly limit."""
    key = f"tg:mail-limit:reset-source:{source_of(ip)}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, SOURCE_WINDOW_SECONDS, nx=True)
            pipe.ttl(key)
            count, _, ttl = await pipe.execute()
    except RedisError as exc:
        raise ServiceUnavailable("password reset is unavailable just now; try again") from exc
    if int(count) > RESETS_PER_SOURCE:
        raise TooManyRequests(
            "too many password reset requests from this network; try again later",
            retry_after=max(int(ttl), 1),
        )
