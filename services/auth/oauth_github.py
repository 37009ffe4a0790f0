"""Signing in with GitHub (OAuth 2 web application flow, as GitHub documents it).

Rules:
- The authorization request carries `state` and a PKCE S256 challenge and
  asks the `read:user user:email` scopes; the code is exchanged at the token
  URL with the client secret and the verifier, asking for JSON (`Accept:
  application/json`). GitHub reports a refused exchange as HTTP 200 with an
  `error` field: that is a refusal too.
- The access token is used at once for `GET /user` (whose numeric `id` is
  the identity: the `login` can change) and `GET /user/emails` (the primary
  address, kept only when GitHub has verified it), then dropped.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from services.auth.identities import ProviderIdentity
from services.auth.oauth_flow import Flow, OAuthFailed, Started
from services.auth.oauth_http import call, get_json, json_object
from services.auth.oauth_providers import GitHubProvider

API_VERSION = "2022-11-28"


def primary_verified_email(emails: Any) -> str | None:
    if not isinstance(emails, list):
        return None
    for entry in emails:
        if isinstance(entry, dict) and entry.get("primary") is True:
            email = entry.get("email")
            return email if entry.get("verified") is True and isinstance(email, str) else None
    return None


class GitHubClient:
    def __init__(self, provider: GitHubProvider, session: aiohttp.ClientSession) -> None:
        self.provider = provider
        self._session = session

    async def authorize_url(self, started: Started, redirect_uri: str) -> str:
        return str(
            URL(self.provider.authorize_url).update_query(
                client_id=self.provider.client_id,
                redirect_uri=redirect_uri,
                scope=self.provider.scope,
                state=started.state,
                code_challenge=started.flow.challenge,
                code_challenge_method="S256",
                allow_signup="true",
            )
        )

    async def identity(self, code: str, flow: Flow, redirect_uri: str) -> ProviderIdentity:
        status, body, _ = await call(
            self._session,
            "POST",
            self.provider.token_url,
            what="token",
            headers={"Accept": "application/json"},
            form={
                "client_id": self.provider.client_id,
                "client_secret": self.provider.client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": flow.verifier,
            },
        )
        answer = json_object(body, "token")
        token = answer.get("access_token")
        if status != 200 or "error" in answer or not isinstance(token, str) or not token:
            error = str(answer.get("error", ""))[:64]
            raise OAuthFailed("token_refused", f"token: HTTP {status} {error}")
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }
        api = self.provider.api_url.rstrip("/")
        user = await get_json(self._session, f"{api}/user", what="user", headers=headers)
        emails = await get_json(self._session, f"{api}/user/emails", what="emails", headers=headers)
        if not isinstance(user, dict) or type(user.get("id")) is not int or user["id"] <= 0:
            raise OAuthFailed("provider_error", "user: no numeric id")
        login = user.get("login") if isinstance(user.get("login"), str) else None
        return ProviderIdentity(
            provider=self.provider.id,
            subject=str(user["id"]),
            email=primary_verified_email(emails),
            name=user.get("name") or login,
            avatar_url=user.get("avatar_url"),
            username_hint=login,
        )
