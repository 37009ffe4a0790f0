"""The mock provider's settings, read once from an environment mapping.

    MOCK_PROVIDER_HOST      listen address, default 127.0.0.1
    MOCK_PROVIDER_PORT      listen port, default 8090
    MOCK_PROVIDER_FIXTURES  directory of recorded wire fixtures for replay,
                            default /work/shared/fixtures/wire (beside the repo)
    LOG_LEVEL               DEBUG, INFO, WARNING or ERROR, default INFO

Errors name the variable. Nothing else in the package reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared import settings as read
from shared.settings import Environ, SettingsError

DEFAULT_FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "wire"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8090
    fixtures_dir: Path = DEFAULT_FIXTURES
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        host = env.get("MOCK_PROVIDER_HOST", "127.0.0.1").strip()
        if not host:
            raise SettingsError("MOCK_PROVIDER_HOST must not be empty")
        fixtures = env.get("MOCK_PROVIDER_FIXTURES", "").strip()
        fixtures_dir = Path(fixtures) if fixtures else DEFAULT_FIXTURES
        if fixtures and not fixtures_dir.is_dir():
            raise SettingsError(f"MOCK_PROVIDER_FIXTURES must be a directory, got {fixtures!r}")
        level = env.get("LOG_LEVEL", "INFO").strip().upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
        return cls(
            host=host,
            port=read.port(env, "MOCK_PROVIDER_PORT", 8090),
            fixtures_dir=fixtures_dir,
            log_level=level,
        )
