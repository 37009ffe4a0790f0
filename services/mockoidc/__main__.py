"""`python -m services.mockoidc`: the mock OpenID/OAuth provider, until stopped."""

from __future__ import annotations

from aiohttp import web

from services.mockoidc.app import create_app
from services.mockoidc.settings import Settings
from shared import logs
from shared.settings import environ


def main() -> None:
    config = Settings.from_env(environ())
    logs.configure("mockoidc", config.log_level)
    web.run_app(
        create_app(config),
        host=config.host,
        port=config.port,
        access_log_class=logs.AccessLogger,  # path only: codes and states stay out of logs
        print=None,
        shutdown_timeout=2,
    )


if __name__ == "__main__":
    main()
