"""Dev-stack seeding: channels and prices for the mock provider, and a demo
account with credit and a key, so `tollgate dev` relays and bills with no real
provider key. Each step runs only on an empty table or a missing account."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from cryptography.fernet import Fernet, MultiFernet

from services.auth import key_store, store
from services.auth.api_keys import KeyHasher, new_key
from services.auth.passwords import Passwords
from services.billing import credits, price_store
from services.gateway.channels.store import ChannelStore
from services.mockprovider.catalog import MODELS, Provider
from shared import db

# USD per million tokens; close to the real list prices of these models.
MOCK_PRICES: dict[str, tuple[str, str, str, str]] = {
    # model: (input, output, cache_read, cache_write)
    "gpt-4o-mini": ("0.15", "0.60", "0.075", "0"),
    "gpt-4o": ("2.50", "10.00", "1.25", "0"),
    "gpt-4.1-mini": ("0.40", "1.60", "0.10", "0"),
    "o4-mini": ("1.10", "4.40", "0.275", "0"),
    "text-embedding-3-small": ("0.02", "0", "0", "0"),
    "text-embedding-3-large": ("0.13", "0", "0", "0"),
    "claude-sonnet-4-5": ("3.00", "15.00", "0.30", "3.75"),
    "claude-haiku-4-5": ("1.00", "5.00", "0.10", "1.25"),
    "gemini-2.5-flash": ("0.30", "2.50", "0.075", "0"),
    "gemini-2.5-pro": ("1.25", "10.00", "0.31", "0"),
}
DEMO_EMAIL = "demo@example.com"
DEMO_CREDIT = Decimal("10.00")


async def mock_channels(connection: Any, fernet: MultiFernet, mock_url: str) -> int:
    """One mock channel per provider kind when no channel exists; the count added."""
    channels = ChannelStore(connection, fernet)
    if await channels.all():
        return 0
    for provider in Provider:
        await channels.create(
            {
                "name": f"mock-{provider.value}",
                "kind": provider.value,
                "base_url": mock_url,
                "api_key": f"mock-{provider.value}-key",
                "models": [m.name for m in MODELS if m.provider is provider],
                "allow_private_network": True,  # the mock listens on loopback
            }
        )
    return len(Provider)


async def mock_prices(connection: Any) -> int:
    """A price for every mock model that has none; the count added."""
    priced = await price_store.versions_for(connection, list(MOCK_PRICES))
    added = 0
    for model, (input_, output, cache_read, cache_write) in MOCK_PRICES.items():
        if priced.get(model):
            continue
        rates = {
            "input": Decimal(input_),
            "output": Decimal(output),
            "cache_read": Decimal(cache_read),
            "cache_write": Decimal(cache_write),
            "web_search": Decimal(0),
        }
        await price_store.add_version(
            connection,
            model=model,
            effective_from=None,
            rates=rates,
            max_output_tokens=8192,
            created_by=None,
        )
        added += 1
    return added


async def demo_account(connection: Any, pepper: str) -> str | None:
    """A demo user with credit and a fresh key; the key, or None if the user exists."""
    if await store.user_by_login(connection, DEMO_EMAIL) is not None:
        return None
    user = await store.create_user(
        connection,
        email=DEMO_EMAIL,
        username="demo",
        password_hash=await Passwords().hash(uuid.uuid4().hex),
        verified=True,
    )
    await credits.grant(
        connection,
        credits.CreditRequest(
            user_id=user.id,
            amount=DEMO_CREDIT,
            reason="dev demo credit",
            idempotency_key=f"dev-demo-{user.id}",
        ),
    )
    secret, prefix = new_key()
    await key_store.create(
        connection,
        user_id=user.id,
        name="dev demo",
        prefix=prefix,
        key_hash=KeyHasher(pepper).digest(secret),
        models=None,
        expires_at=None,
    )
    return secret


async def dev_stack(
    database_url: str, secret_keys: tuple[str, ...], pepper: str, mock_url: str
) -> tuple[int, int, str | None]:
    fernet = MultiFernet([Fernet(key) for key in secret_keys])
    async with db.pool(database_url, max_size=2) as pool, pool.acquire() as connection:
        channels = await mock_channels(connection, fernet, mock_url)
        prices = await mock_prices(connection)
        key = await demo_account(connection, pepper)
    return channels, prices, key
