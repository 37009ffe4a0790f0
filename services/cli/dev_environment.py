"""The settings `tollgate dev` gives the services it starts: local ports and
stores, mail to the sink, sign-in and payments at the doubles (DESIGN 16),
each outside party's double used unless that party's own settings are given.
"""

from __future__ import annotations

from pathlib import Path

from services.mockoidc import settings as mockoidc
from services.mockpayments import settings as mockpayments
from shared import settings as read

# The mail sink first: auth's sender finds it up when the first mail is queued.
PORTS = {
    "mailsink": 8026,
    "mockoidc": 8091,
    "mockpayments": 8092,
    "gateway": 8080,
    "auth": 8081,
    "billing": 8082,
    "usage": 8083,
    "console": 8084,
    "mockprovider": 8090,
}
MAILSINK_SMTP_PORT = 8025
# Each service but the mock serves /metrics on a port of its own (shared.settings.common).
METRICS_PORTS = {"gateway": 9180, "auth": 9181, "billing": 9182, "usage": 9183, "console": 9184}
_PORT_VARIABLE = {"mockprovider": "MOCK_PROVIDER_PORT"}


def environment(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(read.environ())
    env.update(
        TOLLGATE_ENV="dev",
        TOLLGATE_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )
    for name, port in PORTS.items():
        variable = _PORT_VARIABLE.get(name, f"{name.upper()}_PORT")
        env.setdefault(variable, str(port))
        env.setdefault(f"{name.upper()}_URL", f"http://127.0.0.1:{env[variable]}")
    for name, port in METRICS_PORTS.items():
        env.setdefault(f"{name.upper()}_METRICS_PORT", str(port))
    # Mail goes to the sink unless a real server is configured; links in mails
    # point at the gateway, the public edge.
    env.setdefault("MAILSINK_SMTP_PORT", str(MAILSINK_SMTP_PORT))
    if not env.get("SMTP_HOST"):
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=env["MAILSINK_SMTP_PORT"], SMTP_TLS="none")
        env.pop("SMTP_USERNAME", None)
        env.pop("SMTP_PASSWORD", None)
    env.setdefault("TOLLGATE_PUBLIC_URL", env["GATEWAY_URL"])
    _sign_in_providers(env)
    _payment_providers(env)
    return env


def _sign_in_providers(env: dict[str, str]) -> None:
    """Sign in with Google and GitHub go to the mock OpenID provider, each
    unless that provider's own client is configured (then the real one)."""
    mock = env["MOCKOIDC_URL"]
    if not env.get("GOOGLE_CLIENT_ID"):
        env.update(
            GOOGLE_CLIENT_ID=mockoidc.DEV_GOOGLE_CLIENT_ID,
            GOOGLE_CLIENT_SECRET=mockoidc.DEV_GOOGLE_CLIENT_SECRET,
            GOOGLE_ISSUER=f"{mock}/google",
        )
    if not env.get("GITHUB_CLIENT_ID"):
        env.update(
            GITHUB_CLIENT_ID=mockoidc.DEV_GITHUB_CLIENT_ID,
            GITHUB_CLIENT_SECRET=mockoidc.DEV_GITHUB_CLIENT_SECRET,
            GITHUB_AUTHORIZE_URL=f"{mock}/github/login/oauth/authorize",
            GITHUB_TOKEN_URL=f"{mock}/github/login/oauth/access_token",
            GITHUB_API_URL=f"{mock}/github/api",
        )


def _payment_providers(env: dict[str, str]) -> None:
    """Top-ups pay at the mock payment provider: Stripe and Creem each unless
    that provider's own key is configured (then the real one). The mock posts
    its webhooks to the gateway, the public edge, as the real providers do."""
    mock, gateway = env["MOCKPAYMENTS_URL"], env["GATEWAY_URL"]
    env.setdefault("MOCKPAYMENTS_PUBLIC_URL", mock)
    if not env.get("STRIPE_SECRET_KEY"):
        env.update(
            STRIPE_API_BASE=f"{mock}/stripe",
            STRIPE_SECRET_KEY=env.setdefault(
                "MOCKPAYMENTS_STRIPE_SECRET_KEY", mockpayments.DEV_STRIPE_SECRET_KEY
            ),
            STRIPE_WEBHOOK_SECRET=env.setdefault(
                "MOCKPAYMENTS_STRIPE_WEBHOOK_SECRET", mockpayments.DEV_STRIPE_WEBHOOK_SECRET
            ),
        )
        env.setdefault("MOCKPAYMENTS_STRIPE_WEBHOOK_URL", f"{gateway}/api/billing/webhooks/stripe")
    if not env.get("CREEM_API_KEY"):
        products, mock_products = mockpayments.dev_creem_products(
            env.get("TOPUP_PRESETS") or mockpayments.DEV_PRESETS,
            env.get("PAYMENT_CURRENCY") or "USD",
        )
        env.update(
            CREEM_API_BASE=f"{mock}/creem",
            CREEM_API_KEY=env.setdefault(
                "MOCKPAYMENTS_CREEM_API_KEY", mockpayments.DEV_CREEM_API_KEY
            ),
            CREEM_WEBHOOK_SECRET=env.setdefault(
                "MOCKPAYMENTS_CREEM_WEBHOOK_SECRET", mockpayments.DEV_CREEM_WEBHOOK_SECRET
            ),
        )
        env.setdefault("CREEM_PRODUCTS", products)
        env.setdefault("MOCKPAYMENTS_CREEM_PRODUCTS", mock_products)
        env.setdefault("MOCKPAYMENTS_CREEM_WEBHOOK_URL", f"{gateway}/api/billing/webhooks/creem")
    env.setdefault("PAYMENT_PROVIDERS", "stripe,creem")


def payments_line(env: dict[str, str]) -> str:
    mock = env["MOCKPAYMENTS_URL"]
    mocked = [
        name
        for name, variable in (("Stripe", "STRIPE_API_BASE"), ("Creem", "CREEM_API_BASE"))
        if env.get(variable, "").startswith(mock)
    ]
    if not mocked:
        return f"  payments {mock}   (the mock payment provider, unused)"
    return (
        f"  payments {mock}   (the mock payment provider: top-ups with "
        f"{' and '.join(mocked)} pay there, nothing is charged)"
    )


def sign_in_line(env: dict[str, str]) -> str:
    mocked = [
        name
        for name, variable in (("Google", "GOOGLE_ISSUER"), ("GitHub", "GITHUB_API_URL"))
        if env.get(variable, "").startswith(env["MOCKOIDC_URL"])
    ]
    if not mocked:
        return f"  sign-in  {env['MOCKOIDC_URL']}   (the mock OpenID provider, unused)"
    return (
        f"  sign-in  {env['MOCKOIDC_URL']}   (the mock OpenID provider: "
        f"sign in with {' and '.join(mocked)} as anyone you type)"
    )
