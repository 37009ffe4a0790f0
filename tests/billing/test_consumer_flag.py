"""`TOLLGATE_CONSUMER`: billing and usage run as API-only or consumer replicas.

Pure: settings are read from a mapping and the apps are only built, never
started, so neither PostgreSQL nor Redis is touched.
"""

from __future__ import annotations

import pytest

from services.billing.app import create_app as create_billing
from services.billing.settings import Settings as BillingSettings
from services.usage.app import create_app as create_usage
from services.usage.settings import Settings as UsageSettings
from shared.settings import SettingsError, fernet_secret, token_secret

PRODUCTION = {
    "TOLLGATE_ENV": "production",
    "TOLLGATE_INTERNAL_TOKEN": token_secret(),
    "TOLLGATE_KEY_PEPPER": token_secret(),
    "TOLLGATE_SECRET_KEYS": fernet_secret(),
}


def test_consuming_is_the_default() -> None:
    assert BillingSettings.from_env(PRODUCTION).consumer is True
    assert UsageSettings.from_env(PRODUCTION).consumer is True


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("0", False), ("yes", True)])
def test_the_flag_is_read_by_both_services(raw: str, expected: bool) -> None:
    env = {**PRODUCTION, "TOLLGATE_CONSUMER": raw}
    assert BillingSettings.from_env(env).consumer is expected
    assert UsageSettings.from_env(env).consumer is expected


def test_a_malformed_flag_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="TOLLGATE_CONSUMER must be true or false"):
        BillingSettings.from_env({**PRODUCTION, "TOLLGATE_CONSUMER": "sometimes"})


def test_an_api_only_replica_has_no_consumer_context() -> None:
    consuming = BillingSettings.from_env(PRODUCTION)
    api_only = BillingSettings.from_env({**PRODUCTION, "TOLLGATE_CONSUMER": "false"})
    # billing's consumer, the publisher of its progress (the watermark holds
    # expire by), the payment reconciler and the spend anomaly detector
    assert (
        len(create_billing(api_only).cleanup_ctx) == len(create_billing(consuming).cleanup_ctx) - 4
    )
    consuming_usage = UsageSettings.from_env(PRODUCTION)
    api_only_usage = UsageSettings.from_env({**PRODUCTION, "TOLLGATE_CONSUMER": "off"})
    assert (
        len(create_usage(api_only_usage).cleanup_ctx)
        == len(create_usage(consuming_usage).cleanup_ctx) - 1
    )
