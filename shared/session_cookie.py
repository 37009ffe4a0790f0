"""The browser session cookie: its name, its value, its digest and its CSRF token.

Pure, shared by auth (which issues the cookie) and the gateway (which accepts
it). The value is 256 random bits, base64url; only its SHA-256 digest is ever
stored. The CSRF token is derived from the value, never stored:
`base64url(HMAC-SHA256(key=value, msg=b"tollgate-csrf"))`. Anyone who can read
the cookie (the gateway, the console's server) can compute it; a page on
another site cannot, and a token of one session is worthless in another.

The cookie is named `__Host-tg_session` when it is `Secure` (the prefix makes
browsers refuse it unless it is Secure, host-only and `Path=/`), and
`tg_session` otherwise (dev over plain HTTP).

The console's origin (`origin_of(TOLLGATE_PUBLIC_URL)`) is the only `Origin` a
cookie-authenticated unsafe request, or a session sign-in, may come from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from yarl import URL

BASENAME = "tg_session"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_MESSAGE = b"tollgate-csrf"
_VALUE_BYTES = 32
# token_urlsafe(32): 43 characters of the URL-safe alphabet, no padding.
_VALUE_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def cookie_name(secure: bool) -> str:
    return f"__Host-{BASENAME}" if secure else BASENAME


def new_value() -> str:
    return secrets.token_urlsafe(_VALUE_BYTES)


def is_well_formed(value: str) -> bool:
    return _VALUE_SHAPE.fullmatch(value) is not None


def digest(value: str) -> bytes:
    """What the database keeps: the SHA-256 of the value (a 256-bit random
    value needs no pepper: it cannot be guessed from its digest)."""
    return hashlib.sha256(value.encode()).digest()


def csrf_token(value: str) -> str:
    mac = hmac.new(value.encode(), _CSRF_MESSAGE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_matches(value: str, presented: str) -> bool:
    return hmac.compare_digest(csrf_token(value).encode(), presented.encode(errors="replace"))


def origin_of(url: str) -> str:
    """The origin a browser sends for pages under `url`: scheme://host[:port],
    lowercase, the default port left out."""
    return str(URL(url).origin())


def same_origin(presented: str, origin: str) -> bool:
    return presented.strip().lower() == origin
