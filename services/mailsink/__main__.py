"""`python -m services.mailsink`: the SMTP sink and its page, until stopped."""

from __future__ import annotations

import logging

from aiohttp import web

from services.mailsink.app import create_app
from services.mailsink.settings import Settings
from shared import logs
from shared.settings import environ


def main() -> None:
    config = Settings.from_env(environ())
    logs.configure("mailsink", config.log_level)
    # aiosmtpd logs every SMTP line (addresses included) at INFO: the page shows them.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
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
