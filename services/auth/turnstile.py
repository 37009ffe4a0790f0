"""Cloudflare Turnstile at sign-up: the server-side check of the widget's token.

Off unless the operator sets TURNSTILE_SECRET_KEY. When on, a sign-up carries
`turnstile_token` (the widget's response, at most 2048 characters) and auth
posts it to siteverify as Cloudflare documents: form fields `secret`,
`response`, `remoteip` and an `idempotency_key` (a UUID, reused by the one
retry after a transport error). The answer is JSON with `success`,
`error-codes`, `challenge_ts`, `hostname`, `action`, `cdata`.

Rules:
- no token: 422 naming the field;
- `success` false: 403 `turnstile_failed`, with Cloudflare's error codes;
- `hostname` not one of TURNSTILE_HOSTNAMES (default: the public URL's host):
  403 `turnstile_failed`, since a token solved on another site that shares the
  site key proves nothing here;
- siteverify unreachable, slow, or answering anything but the documented JSON:
  503. It fails closed: an operator who turned the check on wants no sign-up
  without it.
The secret is sent in the body only, never logged, and kept out of repr.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from yarl import URL

from shared import settings as read
from shared.errors import Forbidden, ServiceUnavailable, Unprocessable
from shared.settings import Environ, SettingsError

_log = logging.getLogger(__name__)

VERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
TOKEN_MAX = 2048
_ERROR_CODE = re.compile(r"[a-z0-9-]{1,64}")


@dataclass(frozen=True, kw_only=True)
class TurnstileSettings:
    secret_key: str = field(repr=False)
    site_key: str | None
    verify_url: str = VERIFY_URL
    hostnames: frozenset[str]
    timeout_seconds: float = 10


def from_env(env: Environ, public_url: str) -> TurnstileSettings | None:
    """TURNSTILE_SECRET_KEY (off when unset), TURNSTILE_SITE_KEY (for the
    console's widget), TURNSTILE_VERIFY_URL, TURNSTILE_HOSTNAMES (comma-separated)."""
    secret = (env.get("TURNSTILE_SECRET_KEY") or "").strip()
    if not secret:
        return None
    raw_hosts = env.get("TURNSTILE_HOSTNAMES") or ""
    hosts = frozenset(h.strip().lower() for h in raw_hosts.split(",") if h.strip())
    if not hosts:
        host = URL(public_url).host
        if not host:
            raise SettingsError("TURNSTILE_HOSTNAMES is needed: the public URL has no host")
        hosts = frozenset({host.lower()})
    return TurnstileSettings(
        secret_key=secret,
        site_key=(env.get("TURNSTILE_SITE_KEY") or "").strip() or None,
        verify_url=read.url(env, "TURNSTILE_VERIFY_URL", VERIFY_URL, schemes=("http", "https")),
        hostnames=hosts,
    )


class TurnstileFailed(Forbidden):
    code: ClassVar[str] = "turnstile_failed"


class Turnstile:
    """Asks siteverify about one token; raises unless it passed on an expected host."""

    def __init__(self, session: aiohttp.ClientSession, settings: TurnstileSettings) -> None:
        self._session = session
        self._settings = settings

    @property
    def site_key(self) -> str | None:
        return self._settings.site_key

    async def verify(self, token: str | None, remote_ip: str | None) -> None:
        if not token:
            raise Unprocessable(
                "sign-up refused",
                details=["turnstile_token: required; complete the Turnstile challenge"],
            )
        form = {"secret": self._settings.secret_key, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        form["idempotency_key"] = str(uuid.uuid4())
        outcome = await self._siteverify(form)
        if outcome.get("success") is not True:
            codes = outcome.get("error-codes")
            listed = codes if isinstance(codes, list) else []
            shown = [c for c in listed if isinstance(c, str) and _ERROR_CODE.fullmatch(c)][:5]
            reason = f" ({', '.join(shown)})" if shown else ""
            raise TurnstileFailed(f"the Turnstile challenge was not passed{reason}; try again")
        hostname = outcome.get("hostname")
        if not isinstance(hostname, str) or hostname.lower() not in self._settings.hostnames:
            raise TurnstileFailed("the Turnstile challenge was solved for another site; try again")

    async def _siteverify(self, form: dict[str, str]) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        for attempt in (1, 2):
            try:
                async with self._session.post(
                    self._settings.verify_url, data=form, timeout=timeout, allow_redirects=False
                ) as response:
                    if response.status != 200:
                        raise _unavailable(f"siteverify answered {response.status}")
                    body = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt == 1 and not isinstance(exc, aiohttp.ContentTypeError):
                    continue  # the same idempotency key: Cloudflare answers a retry as the first
                raise _unavailable(type(exc).__name__) from exc
            except ValueError as exc:  # not JSON
                raise _unavailable("siteverify's answer is not JSON") from exc
            if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
                raise _unavailable("siteverify's answer has no success field")
            return body
        raise AssertionError("unreachable")


def _unavailable(why: str) -> ServiceUnavailable:
    _log.warning("turnstile check unavailable: %s", why)
    return ServiceUnavailable(
        "the sign-up challenge (Cloudflare Turnstile) cannot be checked now; try again later"
    )


def context(
    settings: TurnstileSettings, key: web.AppKey[Turnstile]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's cleanup_ctx entry: a client session and the checker under `key`."""

    async def run(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[key] = Turnstile(session, settings)
            yield

    return run
