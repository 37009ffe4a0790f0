"""A stack whose auth signs in with the mock OpenID/OAuth provider, and a
browser that walks the sign-in redirects by hand.

The mock (services/mockoidc) runs as a real HTTP server; auth is configured
with its Google-like issuer and GitHub-like endpoints as an operator would
with the real ones. The gateway's port is chosen first, so auth's public URL
(where providers send the browser back) is the gateway's address. Session
cookies are not Secure here (plain HTTP on loopback), so the browser's cookie
jar behaves as a browser's would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from services.auth.app import create_app as create_auth
from services.auth.oauth_providers import GitHubProvider, OidcProvider
from services.auth.settings import Settings as AuthSettings
from services.gateway.app import create_app as create_gateway
from services.mockoidc import settings as mock_settings
from services.mockoidc.app import create_app as create_mockoidc
from tests.conftest import AiohttpServer, Stack
from tests.ports import free_ports


@dataclass(frozen=True, kw_only=True)
class OAuthStack:
    mock: TestServer
    auth: TestServer
    gateway: TestServer
    auth_settings: AuthSettings

    @property
    def public_url(self) -> str:
        return self.auth_settings.public_url

    @property
    def mock_url(self) -> str:
        return str(self.mock.make_url("")).rstrip("/")


def providers_for(mock_url: str) -> tuple[OidcProvider, GitHubProvider]:
    return (
        OidcProvider(
            id="google",
            name="Google",
            client_id=mock_settings.DEV_GOOGLE_CLIENT_ID,
            client_secret=mock_settings.DEV_GOOGLE_CLIENT_SECRET,
            issuer=f"{mock_url}/google",
        ),
        GitHubProvider(
            id="github",
            name="GitHub",
            client_id=mock_settings.DEV_GITHUB_CLIENT_ID,
            client_secret=mock_settings.DEV_GITHUB_CLIENT_SECRET,
            authorize_url=f"{mock_url}/github/login/oauth/authorize",
            token_url=f"{mock_url}/github/login/oauth/access_token",
            api_url=f"{mock_url}/github/api",
        ),
    )


@pytest.fixture
async def oauth(stack: Stack, aiohttp_server: AiohttpServer) -> OAuthStack:
    mock = await aiohttp_server(create_mockoidc(mock_settings.Settings()))
    (gateway_port,) = free_ports(1)
    public_url = f"http://127.0.0.1:{gateway_port}"
    auth_settings = replace(
        stack.auth_settings,
        oauth_providers=providers_for(str(mock.make_url("")).rstrip("/")),
        public_url=public_url,
        session_cookie_secure=False,
    )
    auth = await aiohttp_server(create_auth(auth_settings))
    gateway_settings = replace(
        stack.gateway_settings,
        auth_url=str(auth.make_url("")).rstrip("/"),
        public_url=public_url,
        session_cookie_secure=False,
        spool_dir=stack.common.data_dir / "spool-oauth",
    )
    gateway = await aiohttp_server(create_gateway(gateway_settings), port=gateway_port)
    return OAuthStack(mock=mock, auth=auth, gateway=gateway, auth_settings=auth_settings)


GOOGLE_PERSON = {
    "sub": "1000000000000000001",
    "email": "alice@example.com",
    "email_verified": "true",
    "name": "Alice Example",
    "picture": "https://example.com/alice.png",
}
GITHUB_PERSON = {
    "id": "583231",
    "login": "octocat",
    "name": "The Octocat",
    "email": "octocat@example.com",
    "email_verified": "true",
    "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
}


class Browser:
    """One browser: its own cookie jar; redirects followed by hand, one at a time."""

    def __init__(self, stack: OAuthStack) -> None:
        self.stack = stack
        # unsafe: keep cookies of an IP-address host, as a browser does for 127.0.0.1
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.session.close()

    async def get(self, url: str | URL) -> tuple[int, str]:
        """(status, Location) of one GET, redirects not followed."""
        async with self.session.get(url, allow_redirects=False) as response:
            await response.read()
            return response.status, response.headers.get("Location", "")

    async def start(self, provider: str) -> URL:
        """Press "Sign in with ...": where the gateway sends the browser."""
        status, location = await self.get(
            f"{self.stack.public_url}/api/auth/oauth/{provider}/start"
        )
        assert status == 302, status
        return URL(location)

    async def consent(self, page: URL, person: dict[str, str], **controls: str) -> URL:
        """At the provider: open its page, say who one is, press "Sign in"; where
        the provider sends the browser back."""
        async with self.session.get(page, allow_redirects=False) as response:
            assert response.status == 200, await response.text()
        form = {**page.query, **person, "action": "allow", **controls}
        async with self.session.post(
            page.with_query(None), data=form, allow_redirects=False
        ) as response:
            assert response.status == 302, await response.text()
            return URL(response.headers["Location"])

    async def back(self, callback: URL) -> URL:
        """Arrive back at Tollgate's callback; where it sends the browser."""
        status, location = await self.get(callback)
        assert status == 302, status
        return URL(location)

    async def sign_in(self, provider: str, person: dict[str, str], **controls: str) -> URL:
        page = await self.start(provider)
        return await self.back(await self.consent(page, person, **controls))

    async def me(self) -> tuple[int, Any]:
        async with self.session.get(f"{self.stack.public_url}/api/me") as response:
            body = await response.json()
            return response.status, body
