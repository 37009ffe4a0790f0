"""The enabled sign-in providers, their clients and the sign-in state store,
built once per process (`context`) from the auth settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet, MultiFernet

from services.auth import id_tokens
from services.auth.identities import ProviderIdentity
from services.auth.keys import SETTINGS
from services.auth.oauth_flow import Flow, FlowStore, OAuthFailed, Started
from services.auth.oauth_github import GitHubClient
from services.auth.oauth_oidc import OidcClient
from services.auth.oauth_providers import OidcProvider, Provider
from shared.errors import NotFound
from shared.service import REDIS

CALLBACK_PATH = "/api/auth/oauth/{provider}/callback"


class SignInProviders:
    def __init__(
        self,
        providers: tuple[Provider, ...],
        session: aiohttp.ClientSession,
        flows: FlowStore,
        public_url: str,
        *,
        secure_cookie: bool,
    ) -> None:
        self.flows = flows
        self.secure_cookie = secure_cookie
        self.public_url = public_url.rstrip("/")
        self._providers = providers
        self._clients: dict[str, OidcClient | GitHubClient] = {
            p.id: OidcClient(p, session)
            if isinstance(p, OidcProvider)
            else GitHubClient(p, session)
            for p in providers
        }

    def listed(self) -> list[dict[str, str]]:
        return [
            {"id": p.id, "name": p.name, "start_url": f"/api/auth/oauth/{p.id}/start"}
            for p in self._providers
        ]

    def enabled(self, provider: str) -> bool:
        return provider in self._clients

    def _client(self, provider: str) -> OidcClient | GitHubClient:
        client = self._clients.get(provider)
        if client is None:
            raise NotFound("no such sign-in provider")
        return client

    def callback_url(self, provider: str) -> str:
        """Where the provider sends the browser back: from the configured public
        URL, never from the request's Host."""
        return self.public_url + CALLBACK_PATH.format(provider=provider)

    async def authorize_url(self, provider: str, started: Started) -> str:
        return await self._client(provider).authorize_url(started, self.callback_url(provider))

    def check_response_issuer(self, provider: str, iss: str | None) -> None:
        """RFC 9207: an `iss` on the way back must be the provider's own issuer."""
        client = self._client(provider)
        if iss is not None and isinstance(client, OidcClient):
            if iss not in id_tokens.accepted_issuers(client.provider.issuer):
                raise OAuthFailed("issuer_mismatch", "the response's iss is another issuer's")

    async def identity(self, provider: str, code: str, flow: Flow) -> ProviderIdentity:
        return await self._client(provider).identity(code, flow, self.callback_url(provider))


SIGN_IN_PROVIDERS = web.AppKey("sign_in_providers", SignInProviders)


async def providers_context(app: web.Application) -> AsyncIterator[None]:
    """The cleanup context: one client session for every call out to a provider."""
    settings = app[SETTINGS]
    fernet = MultiFernet([Fernet(key) for key in settings.secret_keys])
    async with aiohttp.ClientSession() as session:
        app[SIGN_IN_PROVIDERS] = SignInProviders(
            settings.oauth_providers,
            session,
            FlowStore(app[REDIS], fernet),
            settings.public_url,
            secure_cookie=settings.session_cookie_secure,
        )
        yield
