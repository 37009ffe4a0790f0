"""The usage service's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from shared import settings as read
from shared.settings import Common, Environ


@dataclass(frozen=True, kw_only=True)
class Settings:
    common: Common
    # False: serve the HTTP API only and leave the usage stream to other
    # replicas (API-only and consumer replicas scale separately).
    consumer: bool = True

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        return cls(
            common=read.common(env, port_var="USAGE_PORT", default_port=8083),
            consumer=read.flag(env, "TOLLGATE_CONSUMER", True),
        )
