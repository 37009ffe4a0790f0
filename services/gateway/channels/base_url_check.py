"""Checking a channel's base URL when an operator saves it.

Two questions, each answered with a message the operator can act on:

1. Where does it lead? Without `allow_private_network`, every address the
   host resolves to must be public (`upstream_guard.refusal`). A name that
   does not resolve now is accepted: it leads nowhere yet, and the guard
   checks it again on every connection (`upstream_guard.resolve`).
2. Does it redirect? The gateway asks the URL for its model list, without a
   key and without following redirects; a 3xx answer is refused, naming where
   it points, since the relay would never follow it. An upstream that cannot
   be reached right now is accepted (it may be down for a moment); the relay
   and the breaker deal with it.
"""

from __future__ import annotations

import asyncio

from yarl import URL

from services.gateway.relay.apis import Family
from services.gateway.upstream.address_guard import AddressRefused, literal_refusal, resolve
from services.gateway.upstream.client import UpstreamClient

CHECK_SECONDS = 5.0
_MODELS_PATH = {Family.OPENAI: "/v1/models", Family.ANTHROPIC: "/v1/models"}
_GEMINI_MODELS_PATH = "/v1beta/models"


async def address_problem(base_url: str) -> str | None:
    """Why the guard refuses where this URL leads, or None."""
    host = URL(base_url).host or ""
    reason = literal_refusal(base_url)
    if reason is not None:
        return f"base_url: {host} is {reason}; set allow_private_network to allow it"
    try:
        await resolve(host, 0, guarded=True)
    except AddressRefused as refused:
        return f"base_url: {refused}; set allow_private_network to allow it"
    except OSError:
        return None
    return None


async def redirect_problem(client: UpstreamClient, base_url: str, kind: Family) -> str | None:
    """A message when the URL answers with a redirect; None otherwise (also when unreachable)."""
    url = base_url + _MODELS_PATH.get(kind, _GEMINI_MODELS_PATH)
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            response = await client.request("GET", url, headers={}, connect_timeout=None)
            async with response:
                if 300 <= response.status < 400:
                    location = response.headers.get("Location", "nowhere named")
                    return (
                        f"base_url: {url} answers {response.status} redirecting to "
                        f"{location}; the gateway never follows redirects, configure "
                        "the address that answers directly"
                    )
    except (OSError, ValueError):  # TimeoutError included
        return None
    return None


async def base_url_problems(
    client: UpstreamClient, base_url: str, kind: Family, *, allow_private_network: bool
) -> list[str]:
    if not allow_private_network:
        problem = await address_problem(base_url)
        if problem is not None:
            return [problem]
    problem = await redirect_problem(client, base_url, kind)
    return [] if problem is None else [problem]
