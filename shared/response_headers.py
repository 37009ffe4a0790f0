"""Headers every answer of every service carries, set in one place.

`base_app` installs `stamp` as the application's `on_response_prepare`
hook, so it runs once per answer just before its head is written: JSON
bodies, errors, `/api/*` answers forwarded by the gateway and relayed model
answers alike. It costs a few dictionary writes per answer, nothing per
streamed chunk. Rules:

- `Server: tollgate`: never aiohttp's `Python/3.x aiohttp/3.y`, which tells
  an attacker which versions (and so which known bugs) to try.
- `X-Content-Type-Options: nosniff` on every answer: a browser never reads a
  JSON error or a text export as HTML or script.
- `Cache-Control: no-store` on every answer whose handler did not choose a
  `Cache-Control` itself. Nearly everything the services say is about one
  account (login tokens, new or rotated keys, `/api/me*`, `/api/keys`,
  balances, the ledger, usage records, relayed prompts and completions) or
  is live state (health, metrics), so no cache, shared or private, may keep
  it. The one public, cacheable answer (auth's JWKS, `max-age=60`) says so
  itself, and the gateway passes that header on. Relayed answers never take
  the upstream's `Cache-Control` (see `services/gateway/edge/headers.py`).
- `x-should-retry: false` on statuses that the same request can never turn
  into a success by trying again (`NOT_RETRYABLE`), whoever made the answer.
  The official SDKs obey the header before their own status rules:
  openai-python and anthropic-sdk-python, `BaseClient._should_retry` in
  `_base_client.py` ("If the server explicitly says whether or not to retry,
  obey."), and Claude Code with them; without it, a client whose retry
  policy includes 401 (a token it might refresh) retries a wrong key for
  minutes. 402 needs a top-up, not a retry. A handler that knows better
  (none today) may set the header itself.

The low-level 400 for malformed HTTP is made before any application sees
the request, so `shared/http_server.py` writes the same headers itself
(`BASE_HEADERS`).
"""

from __future__ import annotations

from aiohttp import web

SERVER = "tollgate"
NOT_RETRYABLE = frozenset({400, 401, 402, 403, 404, 405, 413, 422})
BASE_HEADERS = {
    "Server": SERVER,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


async def stamp(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the headers above, on `response`."""
    headers = response.headers
    headers["Server"] = SERVER
    headers["X-Content-Type-Options"] = "nosniff"
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    if response.status in NOT_RETRYABLE and "x-should-retry" not in headers:
        headers["x-should-retry"] = "false"
