"""Test fixtures: a private PostgreSQL database and Redis db per run, and the
services running as real HTTP servers on loopback.

The database is created fresh for the run, migrated with the real migration
files, and dropped at the end; tables are emptied between tests. Redis uses a
dedicated logical database, flushed between tests. Nothing is mocked: the
gateway talks to auth over real HTTP, auth to billing, everyone to the real
PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

from services.auth.app import create_app as create_auth
from services.auth.settings import Settings as AuthSettings
from services.billing.app import create_app as create_billing
from services.billing.settings import Settings as BillingSettings
from services.gateway.app import create_app as create_gateway
from services.gateway.settings import Settings as GatewaySettings
from services.mockprovider.app import create_app as create_mock
from services.mockprovider.settings import Settings as MockSettings
from services.usage.app import create_app as create_usage
from services.usage.settings import Settings as UsageSettings
from shared import migrations
from shared.settings import Common
from tests.ports import free_ports

T = TypeVar("T")
PG_SERVER = os.environ.get("TOLLGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TOLLGATE_TEST_REDIS", "redis://127.0.0.1:6379/11")
INTERNAL_TOKEN = secrets.token_urlsafe(32)

AiohttpServer = Callable[..., Awaitable[TestServer]]
AiohttpClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


async def _create_database(name: str) -> str:
    admin: Any = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = f"{PG_SERVER}/{name}"
    await migrations.apply(dsn)
    return dsn


async def _drop_database(name: str) -> None:
    admin: Any = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _run_aside(coro: Coroutine[Any, Any, T]) -> T:
    """Run setup work on a private loop, leaving the test's current loop alone."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"tollgate_test_{os.getpid()}_{secrets.token_hex(3)}"
    dsn = _run_aside(_create_database(name))
    yield dsn
    _run_aside(_drop_database(name))


_USER_TABLES = (
    "gateway.channels",
    "gateway.model_aliases",
    "auth.security_events",
    "auth.outbox",
    "auth.api_keys",
    "auth.users",
    "billing.accounts",
    "billing.ledger_entries",
    "billing.ledger_transactions",
    "billing.usage_charges",
    "billing.credit_requests",
    "billing.redemption_batches",
    "billing.redemption_codes",
    "billing.prices",
    "billing.reconcile_runs",
    "billing.payment_events",
    "billing.order_postings",
    "billing.orders",
    "billing.low_balance_alerts",
    "billing.spend_buckets",
    "billing.spend_anomalies",
    "billing.outbox",
    "usage.records",
    "usage.daily",
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Any]:
    """A connection to the run's database; user data is emptied afterwards."""
    connection: Any = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.execute(f"TRUNCATE {', '.join(_USER_TABLES)} CASCADE")
        # Groups are the operator's, not users' data: back to the one a fresh
        # install has ('default', multiplier 1, no limits).
        await connection.execute("DELETE FROM auth.groups WHERE name <> 'default'")
        await connection.execute(
            "UPDATE auth.groups SET price_multiplier = 1, rpm = NULL, tpm = NULL, "
            "concurrency = NULL, note = 'every account starts here' WHERE name = 'default'"
        )
        await connection.close()


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


def common_for(data_dir: Path, database_url: str, redis_url: str) -> Common:
    """The settings every service of a test stack shares (production mode, loopback)."""
    return Common(
        dev=False,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        internal_token=INTERNAL_TOKEN,
        host="127.0.0.1",
        port=0,
        log_level="INFO",
    )


@pytest.fixture
def common(database_url: str, tmp_path: Path) -> Common:
    return common_for(tmp_path, database_url, REDIS_URL)


SECRET_KEYS = (Fernet.generate_key().decode(),)
KEY_PEPPER = secrets.token_urlsafe(32)


def auth_settings_for(common: Common, billing_url: str) -> AuthSettings:
    """Auth as every test stack runs it."""
    return AuthSettings(
        common=common,
        secret_keys=SECRET_KEYS,
        key_pepper=KEY_PEPPER,
        jwt_issuer="tollgate-test",
        token_ttl_seconds=3600,
        billing_url=billing_url,
        login_failures_per_account=5,
        login_failures_per_ip=20,
        login_window_seconds=60,
        # Tests that sign up and create keys at once; tests/auth/test_verify_email.py turns it on.
        require_verified_email=False,
    )


def gateway_settings_for(
    common: Common,
    *,
    auth_url: str,
    billing_url: str,
    usage_url: str,
    upstream_idle_timeout: float = 2,
) -> GatewaySettings:
    """The gateway as every test stack runs it; its spool under the data directory."""
    return GatewaySettings(
        common=common,
        auth_url=auth_url,
        billing_url=billing_url,
        usage_url=usage_url,
        jwt_issuer="tollgate-test",
        trust_forwarded_for=False,
        key_cache_seconds=60,
        secret_keys=SECRET_KEYS,
        max_body_bytes=10 * 1024 * 1024,
        upstream_connect_timeout=5,
        upstream_first_byte_timeout=5,
        upstream_idle_timeout=upstream_idle_timeout,
        spool_dir=common.data_dir / "spool",
    )


@dataclass(frozen=True, kw_only=True)
class Stack:
    """Every service on loopback, and a client for the public gateway."""

    gateway: TestClient[web.Request, web.Application]
    mock: TestServer
    auth: TestServer
    billing: TestServer
    usage: TestServer
    gateway_settings: GatewaySettings
    auth_settings: AuthSettings

    @property
    def common(self) -> Common:
        return self.gateway_settings.common


@pytest.fixture
async def stack(
    common: Common,
    db: Any,
    redis: aioredis.Redis,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> Stack:
    mock = await aiohttp_server(create_mock(MockSettings()))
    # Billing asks auth whether a credited user exists, and auth asks billing
    # for balances: auth's port is chosen first, so each knows the other's URL.
    (auth_port,) = free_ports(1)
    billing = await aiohttp_server(
        create_billing(BillingSettings(common=common, auth_url=f"http://127.0.0.1:{auth_port}"))
    )
    usage = await aiohttp_server(create_usage(UsageSettings(common=common)))
    auth_settings = auth_settings_for(common, str(billing.make_url("")).rstrip("/"))
    auth = await aiohttp_server(create_auth(auth_settings), port=auth_port)
    gateway_settings = gateway_settings_for(
        common,
        auth_url=str(auth.make_url("")).rstrip("/"),
        billing_url=str(billing.make_url("")).rstrip("/"),
        usage_url=str(usage.make_url("")).rstrip("/"),
    )
    gateway = await aiohttp_client(create_gateway(gateway_settings))
    return Stack(
        gateway=gateway,
        mock=mock,
        auth=auth,
        billing=billing,
        usage=usage,
        gateway_settings=gateway_settings,
        auth_settings=auth_settings,
    )


def with_port(common: Common, port: int) -> Common:
    return replace(common, port=port)
