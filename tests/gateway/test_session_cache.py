"""The gateway's session cache against a stand-in for auth's verify endpoint
(real HTTP on loopback): what it caches, for how long, and what drops it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from services.gateway.admission.session_cache import SessionCache
from shared import session_cookie
from shared.errors import ServiceUnavailable, Unauthorized
from shared.internal import TOKEN_HEADER
from tests.conftest import AiohttpServer

TOKEN = "internal-token-for-the-stand-in"


@dataclass
class Auth:
    """Auth's verify as the cache sees it: live sessions by cookie value."""

    live: dict[str, tuple[uuid.UUID, uuid.UUID]] = field(default_factory=dict)
    calls: int = 0
    status: int | None = None  # force an answer (an outage)
    delay: float = 0.0
    expires_at: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(days=1))

    async def verify(self, request: web.Request) -> web.Response:
        assert request.headers[TOKEN_HEADER] == TOKEN
        self.calls += 1
        value = (await request.json())["session"]
        await asyncio.sleep(self.delay)
        if self.status is not None:
            return web.json_response({}, status=self.status)
        if value not in self.live:
            return web.json_response({"error": {}}, status=401)
        session_id, user_id = self.live[value]
        return web.json_response(
            {
                "session_id": str(session_id),
                "user_id": str(user_id),
                "role": "admin",
                "expires_at": self.expires_at.isoformat(),
            }
        )

    def add(self, user_id: uuid.UUID | None = None) -> tuple[str, uuid.UUID, uuid.UUID]:
        value, session_id, user = session_cookie.new_value(), uuid.uuid4(), user_id or uuid.uuid4()
        self.live[value] = (session_id, user)
        return value, session_id, user


@pytest.fixture
async def auth(aiohttp_server: AiohttpServer) -> AsyncIterator[tuple[Auth, SessionCache]]:
    double = Auth()
    app = web.Application()
    app.router.add_post("/internal/sessions/verify", double.verify)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as http:
        cache = SessionCache(http, str(server.make_url("")).rstrip("/"), TOKEN, ttl_seconds=60)
        await cache.on_live(True)
        yield double, cache


async def test_a_live_session_is_cached_and_a_dead_one_never(
    auth: tuple[Auth, SessionCache],
) -> None:
    double, cache = auth
    value, session_id, user_id = double.add()
    for _ in range(3):
        principal = await cache.principal(value)
    assert (principal.via, principal.session_id, principal.user_id) == (
        "session",
        session_id,
        user_id,
    )
    assert principal.role == "admin" and principal.key_id is None
    assert double.calls == 1
    unknown = session_cookie.new_value()
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await cache.principal(unknown)
    assert double.calls == 3
    for malformed in ("", "x", value + "A", "é" * 43, "\x00" * 43):
        with pytest.raises(Unauthorized):
            await cache.principal(malformed)
    assert double.calls == 3  # refused without asking auth


async def test_notices_drop_one_session_or_all_of_a_user(auth: tuple[Auth, SessionCache]) -> None:
    double, cache = auth
    user = uuid.uuid4()
    one, one_id, _ = double.add(user)
    two, _, _ = double.add(user)
    other, _, _ = double.add()
    for value in (one, two, other):
        await cache.principal(value)
    assert double.calls == 3
    await cache.on_session_revoked(str(one_id))
    await cache.principal(one)
    assert double.calls == 4  # asked again
    await cache.principal(two)
    assert double.calls == 4
    await cache.on_user_credentials_changed(str(user))
    await cache.principal(one)
    await cache.principal(two)
    await cache.principal(other)
    assert double.calls == 6
    await cache.on_session_revoked("not-a-uuid")  # ignored, nothing dropped
    await cache.on_user_credentials_changed("\x00")
    await cache.principal(other)
    assert double.calls == 6


async def test_nothing_is_cached_while_the_notices_cannot_arrive(
    auth: tuple[Auth, SessionCache],
) -> None:
    double, cache = auth
    value, _, _ = double.add()
    await cache.principal(value)
    await cache.on_live(False)
    await cache.principal(value)
    await cache.principal(value)
    assert double.calls == 3
    del double.live[value]
    with pytest.raises(Unauthorized):
        await cache.principal(value)
    await cache.on_live(True)


async def test_an_answer_in_flight_during_a_drop_is_not_cached(
    auth: tuple[Auth, SessionCache],
) -> None:
    """Verify answered "live", the session was revoked and the notice arrived
    before the answer: the answer serves its request but is not kept."""
    double, cache = auth
    value, session_id, _ = double.add()
    double.delay = 0.2
    asking = asyncio.ensure_future(cache.principal(value))
    await asyncio.sleep(0.1)
    await cache.on_session_revoked(str(session_id))
    await asking
    double.delay = 0.0
    del double.live[value]
    with pytest.raises(Unauthorized):
        await cache.principal(value)


async def test_an_expired_session_is_refused_from_the_cache(
    auth: tuple[Auth, SessionCache],
) -> None:
    double, cache = auth
    double.expires_at = datetime.now(UTC) + timedelta(seconds=0.3)
    value, _, _ = double.add()
    await cache.principal(value)
    await asyncio.sleep(0.4)
    with pytest.raises(Unauthorized):
        await cache.principal(value)


async def test_an_auth_outage_is_a_503(auth: tuple[Auth, SessionCache]) -> None:
    double, cache = auth
    value, _, _ = double.add()
    double.status = 500
    with pytest.raises(ServiceUnavailable):
        await cache.principal(value)
