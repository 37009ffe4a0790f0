"""What the measured requests need, set up through Tollgate's public API.

An admin (made with `tollgate admin create-user`, as an operator makes the
first one) logs in and, through the gateway: adds one channel per mock
upstream port (`bench-json`, `bench-sse`), prices both models cheaply, and
credits a user who signed up like anyone else and made an API key. The
credit (1,000,000 USD) and the prices (0.01 USD per million tokens) are
chosen so that holds never run out, whatever the run's length: every
measured request is a paid, metered one. The key has limits on requests,
tokens and concurrency (`BENCH_LIMITS`), high enough never to refuse, so
the limit path is measured, not skipped.

A channel to a loopback address needs `allow_private_network: true` once
the upstream URL guard is in; a gateway that does not know the field yet
refuses it as unknown, and the channel is then added without it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.overhead.processes import ProcessFailed
from bench.overhead.stack import Tollgate
from bench.overhead.upstream import UPSTREAM_KEY, Upstream

JSON_MODEL = "bench-json"
SSE_MODEL = "bench-sse"
CREDIT_USD = "1000000"
RATE_USD_PER_MILLION = "0.01"
_PRIVATE_FIELD = "allow_private_network"
BENCH_LIMITS = {"rpm": 1_000_000, "tpm": 1_000_000_000, "concurrency": 10_000}


@dataclass(frozen=True, kw_only=True)
class Seeded:
    api_key: str  # the bench user's Tollgate key (tg-...)
    user_id: str
    private_network_field: bool  # whether the gateway took `allow_private_network`


async def _call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as response:
        answer = await response.json(content_type=None) if response.content_length != 0 else None
        return response.status, answer


async def _expect(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
) -> Any:
    status, answer = await _call(session, method, url, body, token)
    if status >= 300:
        raise ProcessFailed(f"seeding: {method} {url} answered {status}: {answer}")
    return answer


async def _login(session: aiohttp.ClientSession, gateway: str, login: str, password: str) -> str:
    answer = await _expect(
        session, "POST", f"{gateway}/api/auth/login", {"login": login, "password": password}
    )
    return str(answer["access_token"])


async def _add_channel(
    session: aiohttp.ClientSession, gateway: str, token: str, fields: dict[str, Any]
) -> bool:
    """Add the channel; True when the gateway accepted `allow_private_network`."""
    url = f"{gateway}/api/admin/channels"
    status, answer = await _call(session, "POST", url, {**fields, _PRIVATE_FIELD: True}, token)
    if status == 201:
        return True
    details = (answer or {}).get("error", {}).get("details") or []
    if status == 422 and f"{_PRIVATE_FIELD}: unknown field" in details:
        await _expect(session, "POST", url, fields, token)
        return False
    raise ProcessFailed(f"seeding: POST {url} answered {status}: {answer}")


async def seed(tollgate: Tollgate, upstream: Upstream) -> Seeded:
    gateway = tollgate.gateway_url
    admin_password = secrets.token_urlsafe(18)
    await tollgate.create_admin("bench-admin@example.com", "benchadmin", admin_password)
    async with aiohttp.ClientSession() as session:
        admin = await _login(session, gateway, "benchadmin", admin_password)
        taken = True
        for model, port in ((JSON_MODEL, upstream.json_port), (SSE_MODEL, upstream.sse_port)):
            channel = {
                "name": f"nginx-{model}",
                "kind": "openai",
                "base_url": upstream.url(port),
                "api_key": UPSTREAM_KEY,
                "models": [model],
            }
            taken = await _add_channel(session, gateway, admin, channel) and taken
            rates = {"input": RATE_USD_PER_MILLION, "output": RATE_USD_PER_MILLION}
            rates |= {"cache_read": "0", "cache_write": "0"}
            await _expect(session, "PUT", f"{gateway}/api/admin/prices/{model}", rates, admin)
        password = secrets.token_urlsafe(18)
        await _expect(
            session,
            "POST",
            f"{gateway}/api/auth/signup",
            {"email": "bench@example.com", "username": "benchuser", "password": password},
        )
        # The sign-up answer carries no id (it is the same for a taken email).
        token = await _login(session, gateway, "benchuser", password)
        user = await _expect(session, "GET", f"{gateway}/api/me", token=token)
        await _expect(
            session,
            "POST",
            f"{gateway}/api/admin/credits",
            {
                "user_id": user["id"],
                "amount": CREDIT_USD,
                "reason": "overhead benchmark",
                "idempotency_key": f"bench-{secrets.token_hex(8)}",
            },
            admin,
        )
        key = await _expect(session, "POST", f"{gateway}/api/keys", {"name": "bench"}, token)
        # Limits on (issue 19): every measured request takes the limit path (GCRA for
        # requests and tokens, a concurrency slot) in the hold's own command, set
        # high enough never to refuse one.
        await _expect(
            session, "PATCH", f"{gateway}/api/keys/{key['id']}", {"limits": BENCH_LIMITS}, token
        )
    return Seeded(api_key=str(key["key"]), user_id=str(user["id"]), private_network_field=taken)
