"""Test helpers that play a browser signed in with a session cookie.

A browser here is explicit about what it sends: the client's cookie jar is
emptied after each sign-in, and every request carries the cookie in its own
`Cookie` header, with the console's `Origin` and the CSRF token when the
request changes something, as the console's pages will.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookies import Morsel
from typing import Any

from aiohttp import ClientResponse

from tests.accounts import PASSWORD, Client

# The test stack's TOLLGATE_PUBLIC_URL is the default (shared.mail.settings.DEV_PUBLIC_URL).
CONSOLE_ORIGIN = "http://127.0.0.1:8080"


@dataclass(frozen=True, kw_only=True)
class Browser:
    cookie_name: str
    cookie: str
    csrf: str
    session_id: str

    @property
    def reads(self) -> dict[str, str]:
        """Headers of a safe request (GET): the cookie alone."""
        return {"Cookie": f"{self.cookie_name}={self.cookie}"}

    @property
    def writes(self) -> dict[str, str]:
        """Headers of an unsafe request from the console: cookie, Origin, CSRF token."""
        return {**self.reads, "Origin": CONSOLE_ORIGIN, "X-CSRF-Token": self.csrf}


def session_morsel(response: ClientResponse) -> Morsel[str]:
    (name,) = [name for name in response.cookies if name.endswith("tg_session")]
    return response.cookies[name]


async def sign_in(
    client: Client, login: str, password: str = PASSWORD, headers: dict[str, str] | None = None
) -> tuple[Browser, ClientResponse]:
    """Sign in for a session (the console's way); the answer is returned to inspect."""
    response = await client.post(
        "/api/auth/login",
        json={"login": login, "password": password, "session": True},
        headers={"Origin": CONSOLE_ORIGIN, **(headers or {})},
    )
    assert response.status == 200, await response.text()
    client.session.cookie_jar.clear()
    body: dict[str, Any] = await response.json()
    morsel = session_morsel(response)
    browser = Browser(
        cookie_name=morsel.key,
        cookie=morsel.value,
        csrf=body["csrf_token"],
        session_id=body["session"]["id"],
    )
    return browser, response
