"""Which internal service owns an `/api/*` path, and who may call it.

Pure: a table and two functions. The gateway forwards only paths in this
table; `/internal/*` is in no row, so no client can reach it. API keys, made
for model traffic, may read the account (profile, balance, usage) but not
manage it: key management and admin routes need a login (a JWT, or the
browser session cookie, which `api_proxy` accepts on `/api/*` only after its
CSRF checks). The security log (`/api/me/security-events`: logins, failed
logins, key changes, with IP addresses and user agents) and the list of
browser sessions need a login too, as the README documents: it is
what a person reads to see whether a key leaked, so a leaked key must not
read it (nor learn where its owner logs in from).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from services.gateway.admission.principals import Principal
from shared.client_input import cap
from shared.errors import Forbidden, NotFound, Unauthorized


class Owner(Enum):
    AUTH = "auth"
    BILLING = "billing"
    USAGE = "usage"


@dataclass(frozen=True, slots=True)
class ApiRoute:
    prefix: str
    owner: Owner
    public: bool = False
    api_key_reads: bool = False
    admin: bool = False
    # The only cookies the owner gets on this route (the gateway drops the rest).
    cookies: tuple[str, ...] = ()


# Longest prefix wins; a prefix matches the path itself or the path below it.
ROUTES = (
    ApiRoute("/api/auth/signup", Owner.AUTH, public=True),
    ApiRoute("/api/auth/login", Owner.AUTH, public=True),
    ApiRoute("/api/auth/jwks", Owner.AUTH, public=True),
    ApiRoute("/api/auth/methods", Owner.AUTH, public=True),
    # Sign in with a provider: browser redirects, whose sign-in state is bound
    # to the browser by auth's cookie; and linking by password (public, as login).
    ApiRoute("/api/auth/oauth", Owner.AUTH, public=True, cookies=("tg_oauth", "__Host-tg_oauth")),
    # Mailed links (the token is the proof); resending one needs a login.
    ApiRoute("/api/auth/verify-email", Owner.AUTH, public=True),
    ApiRoute("/api/auth/verify-email/resend", Owner.AUTH),
    ApiRoute("/api/auth/password-reset", Owner.AUTH, public=True),
    ApiRoute("/api/auth/confirm-email", Owner.AUTH, public=True),
    ApiRoute("/api/auth/logout", Owner.AUTH),
    ApiRoute("/api/auth/session", Owner.AUTH),  # this browser session and its CSRF token
    ApiRoute("/api/me", Owner.AUTH, api_key_reads=True),
    ApiRoute("/api/me/security-events", Owner.AUTH),
    ApiRoute("/api/me/sessions", Owner.AUTH),  # where and when one signs in: a login only
    ApiRoute("/api/me/totp", Owner.AUTH),  # two-factor changes: a login, never an API key
    ApiRoute("/api/keys", Owner.AUTH),
    ApiRoute("/api/billing", Owner.BILLING, api_key_reads=True),
    # Payment providers' webhooks: no credential (billing verifies each one's
    # signature over the raw body, which the gateway forwards untouched).
    ApiRoute("/api/billing/webhooks", Owner.BILLING, public=True),
    ApiRoute("/api/usage", Owner.USAGE, api_key_reads=True),
    ApiRoute("/api/admin/credits", Owner.BILLING, admin=True),
    ApiRoute("/api/admin/balances", Owner.BILLING, admin=True),  # another account's balance
    ApiRoute("/api/admin/usage", Owner.USAGE, admin=True),  # another account's records
    ApiRoute("/api/admin/prices", Owner.BILLING, admin=True),
    ApiRoute("/api/admin/reconcile", Owner.BILLING, admin=True),
    ApiRoute("/api/admin/orders", Owner.BILLING, admin=True),
    ApiRoute("/api/admin/redemption-codes", Owner.BILLING, admin=True),
    ApiRoute("/api/admin/groups", Owner.AUTH, admin=True),  # tiers: multiplier, limits
    ApiRoute("/api/admin/users", Owner.AUTH, admin=True),  # search, group, role, suspension
)


def route_for(path: str) -> ApiRoute:
    if "//" in path or any(part in {".", ".."} for part in path.split("/")):
        raise NotFound(f"no route for {cap(path)}")
    best: ApiRoute | None = None
    for route in ROUTES:
        if path == route.prefix or path.startswith(route.prefix + "/"):
            if best is None or len(route.prefix) > len(best.prefix):
                best = route
    if best is None:
        raise NotFound(f"no route for {cap(path)}")
    return best


def authorise(route: ApiRoute, method: str, principal: Principal | None) -> None:
    """Raise unless `principal` may call `method` on `route`."""
    if route.public:
        return
    if principal is None:
        raise Unauthorized("authentication required")
    if principal.via == "api_key" and not (route.api_key_reads and method in {"GET", "HEAD"}):
        raise Forbidden("this route needs a login token, not an API key")
    if route.admin and principal.role != "admin":
        raise Forbidden("admin role required")
