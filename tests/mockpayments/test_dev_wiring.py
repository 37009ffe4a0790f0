"""`tollgate dev` points billing at the mock payment provider, with the same
keys, secrets and products the mock is started with, unless the operator set
a real provider's key (then that provider is the real one)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from services.cli import dev_environment
from services.mockpayments.settings import Settings

NAMES = (
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "CREEM_API_KEY",
    "CREEM_WEBHOOK_SECRET",
    "CREEM_API_BASE",
    "CREEM_PRODUCTS",
    "PAYMENT_PROVIDERS",
    "PAYMENT_CURRENCY",
    "TOPUP_PRESETS",
    "GATEWAY_URL",
    "MOCKPAYMENTS_URL",
    "MOCKPAYMENTS_PORT",
)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("MOCKPAYMENTS_")]:
        monkeypatch.delenv(name, raising=False)


def environment(tmp_path: Path) -> dict[str, str]:
    return dev_environment.environment("postgresql://x/y", "redis://127.0.0.1:6379/2", tmp_path)


def test_billing_and_the_mock_agree_on_everything(tmp_path: Path) -> None:
    env = environment(tmp_path)
    mock = Settings.from_env(env)
    assert env["MOCKPAYMENTS_URL"] == "http://127.0.0.1:8092" and mock.port == 8092
    assert env["STRIPE_API_BASE"] == "http://127.0.0.1:8092/stripe"
    assert env["CREEM_API_BASE"] == "http://127.0.0.1:8092/creem"
    assert env["STRIPE_SECRET_KEY"] == mock.stripe_secret_key
    assert env["STRIPE_WEBHOOK_SECRET"] == mock.stripe_webhook.secret
    assert env["CREEM_API_KEY"] == mock.creem_api_key
    assert env["CREEM_WEBHOOK_SECRET"] == mock.creem_webhook.secret
    assert env["PAYMENT_PROVIDERS"] == "stripe,creem"
    gateway = env["GATEWAY_URL"]
    assert mock.stripe_webhook.url == f"{gateway}/api/billing/webhooks/stripe"
    assert mock.creem_webhook.url == f"{gateway}/api/billing/webhooks/creem"
    packs = dict(item.split("=") for item in env["CREEM_PRODUCTS"].split(","))
    assert list(packs) == ["5", "10", "20", "50", "100"]
    for amount, product_id in packs.items():
        product = mock.creem_products[product_id]
        assert (product.price, product.currency) == (int(Decimal(amount) * 100), "USD")


def test_the_operators_presets_and_currency_make_the_packs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPUP_PRESETS", "7.50,15")
    monkeypatch.setenv("PAYMENT_CURRENCY", "EUR")
    env = environment(tmp_path)
    mock = Settings.from_env(env)
    packs = dict(item.split("=") for item in env["CREEM_PRODUCTS"].split(","))
    assert [
        (mock.creem_products[p].price, mock.creem_products[p].currency) for p in packs.values()
    ] == [
        (750, "EUR"),
        (1500, "EUR"),
    ]


def test_a_real_stripe_key_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_real")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_real")
    monkeypatch.setenv("PAYMENT_PROVIDERS", "stripe")
    env = environment(tmp_path)
    assert env["STRIPE_SECRET_KEY"] == "sk_live_real"
    assert env["STRIPE_WEBHOOK_SECRET"] == "whsec_real"
    assert "STRIPE_API_BASE" not in env
    assert "MOCKPAYMENTS_STRIPE_WEBHOOK_URL" not in env
    assert env["PAYMENT_PROVIDERS"] == "stripe"
    assert env["CREEM_API_BASE"] == "http://127.0.0.1:8092/creem"
    assert dev_environment.payments_line(env).endswith(
        "top-ups with Creem pay there, nothing is charged)"
    )
