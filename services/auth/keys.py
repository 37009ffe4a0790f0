"""The auth application's typed state."""

from __future__ import annotations

from aiohttp import web

from services.auth.api_keys import KeyHasher
from services.auth.billing_client import BillingClient
from services.auth.passwords import Passwords
from services.auth.second_factor import SecondFactor
from services.auth.settings import Settings
from services.auth.signing import SigningKeys
from services.auth.throttle import LoginThrottle
from services.auth.turnstile import Turnstile
from shared.mail.outbox import Outbox

SETTINGS = web.AppKey("settings", Settings)
PASSWORDS = web.AppKey("passwords", Passwords)
KEY_HASHER = web.AppKey("key_hasher", KeyHasher)
SIGNING_KEYS = web.AppKey("signing_keys", SigningKeys)
THROTTLE = web.AppKey("throttle", LoginThrottle)
SECOND_FACTOR = web.AppKey("second_factor", SecondFactor)
BILLING = web.AppKey("billing", BillingClient)
OUTBOX = web.AppKey("outbox", Outbox)
TURNSTILE = web.AppKey("turnstile", Turnstile)  # only when TURNSTILE_SECRET_KEY is set
