"""Sign-in providers from the environment: Google (OpenID Connect) and GitHub (OAuth 2).

A provider is enabled exactly when its client id and secret are both set; one
without the other is a settings error. Endpoints default to the real
provider's, so setting the id and secret is all production needs; `tollgate
dev` points them at the mock provider (services/mockoidc).

GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET   the OAuth client of a Google Cloud project
GOOGLE_ISSUER          default https://accounts.google.com; its
                       `/.well-known/openid-configuration` names every endpoint
GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET   a GitHub OAuth app's
GITHUB_AUTHORIZE_URL   default https://github.com/login/oauth/authorize
GITHUB_TOKEN_URL       default https://github.com/login/oauth/access_token
GITHUB_API_URL         default https://api.github.com

The callback registered at the provider is TOLLGATE_PUBLIC_URL +
`/api/auth/oauth/{google|github}/callback`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared import settings as read
from shared.settings import Environ, SettingsError

GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"
GITHUB_API_URL = "https://api.github.com"
_SCHEMES = ("http", "https")


@dataclass(frozen=True, kw_only=True)
class OidcProvider:
    """An OpenID Connect issuer found by discovery (Google)."""

    id: str
    name: str
    client_id: str
    client_secret: str = field(repr=False)
    issuer: str
    scope: str = "openid email profile"


@dataclass(frozen=True, kw_only=True)
class GitHubProvider:
    """GitHub's OAuth web flow and REST API (no ID token: the user's `id` is the subject)."""

    id: str
    name: str
    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    api_url: str
    scope: str = "read:user user:email"


Provider = OidcProvider | GitHubProvider


def _client(env: Environ, prefix: str) -> tuple[str, str] | None:
    client_id = env.get(f"{prefix}_CLIENT_ID", "").strip()
    secret = env.get(f"{prefix}_CLIENT_SECRET", "").strip()
    if bool(client_id) != bool(secret):
        raise SettingsError(
            f"{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET are set together or not at all"
        )
    return (client_id, secret) if client_id else None


def from_env(env: Environ) -> tuple[Provider, ...]:
    """The enabled providers, Google first."""
    providers: list[Provider] = []
    if google := _client(env, "GOOGLE"):
        providers.append(
            OidcProvider(
                id="google",
                name="Google",
                client_id=google[0],
                client_secret=google[1],
                issuer=read.url(env, "GOOGLE_ISSUER", GOOGLE_ISSUER, schemes=_SCHEMES),
            )
        )
    if github := _client(env, "GITHUB"):
        providers.append(
            GitHubProvider(
                id="github",
                name="GitHub",
                client_id=github[0],
                client_secret=github[1],
                authorize_url=read.url(
                    env, "GITHUB_AUTHORIZE_URL", GITHUB_AUTHORIZE_URL, schemes=_SCHEMES
                ),
                token_url=read.url(env, "GITHUB_TOKEN_URL", GITHUB_TOKEN_URL, schemes=_SCHEMES),
                api_url=read.url(env, "GITHUB_API_URL", GITHUB_API_URL, schemes=_SCHEMES),
            )
        )
    return tuple(providers)
