"""Redis pub/sub channels that tell every process to drop a cached object.

Publishers send the id of what changed; subscribers drop it from their
caches. A subscriber that loses its connection must assume it missed
messages and drop everything it cached.
"""

from __future__ import annotations

KEY_REVOKED = "tg:invalidate:api-key"
