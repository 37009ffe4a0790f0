"""Settings from an environment mapping; errors name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.mockprovider.settings import DEFAULT_FIXTURES, Settings
from shared.settings import SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8090)
    assert settings.fixtures_dir == DEFAULT_FIXTURES
    assert (DEFAULT_FIXTURES / "index.json").is_file()


def test_values_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "MOCK_PROVIDER_HOST": "0.0.0.0",
            "MOCK_PROVIDER_PORT": "9099",
            "MOCK_PROVIDER_FIXTURES": str(tmp_path),
            "LOG_LEVEL": "debug",
        }
    )
    assert settings == Settings(host="0.0.0.0", port=9099, fixtures_dir=tmp_path, log_level="DEBUG")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MOCK_PROVIDER_PORT": "http"}, "MOCK_PROVIDER_PORT"),
        ({"MOCK_PROVIDER_PORT": "70000"}, "MOCK_PROVIDER_PORT"),
        ({"MOCK_PROVIDER_HOST": " "}, "MOCK_PROVIDER_HOST"),
        ({"MOCK_PROVIDER_FIXTURES": "/nonexistent/wire"}, "MOCK_PROVIDER_FIXTURES"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)
