"""Redis pub/sub channels that tell every process to drop cached objects.

Publishers send the id of what changed; a `Follower` in each subscribing
process hands each notice to the handler of its channel. While the
subscription is down a process may miss notices, so the follower tells its
owner (`on_live(False)`) to stop trusting its caches, and again
(`on_live(True)`) once it is subscribed, when caches must be refilled from the
source.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from redis.exceptions import RedisError

from shared.redis_conn import Redis
from shared.tasks import sleep_unless

KEY_REVOKED = "tg:invalidate:api-key"
CHANNELS_CHANGED = "tg:invalidate:channels"
PRICES_CHANGED = "tg:invalidate:prices"
# A user's password, email or role changed: every JWT and session of that user
# issued before is void (the notice is the user id; see auth's token generation).
USER_CREDENTIALS_CHANGED = "tg:invalidate:user-credentials"
# Auth signs with a new key (`tollgate admin rotate-signing-key`): gateways
# fetch the JWKS at once, not at their next unknown-kid refresh window.
SIGNING_KEYS_CHANGED = "tg:invalidate:signing-keys"
# One browser session was revoked (the notice is the session id).
SESSION_REVOKED = "tg:invalidate:session"
# A group's price multiplier or default limits changed, or it was deleted (the
# notice is the group's name): drop every cached key principal and user policy.
GROUPS_CHANGED = "tg:invalidate:groups"

_POLL_SECONDS = 0.2
_log = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[None]]
LiveHandler = Callable[[bool], Awaitable[None]]


async def publish(redis: Redis, channel: str, notice: str) -> bool:
    """Best effort: the source of truth has already changed when this is sent."""
    try:
        await redis.publish(channel, notice)
    except RedisError:
        _log.warning("could not publish an invalidation", extra={"channel": channel})
        return False
    return True


class Follower:
    def __init__(self, redis: Redis, handlers: Mapping[str, Handler], on_live: LiveHandler) -> None:
        self._redis = redis
        self._handlers = dict(handlers)
        self._on_live = on_live

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set. It polls and checks `stop` rather than relying
        on task cancellation, which redis-py's pubsub read can swallow."""
        while not stop.is_set():
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(*self._handlers)
                    await self._on_live(True)
                    await self._dispatch(pubsub, stop)
            except (RedisError, OSError) as exc:
                _log.warning("invalidation feed lost", extra={"reason": str(exc)})
                await self._on_live(False)
                await sleep_unless(stop, 1.0)
        await self._on_live(False)

    async def _dispatch(self, pubsub: object, stop: asyncio.Event) -> None:
        while not stop.is_set():
            message = await pubsub.get_message(  # type: ignore[attr-defined]
                ignore_subscribe_messages=True, timeout=_POLL_SECONDS
            )
            if message is None or message.get("type") != "message":
                continue
            channel = _text(message["channel"])
            handler = self._handlers.get(channel)
            if handler is not None:
                await self._deliver(handler, channel, _text(message["data"]))

    async def _deliver(self, handler: Handler, channel: str, notice: str) -> None:
        # One failing cache must not stop the notices every other cache needs
        # (a missed key revocation is a security hole).
        try:
            await handler(notice)
        except Exception:
            _log.exception("invalidation handler failed", extra={"channel": channel})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
