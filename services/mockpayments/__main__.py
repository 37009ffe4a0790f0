"""`python -m services.mockpayments`: the mock payment provider, until stopped."""

from __future__ import annotations

from aiohttp import web

from services.mockpayments.app import create_app
from services.mockpayments.settings import Settings
from shared import logs
from shared.settings import load_or_exit


def main() -> None:
    config = load_or_exit(Settings.from_env)
    logs.configure("mockpayments", config.log_level)
    web.run_app(
        create_app(config),
        host=config.host,
        port=config.port,
        access_log_class=logs.AccessLogger,
        print=None,
        shutdown_timeout=2,
    )


if __name__ == "__main__":
    main()
