"""API keys at rest: HMAC-SHA256 with a server pepper, and revocation notices.

The secret is generated here, shown once by the handler, and never stored: the
table keeps its digest and its display prefix. Revoking publishes the key id on
Redis so every gateway drops the key from its cache at once.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from shared import api_key_format, invalidation
from shared.redis_conn import Redis


class KeyHasher:
    def __init__(self, pepper: str) -> None:
        self._pepper = pepper.encode()

    def digest(self, key: str) -> bytes:
        return hmac.new(self._pepper, key.encode(), hashlib.sha256).digest()


def new_key() -> tuple[str, str]:
    """A fresh secret and its display prefix."""
    key = api_key_format.generate()
    return key, api_key_format.display_prefix(key)


async def announce_revoked(redis: Redis, key_id: uuid.UUID) -> None:
    """Tell every gateway. If this is lost the database already refuses the key;
    gateways that miss it cache nothing until they are subscribed again."""
    await invalidation.publish(redis, invalidation.KEY_REVOKED, str(key_id))
