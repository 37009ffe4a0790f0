"""The mock OpenID provider's settings, read once from an environment mapping.

MOCKOIDC_HOST                  listen address, default 127.0.0.1
MOCKOIDC_PORT                  listen port, default 8091
MOCKOIDC_GOOGLE_CLIENT_ID      the one client its Google-like issuer knows,
                               default tollgate-dev-google
MOCKOIDC_GOOGLE_CLIENT_SECRET  default tollgate-dev-google-secret
MOCKOIDC_GITHUB_CLIENT_ID      the one OAuth app its GitHub-like server knows,
                               default tollgate-dev-github
MOCKOIDC_GITHUB_CLIENT_SECRET  default tollgate-dev-github-secret
LOG_LEVEL                      DEBUG, INFO, WARNING or ERROR, default INFO

The defaults are what `tollgate dev` gives auth as GOOGLE_* and GITHUB_*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared import settings as read
from shared.settings import Environ, SettingsError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEV_GOOGLE_CLIENT_ID = "tollgate-dev-google"
DEV_GOOGLE_CLIENT_SECRET = "tollgate-dev-google-secret"
DEV_GITHUB_CLIENT_ID = "tollgate-dev-github"
DEV_GITHUB_CLIENT_SECRET = "tollgate-dev-github-secret"


@dataclass(frozen=True, kw_only=True)
class Client:
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8091
    google: Client = Client(client_id=DEV_GOOGLE_CLIENT_ID, client_secret=DEV_GOOGLE_CLIENT_SECRET)
    github: Client = Client(client_id=DEV_GITHUB_CLIENT_ID, client_secret=DEV_GITHUB_CLIENT_SECRET)
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        host = env.get("MOCKOIDC_HOST", "127.0.0.1").strip()
        if not host:
            raise SettingsError("MOCKOIDC_HOST must not be empty")
        level = env.get("LOG_LEVEL", "INFO").strip().upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return cls(
            host=host,
            port=read.port(env, "MOCKOIDC_PORT", 8091),
            google=Client(
                client_id=env.get("MOCKOIDC_GOOGLE_CLIENT_ID") or DEV_GOOGLE_CLIENT_ID,
                client_secret=env.get("MOCKOIDC_GOOGLE_CLIENT_SECRET") or DEV_GOOGLE_CLIENT_SECRET,
            ),
            github=Client(
                client_id=env.get("MOCKOIDC_GITHUB_CLIENT_ID") or DEV_GITHUB_CLIENT_ID,
                client_secret=env.get("MOCKOIDC_GITHUB_CLIENT_SECRET") or DEV_GITHUB_CLIENT_SECRET,
            ),
            log_level=level,
        )
