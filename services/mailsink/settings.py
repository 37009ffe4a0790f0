"""The mail sink's settings, read once from an environment mapping.

MAILSINK_HOST           listen address of both servers, default 127.0.0.1
MAILSINK_SMTP_PORT      the SMTP port, default 8025
MAILSINK_PORT           the page's port, default 8026
MAILSINK_MAX_MESSAGES   mails kept (the oldest go first), default 500
LOG_LEVEL               DEBUG, INFO, WARNING or ERROR, default INFO
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import settings as read
from shared.settings import Environ, SettingsError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    smtp_port: int = 8025  # 0: any free port (tests)
    port: int = 8026
    max_messages: int = 500
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        host = env.get("MAILSINK_HOST", "127.0.0.1").strip()
        if not host:
            raise SettingsError("MAILSINK_HOST must not be empty")
        level = env.get("LOG_LEVEL", "INFO").strip().upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return cls(
            host=host,
            smtp_port=read.port(env, "MAILSINK_SMTP_PORT", 8025),
            port=read.port(env, "MAILSINK_PORT", 8026),
            max_messages=read.integer(env, "MAILSINK_MAX_MESSAGES", 500, low=1, high=100000),
            log_level=level,
        )
