"""Top-up settings (DESIGN 12), read from the environment with billing's settings.

PAYMENT_PROVIDERS      enabled providers, comma separated: stripe, creem
                       (empty: top-ups are off; the options say so)
PAYMENT_CURRENCY       ISO 4217 code every top-up is charged in (USD)
TOPUP_MIN, TOPUP_MAX   the smallest and largest top-up, decimal strings (5, 1000)
TOPUP_PRESETS          amounts the console offers ("5,10,20,50,100"), each
                       within the bounds
PAYMENT_CHECKOUT_MINUTES  how long a checkout stays open (60; Stripe: 30..1440)
PAYMENT_RECONCILE_SECONDS, PAYMENT_RECONCILE_AFTER_SECONDS
                       how often the reconciler asks providers about pending
                       orders (60), and how old an order must be first (300)
TOLLGATE_PUBLIC_URL    return URLs start here (/billing/topup/result?order=<id>)
STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE (https://api.stripe.com)
CREEM_API_KEY, CREEM_WEBHOOK_SECRET, CREEM_API_BASE (https://api.creem.io),
CREEM_PRODUCTS         "10=prod_abc,20=prod_def": amount -> Creem product id

An enabled provider needs its API key (a settings error otherwise). One
without its webhook secret starts, but every webhook for it is refused (fail
closed) and `warnings()` says so, which billing logs at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from shared import settings as read
from shared.mail.settings import DEV_PUBLIC_URL
from shared.settings import Environ, SettingsError

KNOWN_PROVIDERS = ("stripe", "creem")
_CURRENCY = re.compile(r"[A-Z]{3}")
_AMOUNT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,3})?")
# ISO 4217 minor-unit exponents that are not 2 (Stripe's zero- and three-decimal lists).
_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD JOD KWD OMR TND".split(), 3),
}


def minor_exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit (2 for USD, 0 for JPY)."""
    return _EXPONENTS.get(currency, 2)


@dataclass(frozen=True, kw_only=True)
class StripeSettings:
    secret_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    api_base: str = "https://api.stripe.com"


@dataclass(frozen=True, kw_only=True)
class CreemSettings:
    api_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    api_base: str = "https://api.creem.io"
    products: dict[Decimal, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PaymentSettings:
    providers: tuple[str, ...] = ()
    currency: str = "USD"
    topup_min: Decimal = Decimal(5)
    topup_max: Decimal = Decimal(1000)
    presets: tuple[Decimal, ...] = tuple(Decimal(n) for n in (5, 10, 20, 50, 100))
    checkout_minutes: int = 60
    # The reconciler (payments/reconciler.py): how often it runs, and how old a
    # pending order must be before its provider is asked about it.
    reconcile_seconds: int = 60
    reconcile_after_seconds: int = 300
    public_url: str = DEV_PUBLIC_URL
    stripe: StripeSettings = field(default_factory=StripeSettings)
    creem: CreemSettings = field(default_factory=CreemSettings)

    def webhook_secret(self, provider: str) -> str | None:
        if provider == "stripe":
            return self.stripe.webhook_secret
        if provider == "creem":
            return self.creem.webhook_secret
        return None

    def warnings(self) -> list[str]:
        """What billing logs at start: enabled providers whose webhooks are all refused."""
        return [
            f"{name} is enabled but {name.upper()}_WEBHOOK_SECRET is not set: "
            "every webhook from it is refused and no top-up through it is credited"
            for name in self.providers
            if not self.webhook_secret(name)
        ]

    def return_url(self, order_id: object, outcome: str) -> str:
        return f"{self.public_url}/billing/topup/result?order={order_id}&outcome={outcome}"

    @classmethod
    def from_env(cls, env: Environ) -> PaymentSettings:
        providers = _providers(env.get("PAYMENT_PROVIDERS", ""))
        currency = (env.get("PAYMENT_CURRENCY") or "USD").strip().upper()
        if not _CURRENCY.fullmatch(currency):
            raise SettingsError(
                f"PAYMENT_CURRENCY must be a three-letter ISO 4217 code, got {currency!r}"
            )
        places = minor_exponent(currency)
        low = _amount(env, "TOPUP_MIN", "5", places)
        high = _amount(env, "TOPUP_MAX", "1000", places)
        if low > high:
            raise SettingsError(f"TOPUP_MIN ({low}) must not exceed TOPUP_MAX ({high})")
        presets = _amounts(env.get("TOPUP_PRESETS") or "5,10,20,50,100", "TOPUP_PRESETS", places)
        if outside := [p for p in presets if not low <= p <= high]:
            raise SettingsError(f"TOPUP_PRESETS: {outside[0]} is outside TOPUP_MIN..TOPUP_MAX")
        stripe = StripeSettings(
            secret_key=env.get("STRIPE_SECRET_KEY") or None,
            webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
            api_base=read.url(
                env, "STRIPE_API_BASE", "https://api.stripe.com", schemes=("http", "https")
            ),
        )
        creem = CreemSettings(
            api_key=env.get("CREEM_API_KEY") or None,
            webhook_secret=env.get("CREEM_WEBHOOK_SECRET") or None,
            api_base=read.url(
                env, "CREEM_API_BASE", "https://api.creem.io", schemes=("http", "https")
            ),
            products=_products(env.get("CREEM_PRODUCTS") or "", places),
        )
        if "stripe" in providers and not stripe.secret_key:
            raise SettingsError("PAYMENT_PROVIDERS has stripe but STRIPE_SECRET_KEY is not set")
        if "creem" in providers and not creem.api_key:
            raise SettingsError("PAYMENT_PROVIDERS has creem but CREEM_API_KEY is not set")
        if "creem" in providers and not creem.products:
            raise SettingsError("PAYMENT_PROVIDERS has creem but CREEM_PRODUCTS is empty")
        return cls(
            providers=providers,
            currency=currency,
            topup_min=low,
            topup_max=high,
            presets=presets,
            checkout_minutes=read.integer(env, "PAYMENT_CHECKOUT_MINUTES", 60, low=30, high=1440),
            reconcile_seconds=read.integer(
                env, "PAYMENT_RECONCILE_SECONDS", 60, low=1, high=24 * 3600
            ),
            reconcile_after_seconds=read.integer(
                env, "PAYMENT_RECONCILE_AFTER_SECONDS", 300, low=0, high=7 * 24 * 3600
            ),
            public_url=read.url(
                env, "TOLLGATE_PUBLIC_URL", DEV_PUBLIC_URL, schemes=("http", "https")
            ),
            stripe=stripe,
            creem=creem,
        )


def _providers(raw: str) -> tuple[str, ...]:
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    if unknown := [name for name in names if name not in KNOWN_PROVIDERS]:
        raise SettingsError(
            f"PAYMENT_PROVIDERS: unknown provider {unknown[0]!r} "
            f"(known: {', '.join(KNOWN_PROVIDERS)})"
        )
    return tuple(dict.fromkeys(names))


def parse_amount(raw: str, places: int) -> Decimal | None:
    """A positive amount exact in the currency's minor units, or None."""
    raw = raw.strip()
    if not _AMOUNT.fullmatch(raw):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if value <= 0 or value != value.quantize(Decimal(1).scaleb(-places)):
        return None
    return value


def _amount(env: Environ, name: str, default: str, places: int) -> Decimal:
    raw = env.get(name) or default
    value = parse_amount(raw, places)
    if value is None:
        raise SettingsError(
            f"{name} must be a positive amount with at most {places} decimal places, got {raw!r}"
        )
    return value


def _amounts(raw: str, name: str, places: int) -> tuple[Decimal, ...]:
    values = []
    for part in raw.split(","):
        value = parse_amount(part, places)
        if value is None:
            raise SettingsError(f"{name}: {part.strip()!r} is not a positive amount")
        values.append(value)
    return tuple(sorted(set(values)))


def _products(raw: str, places: int) -> dict[Decimal, str]:
    products: dict[Decimal, str] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        amount_text, _, product = part.partition("=")
        amount = parse_amount(amount_text, places)
        if amount is None or not product.strip():
            raise SettingsError(f"CREEM_PRODUCTS: {part!r} is not amount=product_id")
        if amount in products or product.strip() in products.values():
            # A product has one price: one amount, one product, each once.
            raise SettingsError(f"CREEM_PRODUCTS: {part!r} repeats an amount or a product")
        products[amount] = product.strip()
    return products
