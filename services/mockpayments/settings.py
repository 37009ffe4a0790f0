"""The mock payment provider's settings, read once from an environment mapping.

MOCKPAYMENTS_HOST                  listen address, default 127.0.0.1
MOCKPAYMENTS_PORT                  listen port, default 8092
MOCKPAYMENTS_PUBLIC_URL            base of the hosted checkout pages' URLs, default
                                   the address each API request came to
MOCKPAYMENTS_STRIPE_SECRET_KEY     the one secret key its Stripe API accepts,
                                   default sk_test_tollgate_dev
MOCKPAYMENTS_STRIPE_WEBHOOK_SECRET signs Stripe webhooks, default whsec_tollgate_dev
MOCKPAYMENTS_STRIPE_WEBHOOK_URL    where Stripe events are posted; empty: none sent
MOCKPAYMENTS_CREEM_API_KEY         the one x-api-key its Creem API accepts,
                                   default creem_test_tollgate_dev
MOCKPAYMENTS_CREEM_WEBHOOK_SECRET  signs Creem webhooks, default creem_whsec_tollgate_dev
MOCKPAYMENTS_CREEM_WEBHOOK_URL     where Creem events are posted; empty: none sent
MOCKPAYMENTS_CREEM_PRODUCTS        the Creem products, "prod_a=500:USD,prod_b=1000:USD"
                                   (id = price in minor units : currency); default
                                   the dev packs 5, 10, 20, 50 and 100 USD
MOCKPAYMENTS_RETRY_DELAYS          seconds between webhook attempts after a failed
                                   one, default "1,2,5,10,30,60"
LOG_LEVEL                          DEBUG, INFO, WARNING or ERROR, default INFO

The defaults are what `tollgate dev` gives billing as STRIPE_* and CREEM_*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from shared import settings as read
from shared.settings import Environ, SettingsError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEV_STRIPE_SECRET_KEY = "sk_test_tollgate_dev"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_tollgate_dev"
DEV_CREEM_API_KEY = "creem_test_tollgate_dev"
DEV_CREEM_WEBHOOK_SECRET = "creem_whsec_tollgate_dev"
DEV_PRESETS = "5,10,20,50,100"
DEFAULT_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, kw_only=True)
class Product:
    """A Creem product: a fixed price in minor units."""

    product_id: str
    price: int
    currency: str  # upper case, as Creem writes it
    name: str


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One provider's webhook endpoint and signing secret."""

    url: str = ""
    secret: str = field(default="", repr=False)


def dev_product_id(amount: str) -> str:
    return f"prod_tollgate_dev_{amount.replace('.', '_')}"


def dev_creem_products(presets: str, currency: str) -> tuple[str, str]:
    """For `tollgate dev`: (CREEM_PRODUCTS for billing, MOCKPAYMENTS_CREEM_PRODUCTS)
    for the preset amounts, one product a pack."""
    billing, mock = [], []
    for raw in presets.split(","):
        amount = raw.strip()
        if not amount:
            continue
        try:
            minor = int(Decimal(amount) * 100)
        except InvalidOperation:
            continue
        billing.append(f"{amount}={dev_product_id(amount)}")
        mock.append(f"{dev_product_id(amount)}={minor}:{currency.upper()}")
    return ",".join(billing), ",".join(mock)


def parse_products(raw: str, name: str = "MOCKPAYMENTS_CREEM_PRODUCTS") -> dict[str, Product]:
    products: dict[str, Product] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        product_id, _, rest = item.partition("=")
        price, _, currency = rest.partition(":")
        product_id, currency = product_id.strip(), currency.strip().upper()
        try:
            minor = int(price)
        except ValueError:
            raise SettingsError(f"{name}: {item!r} is not id=price:currency") from None
        if not product_id or minor <= 0 or len(currency) != 3 or not currency.isalpha():
            raise SettingsError(f"{name}: {item!r} is not id=price:currency")
        products[product_id] = Product(
            product_id=product_id,
            price=minor,
            currency=currency,
            name=f"Tollgate credit {minor / 100:.2f} {currency}",
        )
    return products


def _delays(raw: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise SettingsError(f"MOCKPAYMENTS_RETRY_DELAYS must be seconds, got {raw!r}") from None
    if any(d < 0 or d > 86400 for d in delays):
        raise SettingsError("MOCKPAYMENTS_RETRY_DELAYS must be between 0 and 86400 seconds")
    return delays


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8092
    public_url: str = ""
    stripe_secret_key: str = field(default=DEV_STRIPE_SECRET_KEY, repr=False)
    stripe_webhook: Endpoint = Endpoint(secret=DEV_STRIPE_WEBHOOK_SECRET)
    creem_api_key: str = field(default=DEV_CREEM_API_KEY, repr=False)
    creem_webhook: Endpoint = Endpoint(secret=DEV_CREEM_WEBHOOK_SECRET)
    creem_products: dict[str, Product] = field(
        default_factory=lambda: parse_products(dev_creem_products(DEV_PRESETS, "USD")[1])
    )
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Environ) -> Settings:
        host = env.get("MOCKPAYMENTS_HOST", "127.0.0.1").strip()
        if not host:
            raise SettingsError("MOCKPAYMENTS_HOST must not be empty")
        level = env.get("LOG_LEVEL", "INFO").strip().upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        public = env.get("MOCKPAYMENTS_PUBLIC_URL", "").strip()
        if public:
            public = read.url(env, "MOCKPAYMENTS_PUBLIC_URL", "", schemes=("http", "https"))
        hooks = {}
        for provider in ("STRIPE", "CREEM"):
            name = f"MOCKPAYMENTS_{provider}_WEBHOOK_URL"
            url = env.get(name, "").strip()
            if url:
                url = read.url(env, name, "", schemes=("http", "https"))
            hooks[provider] = url
        products = env.get("MOCKPAYMENTS_CREEM_PRODUCTS", "").strip()
        return cls(
            host=host,
            port=read.port(env, "MOCKPAYMENTS_PORT", 8092),
            public_url=public,
            stripe_secret_key=env.get("MOCKPAYMENTS_STRIPE_SECRET_KEY") or DEV_STRIPE_SECRET_KEY,
            stripe_webhook=Endpoint(
                url=hooks["STRIPE"],
                secret=env.get("MOCKPAYMENTS_STRIPE_WEBHOOK_SECRET") or DEV_STRIPE_WEBHOOK_SECRET,
            ),
            creem_api_key=env.get("MOCKPAYMENTS_CREEM_API_KEY") or DEV_CREEM_API_KEY,
            creem_webhook=Endpoint(
                url=hooks["CREEM"],
                secret=env.get("MOCKPAYMENTS_CREEM_WEBHOOK_SECRET") or DEV_CREEM_WEBHOOK_SECRET,
            ),
            creem_products=(
                parse_products(products)
                if products
                else parse_products(dev_creem_products(DEV_PRESETS, "USD")[1])
            ),
            retry_delays=_delays(env.get("MOCKPAYMENTS_RETRY_DELAYS") or "1,2,5,10,30,60"),
            log_level=level,
        )
