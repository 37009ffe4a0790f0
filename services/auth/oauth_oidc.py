"""Signing in with an OpenID Connect provider (Google): discovery, the
authorization request, the code exchange and the ID token's verification.

Rules:
- Endpoints come from the issuer's discovery document (cached an hour), whose
  `issuer` must equal the configured one.
- The authorization request asks `response_type=code` with `state`, `nonce`
  and a PKCE S256 challenge; the code is exchanged with the verifier and the
  client secret (`client_secret_post`) at the token endpoint.
- The ID token from the token endpoint is verified (`id_tokens.verify`) against
  the JWKS (cached an hour; fetched again when the token's `kid` is unknown, as
  keys rotate: the token comes from the token endpoint, never from the
  browser, so no one else can make us fetch). Its `sub` is the identity; only a
  verified email (`email_verified` true) is passed on, with the name and picture.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from yarl import URL

from services.auth import id_tokens
from services.auth.identities import ProviderIdentity
from services.auth.oauth_flow import Flow, OAuthFailed, Started
from services.auth.oauth_http import call, get_json, json_object
from services.auth.oauth_providers import OidcProvider

DISCOVERY_SECONDS = 3600
JWKS_SECONDS = 3600


class OidcClient:
    def __init__(self, provider: OidcProvider, session: aiohttp.ClientSession) -> None:
        self.provider = provider
        self._session = session
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._jwks: tuple[float, dict[str, Any]] | None = None

    async def discovery(self) -> dict[str, Any]:
        if self._discovery and time.monotonic() - self._discovery[0] < DISCOVERY_SECONDS:
            return self._discovery[1]
        url = self.provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await get_json(self._session, url, what="discovery")
        if not isinstance(document, dict) or document.get("issuer") != self.provider.issuer:
            raise OAuthFailed("provider_error", "discovery: the issuer is not the configured one")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if URL(str(document.get(name, ""))).scheme not in {"http", "https"}:
                raise OAuthFailed("provider_error", f"discovery: no {name}")
        self._discovery = (time.monotonic(), document)
        return document

    async def _keys(self, *, refresh: bool) -> dict[str, Any]:
        cached = self._jwks
        if cached and not refresh and time.monotonic() - cached[0] < JWKS_SECONDS:
            return cached[1]
        document = await self.discovery()
        jwks = await get_json(self._session, document["jwks_uri"], what="jwks")
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise OAuthFailed("provider_error", "jwks: no keys")
        self._jwks = (time.monotonic(), jwks)
        return jwks

    async def authorize_url(self, started: Started, redirect_uri: str) -> str:
        document = await self.discovery()
        return str(
            URL(document["authorization_endpoint"]).update_query(
                response_type="code",
                client_id=self.provider.client_id,
                redirect_uri=redirect_uri,
                scope=self.provider.scope,
                state=started.state,
                nonce=started.flow.nonce,
                code_challenge=started.flow.challenge,
                code_challenge_method="S256",
            )
        )

    async def identity(self, code: str, flow: Flow, redirect_uri: str) -> ProviderIdentity:
        document = await self.discovery()
        status, body, _ = await call(
            self._session,
            "POST",
            document["token_endpoint"],
            what="token",
            headers={"Accept": "application/json"},
            form={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self.provider.client_id,
                "client_secret": self.provider.client_secret,
                "code_verifier": flow.verifier,
            },
        )
        answer = json_object(body, "token")
        if status != 200 or not isinstance(answer.get("id_token"), str):
            error = str(answer.get("error", ""))[:64]
            raise OAuthFailed("token_refused", f"token: HTTP {status} {error}")
        claims = await self._verified(answer["id_token"], document, flow.nonce)
        verified = claims.get("email_verified") in (True, "true")
        return ProviderIdentity(
            provider=self.provider.id,
            subject=claims["sub"],
            email=claims.get("email") if verified else None,
            name=claims.get("name"),
            avatar_url=claims.get("picture"),
        )

    async def _verified(self, token: str, document: dict[str, Any], nonce: str) -> dict[str, Any]:
        algorithms = id_tokens.allowed_algorithms(
            document.get("id_token_signing_alg_values_supported")
        )

        def verify(jwks: dict[str, Any]) -> dict[str, Any]:
            return id_tokens.verify(
                token,
                jwks=jwks,
                algorithms=algorithms,
                issuer=self.provider.issuer,
                client_id=self.provider.client_id,
                nonce=nonce,
            )

        try:
            try:
                return verify(await self._keys(refresh=False))
            except id_tokens.UnknownKey:
                return verify(await self._keys(refresh=True))
        except id_tokens.InvalidIdToken as exc:
            raise OAuthFailed("id_token_invalid", str(exc)) from exc
