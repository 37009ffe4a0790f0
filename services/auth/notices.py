"""Mail notices of account events the owner should hear about (issue 16, point 8).

- `key_created`: an API key was made (its name, prefix, the source IP), never
  the secret.
- `after_sign_in`: a sign-in from a source the account has not signed up or
  signed in from in the known-source window (LOGIN_KNOWN_SOURCE_DAYS). A
  source is an IPv4 address or an IPv6 /64 (`throttle.source_of`: one host's
  usual allocation, so privacy addresses do not mail at every sign-in). Not on
  the account's first sign-in ever (the sign-up itself told the owner
  nothing new), and not when the IP is unknown. Call it before the sign-in's
  own `login` event is recorded. At most one notice per (account, source) per
  day, so parallel sign-ins from a new place mail once.

Each notice is queued in a transaction with the user's language
(`mail.queue_to_user`) and the sender is woken after the commit. Text that
came from a client (the user agent) is cut short and stripped of controls.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from services.auth import mail
from services.auth.key_store import ApiKey
from services.auth.keys import SETTINGS
from services.auth.throttle import source_of
from shared.internal import Caller
from shared.mail.templates import Link
from shared.service import DB, REDIS

_log = logging.getLogger(__name__)

NEW_SOURCE_NOTICE_SECONDS = 86400
USER_AGENT_SHOWN = 200
# The console pages a notice links to (issue 17 builds them).
KEYS_PAGE = "/keys"
SESSIONS_PAGE = "/account/security"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _shown(text: str | None) -> str:
    if not text:
        return "unknown"
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned[:USER_AGENT_SHOWN]


async def _queue(
    app: web.Application,
    user_id: uuid.UUID,
    template: str,
    context: dict[str, object],
    page: str,
) -> None:
    pool: Any = app[DB]
    async with pool.acquire() as connection, connection.transaction():
        await mail.queue_to_user(
            app, connection, user_id, template, context, Link(path=page, query={})
        )
    mail.wake(app)


async def key_created(app: web.Application, key: ApiKey, who: Caller) -> None:
    await _queue(
        app,
        key.user_id,
        "key_created",
        {
            "key_name": key.name,
            "prefix": key.prefix,
            "ip": who.client_ip or "unknown",
            "time": _now(),
        },
        KEYS_PAGE,
    )


async def after_sign_in(app: web.Application, user_id: uuid.UUID, who: Caller) -> None:
    """Mail the owner when this sign-in comes from a new source (see the module's rules)."""
    if who.client_ip is None:
        return
    source = source_of(who.client_ip)
    pool: Any = app[DB]
    row = await pool.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM auth.security_events WHERE user_id = $1 AND kind = 'login')"
        " AS signed_in_before,"
        " EXISTS (SELECT 1 FROM auth.security_events WHERE user_id = $1"
        " AND kind IN ('signup', 'login') AND ip <<= $2::cidr"
        " AND created_at > now() - make_interval(days => $3)) AS known",
        user_id,
        source,
        app[SETTINGS].login_known_source_days,
    )
    if not row["signed_in_before"] or row["known"]:
        return
    if not await _claim(app, f"tg:sign-in-notice:{user_id}:{source}"):
        return
    await _queue(
        app,
        user_id,
        "new_sign_in",
        {"ip": who.client_ip, "user_agent": _shown(who.user_agent), "time": _now()},
        SESSIONS_PAGE,
    )


async def _claim(app: web.Application, key: str) -> bool:
    """The first claim of a notice in its period; without Redis, mail anyway."""
    try:
        return bool(await app[REDIS].set(key, b"1", nx=True, ex=NEW_SOURCE_NOTICE_SECONDS))
    except RedisError:
        _log.warning("notice sent without its once-a-day check: Redis unavailable")
        return True
