"""The console's only source of data: the gateway's public `/api/*`, called on loopback.

Design: a page never reads a store. It calls the same JSON API a script
would, through the gateway, as the browser: the browser's `Cookie` (so the
session cookie), `Origin`, `User-Agent` and `Accept-Language` travel with the
call, and `X-CSRF-Token` is the one the form carried. So every rule (who is
signed in, CSRF and Origin, throttles, validation) is the API's own, checked
once, in one place; the console adds none and can bypass none.

The source address: the gateway saw the browser's address when it forwarded
the page request, and hands it to the console in `X-Tollgate-Client-Ip`
(clients cannot send that header: the gateway strips it). The console sends
it back with the internal token, which is the only way the gateway takes a
client address from a caller (`services/gateway/edge/api_proxy.py`); without it
every browser would share the console's loopback address in the per-source
login and sign-up throttles.

Nothing is kept: no cookie jar (`DummyCookieJar`), no cache. `Set-Cookie`
headers of an answer (sign-in, sign-out) are handed to the page's response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from services.console.app_keys import SETTINGS
from shared import internal
from shared.errors import ServiceUnavailable

API_CLIENT = web.AppKey("console_api_client", aiohttp.ClientSession)

_PASSED = ("Cookie", "Origin", "User-Agent", "Accept-Language")


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    set_cookies: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            code = self.body["error"].get("code")
            return code if isinstance(code, str) else None
        return None

    @property
    def error_message(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            message = self.body["error"].get("message")
            return message if isinstance(message, str) else None
        return None

    @property
    def error_details(self) -> list[str]:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            details = self.body["error"].get("details")
            if isinstance(details, list):
                return [str(item) for item in details]
        return []


async def call(
    request: web.Request,
    method: str,
    path: str,
    *,
    json: Any = None,
    csrf_token: str | None = None,
) -> Answer:
    """`method path` on the gateway as the browser of `request`; never raises on
    an HTTP status (the page decides), raises `ServiceUnavailable` when the
    gateway does not answer."""
    settings = request.app[SETTINGS]
    headers = {name: request.headers[name] for name in _PASSED if name in request.headers}
    headers["Accept"] = "application/json"
    headers[internal.TOKEN_HEADER] = settings.common.internal_token
    if ip := request.headers.get(internal.CLIENT_IP_HEADER):
        headers[internal.CLIENT_IP_HEADER] = ip
    if csrf_token:
        headers["X-CSRF-Token"] = csrf_token
    data = None
    if json is not None:
        headers["Content-Type"] = "application/json"
        data = orjson.dumps(json)
    try:
        async with request.app[API_CLIENT].request(
            method,
            settings.gateway_url + path,
            headers=headers,
            data=data,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=30, sock_connect=5),
        ) as answer:
            raw = await answer.read()
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = None
            return Answer(answer.status, body, answer.headers.getall("Set-Cookie", []))
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise ServiceUnavailable("the API is unavailable; try again") from exc
