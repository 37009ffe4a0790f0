"""Auth test fixtures: a gateway that takes the client IP from X-Forwarded-For.

The stack's own gateway does not trust the header (as in production by
default); this second gateway over the same services does, so a test can play
clients at different addresses.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.gateway.app import create_app as create_gateway
from tests.auth.oauth_stack import oauth as oauth  # the stack signing in with the mock provider
from tests.conftest import AiohttpClient, Stack


@pytest.fixture
async def forwarded(
    stack: Stack, aiohttp_client: AiohttpClient
) -> TestClient[web.Request, web.Application]:
    settings = replace(
        stack.gateway_settings,
        trust_forwarded_for=True,
        spool_dir=stack.common.data_dir / "spool-forwarded",
    )
    return await aiohttp_client(create_gateway(settings))
