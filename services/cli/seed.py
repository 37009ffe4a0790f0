"""Dev-stack seeding: channels for the mock provider, so the stack relays with
no real provider key. Only used by `tollgate dev`, only on an empty table."""

from __future__ import annotations

from cryptography.fernet import Fernet, MultiFernet

from services.gateway.channel_store import ChannelStore
from services.mockprovider.catalog import MODELS, Provider
from shared import db


async def mock_channels(database_url: str, secret_keys: tuple[str, ...], mock_url: str) -> int:
    """Add one mock channel per provider kind when no channel exists; the count added."""
    fernet = MultiFernet([Fernet(key) for key in secret_keys])
    async with db.pool(database_url, max_size=2) as pool:
        store = ChannelStore(pool, fernet)
        if await store.all():
            return 0
        for provider in Provider:
            await store.create(
                {
                    "name": f"mock-{provider.value}",
                    "kind": provider.value,
                    "base_url": mock_url,
                    "api_key": f"mock-{provider.value}-key",
                    "models": [m.name for m in MODELS if m.provider is provider],
                }
            )
    return len(Provider)
