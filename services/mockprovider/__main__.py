"""`python -m services.mockprovider`: read the settings, serve until stopped."""

from __future__ import annotations

from aiohttp import web

from services.mockprovider.app import create_app
from services.mockprovider.settings import Settings
from shared import logs
from shared.settings import environ


def main() -> None:
    config = Settings.from_env(environ())
    logs.configure("mockprovider", config.log_level)
    web.run_app(
        create_app(config),
        host=config.host,
        port=config.port,
        access_log_class=logs.AccessLogger,  # path only: a ?key= never reaches a log line
        print=None,
        shutdown_timeout=2,
    )


if __name__ == "__main__":
    main()
