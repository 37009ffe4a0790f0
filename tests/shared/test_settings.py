"""Settings: validated once, with messages that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.auth.settings import Settings as AuthSettings
from services.gateway.settings import Settings as GatewaySettings
from shared.settings import SettingsError, fernet_secret, token_secret

PRODUCTION = {
    "TOLLGATE_ENV": "production",
    "TOLLGATE_INTERNAL_TOKEN": token_secret(),
    "TOLLGATE_KEY_PEPPER": token_secret(),
    "TOLLGATE_SECRET_KEYS": fernet_secret(),
}


def test_production_settings_read_everything() -> None:
    settings = AuthSettings.from_env({**PRODUCTION, "AUTH_PORT": "9001"})
    assert settings.common.port == 9001
    assert settings.common.dev is False
    assert settings.secret_keys == (PRODUCTION["TOLLGATE_SECRET_KEYS"],)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AUTH_PORT", "eighty", "AUTH_PORT must be an integer"),
        ("AUTH_PORT", "70000", "AUTH_PORT must be between 1 and 65535"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL must be a postgresql:// or postgres://"),
        ("REDIS_URL", "http://redis", "REDIS_URL must be a redis:// or rediss://"),
        ("TOLLGATE_SECRET_KEYS", "not-a-key", "TOLLGATE_SECRET_KEYS: key 1 is not a Fernet key"),
        ("TOLLGATE_INTERNAL_TOKEN", "short", "TOLLGATE_INTERNAL_TOKEN must be at least 16"),
        ("TOLLGATE_ENV", "staging", "TOLLGATE_ENV must be dev, test or production"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be"),
        ("TOLLGATE_TOKEN_TTL_SECONDS", "5", "TOLLGATE_TOKEN_TTL_SECONDS must be between"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        AuthSettings.from_env({**PRODUCTION, name: value})


def test_a_password_in_a_bad_url_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as raised:
        AuthSettings.from_env({**PRODUCTION, "DATABASE_URL": "mysql://u:hunter2@db/x"})
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    "missing", ["TOLLGATE_INTERNAL_TOKEN", "TOLLGATE_KEY_PEPPER", "TOLLGATE_SECRET_KEYS"]
)
def test_outside_dev_a_missing_secret_stops_start_up(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(SettingsError, match=f"{missing} is required outside dev mode"):
        AuthSettings.from_env(env)


def test_dev_mode_generates_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    env = {"TOLLGATE_ENV": "dev", "TOLLGATE_DATA_DIR": str(tmp_path)}
    first = AuthSettings.from_env(env)
    second = AuthSettings.from_env(env)
    gateway = GatewaySettings.from_env(env)
    assert first.key_pepper == second.key_pepper and first.secret_keys == second.secret_keys
    assert gateway.common.internal_token == first.common.internal_token
    stored = tmp_path / "secrets" / "TOLLGATE_KEY_PEPPER"
    assert stored.read_text().strip() == first.key_pepper
    assert stored.stat().st_mode & 0o077 == 0


def test_key_sets_keep_their_order_for_rotation() -> None:
    new, old = fernet_secret(), fernet_secret()
    settings = AuthSettings.from_env({**PRODUCTION, "TOLLGATE_SECRET_KEYS": f"{new}, {old}"})
    assert settings.secret_keys == (new, old)


def test_reuse_port_is_off_unless_asked_for() -> None:
    assert AuthSettings.from_env(PRODUCTION).common.reuse_port is False
    env = {**PRODUCTION, "TOLLGATE_REUSE_PORT": "true"}
    assert GatewaySettings.from_env(env).common.reuse_port is True
    with pytest.raises(SettingsError, match="TOLLGATE_REUSE_PORT must be true or false"):
        AuthSettings.from_env({**PRODUCTION, "TOLLGATE_REUSE_PORT": "maybe"})


def test_metrics_have_a_port_of_their_own(tmp_path: Path) -> None:
    gateway = GatewaySettings.from_env(PRODUCTION).common
    assert (gateway.metrics_host, gateway.metrics_port) == ("127.0.0.1", 9180)
    assert AuthSettings.from_env(PRODUCTION).common.metrics_port == 9181
    env = {**PRODUCTION, "AUTH_METRICS_PORT": "9999", "TOLLGATE_METRICS_HOST": "0.0.0.0"}
    auth = AuthSettings.from_env(env).common
    assert (auth.metrics_host, auth.metrics_port) == ("0.0.0.0", 9999)
    assert AuthSettings.from_env({**PRODUCTION, "AUTH_METRICS_PORT": "0"}).common.metrics_port == 0
    # Dev mode runs many stacks on one machine: no listener unless asked for.
    dev = {"TOLLGATE_ENV": "dev", "TOLLGATE_DATA_DIR": str(tmp_path)}
    assert GatewaySettings.from_env(dev).common.metrics_port == 0
    with pytest.raises(SettingsError, match="GATEWAY_METRICS_PORT must be between 0 and 65535"):
        GatewaySettings.from_env({**PRODUCTION, "GATEWAY_METRICS_PORT": "70000"})


def test_the_head_timeout_is_ten_seconds_unless_set() -> None:
    assert AuthSettings.from_env(PRODUCTION).common.head_timeout == 10
    env = {**PRODUCTION, "TOLLGATE_HEAD_TIMEOUT": "3"}
    assert GatewaySettings.from_env(env).common.head_timeout == 3
    with pytest.raises(SettingsError, match="TOLLGATE_HEAD_TIMEOUT must be between 1 and 300"):
        AuthSettings.from_env({**PRODUCTION, "TOLLGATE_HEAD_TIMEOUT": "0"})
