"""`GET /api/admin/system`: is every service ready, and are the consumers keeping up?

Admin login only. Gathered on each call, nothing kept:

- `services`: each service's `/readyz` (auth, billing, usage and the console
  over internal HTTP with the internal token, two seconds each, all at once;
  the gateway's own PostgreSQL and Redis pinged in process), as `{name, ready,
  status, detail}`: `status` is the HTTP status (None when it did not answer)
  and `detail` its answer's `postgres`/`redis` words or why it did not answer;
- `stream`: the usage stream's length and, per consumer group, its consumers,
  pending (delivered, not yet acknowledged) and lag (not yet delivered)
  entries, as Redis's `XINFO GROUPS` reports them (`lag` is None when Redis
  cannot tell); and the number of unresolved dead letters.

The last money reconciliation is billing's (`/api/admin/reconcile`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from redis.exceptions import RedisError

from services.gateway.app_keys import INTERNAL_SESSION, SETTINGS
from services.gateway.channels.admin import require_admin
from shared import db, dead_letters, internal, redis_conn
from shared.service import DB, REDIS
from shared.stream_consumer import USAGE_STREAM

READY_TIMEOUT_SECONDS = 2.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _own(request: web.Request) -> dict[str, Any]:
    postgres, redis_ok = await asyncio.gather(
        db.ping(request.app[DB]), redis_conn.ping(request.app[REDIS])
    )
    return {
        "name": "gateway",
        "ready": postgres and redis_ok,
        "status": 200 if postgres and redis_ok else 503,
        "detail": {"postgres": "ok" if postgres else "down", "redis": "ok" if redis_ok else "down"},
    }


async def _ready(request: web.Request, name: str, base_url: str) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    try:
        async with request.app[INTERNAL_SESSION].get(
            base_url.rstrip("/") + "/readyz",
            headers={internal.TOKEN_HEADER: settings.common.internal_token},
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=READY_TIMEOUT_SECONDS),
        ) as answer:
            try:
                body = await answer.json(content_type=None)
            except ValueError:
                body = None
            detail = (
                {key: str(body[key]) for key in ("postgres", "redis") if key in body}
                if isinstance(body, dict)
                else {}
            )
            return {
                "name": name,
                "ready": answer.status == 200,
                "status": answer.status,
                "detail": detail,
            }
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else "unreachable"
        return {"name": name, "ready": False, "status": None, "detail": {"error": reason}}


async def _stream(request: web.Request) -> dict[str, Any]:
    redis = request.app[REDIS]
    try:
        length = int(await redis.xlen(USAGE_STREAM))
        groups = (
            await redis.xinfo_groups(USAGE_STREAM)
            if length or await redis.exists(USAGE_STREAM)
            else []
        )
        letters = len(await dead_letters.unresolved(redis))
    except (RedisError, OSError, TimeoutError):
        return {
            "name": USAGE_STREAM,
            "available": False,
            "length": None,
            "groups": [],
            "dead_letters": None,
        }
    return {
        "name": USAGE_STREAM,
        "available": True,
        "length": length,
        "groups": [
            {
                "name": _text(group["name"]),
                "consumers": int(group["consumers"]),
                "pending": int(group["pending"]),
                "lag": None if group.get("lag") is None else int(group["lag"]),
                "last_delivered_id": _text(group["last-delivered-id"]),
            }
            for group in groups
        ],
        "dead_letters": letters,
    }


async def system(request: web.Request) -> web.Response:
    await require_admin(request)
    settings = request.app[SETTINGS]
    services = await asyncio.gather(
        _own(request),
        _ready(request, "auth", settings.auth_url),
        _ready(request, "billing", settings.billing_url),
        _ready(request, "usage", settings.usage_url),
        _ready(request, "console", settings.console_url),
    )
    return web.json_response({"services": list(services), "stream": await _stream(request)})
