"""A user's credentials changed: every login token issued before stops working.

Each user has a token generation (`auth.users.token_generation`); a JWT
carries the generation it was issued at (claim `gen`; none counts as 0), and
the gateway refuses one older than the user's current generation
(services/gateway/admission/user_generations.py). A password change, a reset and an
email change call `bump` in the transaction of the change, then `announce`
after the commit: the gateways drop their cached generation at once, and
the next request with an old token is refused (within a second). Mailed
tokens are bound to the generation too (`account_tokens`), so a bump voids
the pending ones.

The announcement is best effort: a gateway that misses it stops trusting its
cache while its feed is down (shared/invalidation.py), and its entries live
only a short time anyway.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared import invalidation
from shared.redis_conn import Redis


async def bump(connection: Any, user_id: uuid.UUID) -> int:
    """Void the user's login tokens and pending mailed tokens; the new generation."""
    generation: int = await connection.fetchval(
        "UPDATE auth.users SET token_generation = token_generation + 1, updated_at = now() "
        "WHERE id = $1 RETURNING token_generation",
        user_id,
    )
    return generation


async def announce(redis: Redis, user_id: uuid.UUID) -> None:
    """After the commit of a `bump`: tell every gateway (and session cache)."""
    await invalidation.publish(redis, invalidation.USER_CREDENTIALS_CHANGED, str(user_id))
