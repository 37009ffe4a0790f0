"""The mock provider's models served through the console stack's gateway, priced.

`tests.relay` adds the channels and prices for the plain stack's gateway; the
console stack runs a gateway of its own, which loads the same tables: it is
told to reload them here rather than wait for the invalidation feed.
"""

from __future__ import annotations

from services.gateway.app_keys import CHANNEL_CACHE, PRICES
from tests.console.conftest import ConsoleStack
from tests.relay import add_mock_channels, add_prices


async def serve_mock_models(base: ConsoleStack) -> None:
    await add_mock_channels(base.stack)
    await add_prices(base.stack)
    await base.gateway.app[CHANNEL_CACHE].reload()
    await base.gateway.app[PRICES].reload()
