"""Cross-site request forgery checks for requests signed in by the session cookie.

Pure: no IO. A browser attaches the cookie to requests other sites' pages make
(SameSite=Lax still allows top-level navigations), so every unsafe request
(anything but GET, HEAD, OPTIONS) authenticated by the cookie must show both:

- an `Origin` header equal to the console's own origin (browsers send it on
  every cross-origin and every non-GET request; a page cannot forge it);
- an `X-CSRF-Token` header holding the token derived from the cookie's value
  (`shared.session_cookie.csrf_token`), which only a reader of the cookie (the
  console's server, or the console after sign-in) can know.

Either missing or wrong is a 403 that says which. Requests carrying a bearer
token or an API key are not concerned: a browser never adds those on its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared import session_cookie
from shared.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check(method: str, headers: Mapping[str, str], cookie_value: str, console_origin: str) -> None:
    """Raise `Forbidden` unless this cookie-authenticated request may go on."""
    if method.upper() in SAFE_METHODS:
        return
    origin = headers.get("Origin")
    if origin is None:
        raise Forbidden(
            "a request signed in by the session cookie must carry the Origin header "
            f"of the console ({console_origin})"
        )
    if not session_cookie.same_origin(origin, console_origin):
        raise Forbidden(
            "cross-site request refused: the Origin is not the console's "
            f"({console_origin}); a request signed in by the session cookie must come "
            "from the console"
        )
    token = headers.get(session_cookie.CSRF_HEADER)
    if not token:
        raise Forbidden(
            f"the {session_cookie.CSRF_HEADER} header is required with the session cookie "
            "on a request that changes something"
        )
    if not session_cookie.csrf_matches(cookie_value, token):
        raise Forbidden(f"the {session_cookie.CSRF_HEADER} header does not match the session")
