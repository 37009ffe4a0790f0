"""Calls out to sign-in providers: the one boundary where aiohttp's errors
become `OAuthUnavailable`, with timeouts and a bound on what is read.

No redirect is followed (a provider's endpoint answers, it does not send us
elsewhere); bodies past `MAX_BODY` are refused. Nothing sent or received is
logged: codes, secrets and tokens travel here.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from services.auth.oauth_flow import OAuthFailed, OAuthUnavailable

TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=5)
MAX_BODY = 1024 * 1024
USER_AGENT = "Tollgate"


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> tuple[int, bytes, str]:
    """(status, body, content type) of one call; `OAuthUnavailable` when it fails."""
    try:
        async with session.request(
            method,
            url,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            data=form,
            allow_redirects=False,
            timeout=TIMEOUT,
        ) as response:
            body = await response.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                raise OAuthUnavailable(f"{what}: the answer is too large")
            return response.status, body, response.content_type
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise OAuthUnavailable(f"{what}: {type(exc).__name__}") from exc


def json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise OAuthFailed("provider_error", f"{what}: not JSON") from None
    if not isinstance(value, dict):
        raise OAuthFailed("provider_error", f"{what}: not a JSON object")
    return value


async def get_json(
    session: aiohttp.ClientSession, url: str, *, what: str, headers: dict[str, str] | None = None
) -> Any:
    status, body, _ = await call(session, "GET", url, what=what, headers=headers)
    if status != 200:
        raise OAuthFailed("provider_error", f"{what}: HTTP {status}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise OAuthFailed("provider_error", f"{what}: not JSON") from None
