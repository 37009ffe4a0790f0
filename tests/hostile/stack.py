"""The stack as `tollgate dev` runs it, for the hostile suite: every service a process.

A private `redis-server`, the run's PostgreSQL database, the mock provider's
channels, prices and demo account seeded as `tollgate dev` seeds them (before
any service starts), then the mock provider, auth, billing, usage and the
gateway, each `python -m services.<name>` in dev mode with the environment
`tollgate dev` gives it (`services/cli/dev.py`: `_environment`), on free
ports, its output (stdout and stderr) captured to `<name>.log`. Then, through
the public gateway: a user with a login token, a funded balance (an admin
credit) and an API key; an admin with a login token; an alias.

Everything is undone by `close`: processes killed, the private Redis gone, the
run database's user tables emptied (as the `db` fixture does) so the tests
that run after find them empty.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from services.auth import store
from services.auth.passwords import Passwords
from services.cli import seed
from services.mockoidc import settings as mockoidc
from tests.conftest import _USER_TABLES, INTERNAL_TOKEN, KEY_PEPPER, SECRET_KEYS
from tests.hostile.routes import Known
from tests.ports import free_ports
from tests.processes import RedisProcess, ServiceProcess

SERVICES = ("mockprovider", "mockoidc", "auth", "billing", "usage", "console", "gateway")
_PORT_VARIABLE = {"mockprovider": "MOCK_PROVIDER_PORT"}
PASSWORD = "hostile suite password 1"
FUNDS = "100.00"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True, kw_only=True)
class HostileStack:
    host: str
    port: int
    database_url: str
    redis_url: str
    services: dict[str, ServiceProcess]
    user_token: str
    admin_token: str
    api_key: str
    known: Known

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def logs(self) -> dict[str, Path]:
        return {name: process.log for name, process in self.services.items()}


def _environment(
    directory: Path, database_url: str, redis_url: str, ports: dict[str, int]
) -> dict[str, str]:
    """What `tollgate dev` gives its children, on this run's ports and stores."""
    env = dict(os.environ)
    env.update(
        TOLLGATE_ENV="dev",
        TOLLGATE_DATA_DIR=str(directory),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
        # The run's secrets: auth's signing keys in the run database are sealed with them.
        TOLLGATE_INTERNAL_TOKEN=INTERNAL_TOKEN,
        TOLLGATE_SECRET_KEYS=",".join(SECRET_KEYS),
        TOLLGATE_KEY_PEPPER=KEY_PEPPER,
        # Every draw comes from 127.0.0.1: with the sign-up throttle's defaults most
        # sign-up bodies would meet a 429 before any check of theirs (the throttle has
        # its own tests, tests/auth/test_signup_throttle.py).
        SIGNUPS_PER_IP="100000",
        SIGNUPS_PER_NETWORK="100000",
    )
    for name, port in ports.items():
        env[_PORT_VARIABLE.get(name, f"{name.upper()}_PORT")] = str(port)
        env[f"{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    # Sign in with Google and GitHub against the mock OpenID provider, as in dev.
    oidc = env["MOCKOIDC_URL"]
    env.update(
        GOOGLE_CLIENT_ID=mockoidc.DEV_GOOGLE_CLIENT_ID,
        GOOGLE_CLIENT_SECRET=mockoidc.DEV_GOOGLE_CLIENT_SECRET,
        GOOGLE_ISSUER=f"{oidc}/google",
        GITHUB_CLIENT_ID=mockoidc.DEV_GITHUB_CLIENT_ID,
        GITHUB_CLIENT_SECRET=mockoidc.DEV_GITHUB_CLIENT_SECRET,
        GITHUB_AUTHORIZE_URL=f"{oidc}/github/login/oauth/authorize",
        GITHUB_TOKEN_URL=f"{oidc}/github/login/oauth/access_token",
        GITHUB_API_URL=f"{oidc}/github/api",
    )
    return env


async def open_stack(exits: AsyncExitStack, database_url: str, directory: Path) -> HostileStack:
    """Start and seed everything; `exits` undoes it all."""
    redis_port, *service_ports = free_ports(1 + len(SERVICES))
    ports = dict(zip(SERVICES, service_ports, strict=True))
    exits.push_async_callback(_empty_tables, database_url)
    redis = RedisProcess(
        redis_port, directory / "redis", persistent=False, log=directory / "redis.log"
    )
    exits.push_async_callback(redis.kill)
    await redis.start()
    env = _environment(directory, database_url, redis.url, ports)

    # Seeded before any service starts, as `tollgate dev` does.
    await seed.dev_stack(
        database_url,
        SECRET_KEYS,
        env["TOLLGATE_KEY_PEPPER"],
        env["MOCKPROVIDER_URL"],
    )
    services: dict[str, ServiceProcess] = {}
    for name in SERVICES:
        process = ServiceProcess(
            name,
            ports[name],
            env={**env, "TOLLGATE_INSTANCE": f"{name}-hostile"},
            log=directory / f"{name}.log",
        )
        exits.push_async_callback(process.kill)
        services[name] = process
    await asyncio.gather(*(process.start() for process in services.values()))

    gateway = services["gateway"].url
    async with aiohttp.ClientSession(base_url=gateway, timeout=HTTP_TIMEOUT) as http:
        username = f"hostile_{secrets.token_hex(3)}"
        await _call(
            http,
            "POST",
            "/api/auth/signup",
            json={"email": f"{username}@example.com", "username": username, "password": PASSWORD},
            expect=201,
        )
        user_token = await _login(http, username)
        # The sign-up answer carries no id (it is the same for a taken email).
        user = await _call(
            http, "GET", "/api/me", headers={"Authorization": f"Bearer {user_token}"}, expect=200
        )
        admin_name = await _create_admin(database_url)
        admin_token = await _login(http, admin_name)
        as_user = {"Authorization": f"Bearer {user_token}"}
        as_admin = {"Authorization": f"Bearer {admin_token}"}
        api_key = (
            await _call(http, "POST", "/api/keys", json={"name": "hostile"}, headers=as_user)
        )["key"]
        decoy = await _call(http, "POST", "/api/keys", json={"name": "decoy"}, headers=as_user)
        await _call(
            http,
            "POST",
            "/api/admin/credits",
            json={
                "user_id": user["id"],
                "amount": FUNDS,
                "reason": "hostile suite funds",
                "idempotency_key": f"hostile-{secrets.token_hex(4)}",
            },
            headers=as_admin,
        )
        channels = await _call(http, "GET", "/api/admin/channels", headers=as_admin, expect=200)
        await _call(
            http,
            "PUT",
            "/api/admin/model-aliases/hostile-alias",
            json={"model": "gpt-4o-mini"},
            headers=as_admin,
        )
    known = Known(
        user_id=user["id"],
        username=username,
        key_ids=[decoy["id"]],
        channel_ids=[c["id"] for c in _listed(channels)],
        aliases=["hostile-alias"],
    )
    return HostileStack(
        host="127.0.0.1",
        port=ports["gateway"],
        database_url=database_url,
        redis_url=redis.url,
        services=services,
        user_token=user_token,
        admin_token=admin_token,
        api_key=api_key,
        known=known,
    )


def _listed(answer: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = answer["data"] if isinstance(answer, dict) else answer
    return items


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    expect: int = 201,
) -> Any:
    async with http.request(method, path, json=json, headers=headers) as response:
        text = await response.text()
        assert response.status == expect, f"{method} {path}: {response.status} {text[:300]}"
        return await response.json()


async def _login(http: aiohttp.ClientSession, login: str) -> str:
    body = await _call(
        http, "POST", "/api/auth/login", json={"login": login, "password": PASSWORD}, expect=200
    )
    token: str = body["access_token"]
    return token


async def _create_admin(database_url: str) -> str:
    """An admin, made as `tollgate admin create-user --admin` makes one."""
    name = f"hostile_admin_{secrets.token_hex(3)}"
    connection: Any = await asyncpg.connect(database_url)
    try:
        await store.create_user(
            connection,
            email=f"{name}@example.com",
            username=name,
            password_hash=await Passwords().hash(PASSWORD),
            role="admin",
        )
    finally:
        await connection.close()
    return name


async def _empty_tables(database_url: str) -> None:
    connection: Any = await asyncpg.connect(database_url)
    try:
        await connection.execute(f"TRUNCATE {', '.join(_USER_TABLES)} CASCADE")
    finally:
        await connection.close()
