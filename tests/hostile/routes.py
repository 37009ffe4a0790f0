"""Every route the public gateway answers, read from the services' own route tables,
and what the suite needs to aim at each (its generator).

The list is built when the tests are collected by calling each service's
`setup_routes` on a bare application: a route added to any table is in the
suite at once, and `test_every_route_has_a_generator` fails until it has a
`Spec` here. `/api/*` routes come from the internal services' tables (the
gateway forwards them by `services/gateway/edge/api_routes.py`) and from the
gateway's own; relay routes are the gateway's `/v1*` routes. HEAD twins of
GET routes are left out (the catch-all routes get every method).

A `Spec` names what lets a request reach the handler's code rather than stop
at the first check: a valid-looking body (the strategies then spoil one field
of it), the query parameters the handler reads (with good values where a bad
one would only ever be refused), and known values for path parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aiohttp import web

from services.auth import routes as auth_routes
from services.billing import routes as billing_routes
from services.gateway import routes as gateway_routes
from services.mockprovider.catalog import MODELS, Provider
from services.usage import routes as usage_routes

Family = Literal["api", "relay"]


@dataclass(frozen=True, slots=True)
class Route:
    method: str  # "*" for a catch-all
    path: str  # aiohttp's canonical form: "/api/keys/{key_id}"
    family: Family
    table: str  # the service whose routes.py declares it

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return [part[1:-1] for part in _pieces(self.path) if part.startswith("{")]


def _pieces(path: str) -> list[str]:
    """The path cut into literal text and `{name}` pieces."""
    pieces, text = [], ""
    index = 0
    while index < len(path):
        if path[index] == "{":
            end = path.index("}", index)
            if text:
                pieces.append(text)
            pieces.append(path[index : end + 1])
            text, index = "", end + 1
        else:
            text += path[index]
            index += 1
    if text:
        pieces.append(text)
    return pieces


def fill(path: str, values: dict[str, bytes]) -> bytes:
    """The route's path with each `{name}` replaced by its raw bytes."""
    out = b""
    for piece in _pieces(path):
        out += values[piece[1:-1]] if piece.startswith("{") else piece.encode()
    return out


Setup = Callable[[web.Application], None]
_TABLES: dict[str, Setup] = {
    "auth": auth_routes.setup_routes,
    "billing": billing_routes.setup_routes,
    "usage": usage_routes.setup_routes,
    "gateway": gateway_routes.setup_routes,
}


def discover() -> list[Route]:
    """Every public route, from the route tables as they are now."""
    found: dict[str, Route] = {}
    for table, setup in _TABLES.items():
        app = web.Application()
        setup(app)
        for resource_route in app.router.routes():
            method, path = resource_route.method, resource_route.resource.canonical  # type: ignore[union-attr]
            if method == "HEAD":
                continue
            if table != "gateway" and not path.startswith("/api/"):
                continue  # /internal/*: never forwarded, not public
            # Anything not /v1* is sent like an /api route (and needs a spec like any).
            family: Family = "relay" if path.startswith(("/v1/", "/v1beta/")) else "api"
            route = Route(method, path, family, table)
            found.setdefault(route.key, route)
    return sorted(found.values(), key=lambda r: (r.family, r.path, r.method))


# ---------------------------------------------------------------- what each route needs


@dataclass(frozen=True, kw_only=True)
class Known:
    """Values of the running stack that let a request pass the first checks."""

    user_id: str
    username: str
    key_ids: list[str]
    channel_ids: list[str]
    aliases: list[str]


Template = Callable[[Known], dict[str, Any]]
Values = Callable[[Known], list[str]]


@dataclass(frozen=True, kw_only=True)
class Spec:
    body: Template | None = None  # None: the route reads no body (one is sometimes sent)
    query: dict[str, list[str]] = field(default_factory=dict)  # name -> good values
    params: dict[str, Values] = field(default_factory=dict)  # path parameter -> known values
    methods: tuple[str, ...] = ()  # for a catch-all: the methods tried
    focus: tuple[str, ...] = ()  # body fields recorded or looked up: hostile strings aimed there


def _models(provider: Provider) -> Values:
    names = [m.name for m in MODELS if m.provider is provider]
    return lambda known: names


_ALL_MODELS = [m.name for m in MODELS]
_CONSOLE_PATHS = ["", "login", "signup", "verify-email", "reset-password", "static/x", "logout"]
_CONSOLE_PATHS += ["settings", "settings/security", "settings/two-factor/confirm"]
_CONSOLE_PATHS += ["settings/sessions/revoke", "confirm-email"]
_NEVER_CONSOLE = ["metrics", "api", "v1", "v1beta", ".well-known/x", ".well-known"]
_CHANNEL = {
    "name": "hostile channel",
    "kind": "openai",
    "base_url": "https://api.openai.com",
    "api_key": "sk-hostile",
    "models": ["hostile-model"],
    "model_map": {"hostile-model": "gpt-4o-mini"},
    "priority": 0,
    "weight": 1,
    "enabled": False,
    "allow_private_network": False,
}
_PRICE = {
    "input": "0.15",
    "output": "0.60",
    "cache_read": "0.075",
    "cache_write": "0",
    "web_search": "0",
    "max_output_tokens": 8192,
    "effective_from": "2099-01-01T00:00:00Z",
}
_WINDOW = {
    "from": ["2025-01-01", "2025-01-01T00:00:00Z"],
    "to": ["2100-01-01T00:00:00Z"],
    "model": ["gpt-4o-mini"],
}
_MESSAGES = [{"role": "user", "content": "Say hello"}]
_CHAT = {"model": "gpt-4o-mini", "messages": _MESSAGES, "max_tokens": 16, "stream": False}
_GEMINI = {
    "contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
    "generationConfig": {"maxOutputTokens": 16},
}


def _gemini_methods(known: Known) -> list[str]:
    return ["generateContent", "streamGenerateContent", "countTokens"]


_RELAY_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "FOO")


def _const(value: dict[str, Any]) -> Template:
    return lambda known: value


SPECS: dict[str, Spec] = {
    # auth
    "POST /api/auth/signup": Spec(
        body=_const(
            {"email": "h@example.com", "username": "hostile", "password": "a long enough pass"}
        )
    ),
    "POST /api/auth/login": Spec(
        body=lambda known: {"login": known.username, "password": "not the password"}
    ),
    "GET /api/auth/jwks": Spec(),
    "GET /api/auth/signup/options": Spec(),
    "GET /api/me": Spec(),
    "PATCH /api/me": Spec(body=_const({"display_name": "Hostile", "username": "hostile_me"})),
    "GET /api/me/security-events": Spec(query={"limit": ["10"]}),
    "POST /api/auth/logout": Spec(),
    "GET /api/auth/session": Spec(),
    "GET /api/me/sessions": Spec(),
    "DELETE /api/me/sessions": Spec(),
    "DELETE /api/me/sessions/{session_id}": Spec(
        params={"session_id": lambda known: ["00000000-0000-4000-8000-000000000000"]}
    ),
    "POST /api/auth/login/mfa": Spec(
        body=_const({"mfa_token": "hostile-mfa-token-" + "x" * 25, "code": "123456"})
    ),
    "POST /api/auth/login/link": Spec(body=_const({"token": "hostile-" + "t" * 35})),
    "POST /api/me/totp": Spec(),
    "POST /api/me/totp/confirm": Spec(body=_const({"code": "123456"})),
    "DELETE /api/me/totp": Spec(body=_const({"password": "not the password", "code": "123456"})),
    "POST /api/me/totp/recovery-codes": Spec(body=_const({"code": "abcde-fghjk"})),
    # Sign in with a provider (issue 16, point 6): the stack's auth uses the mock OpenID provider.
    "GET /api/auth/methods": Spec(),
    "GET /api/auth/oauth/{provider}/start": Spec(
        params={"provider": lambda known: ["google", "github"]}
    ),
    "GET /api/auth/oauth/{provider}/callback": Spec(
        params={"provider": lambda known: ["google", "github"]},
        query={"state": ["hostile-" + "s" * 35], "code": ["hostile-code"], "error": [], "iss": []},
    ),
    "POST /api/auth/oauth/link": Spec(
        body=_const({"link_token": "hostile-" + "l" * 35, "password": "not the password"})
    ),
    # Mailed tokens (issue 16, points 2 and 3); wrong passwords, so the suite's login survives.
    "POST /api/auth/verify-email": Spec(body=_const({"token": "hostile-" + "t" * 35})),
    "POST /api/auth/verify-email/resend": Spec(),
    "POST /api/auth/password-reset": Spec(body=_const({"email": "h@example.com"})),
    "POST /api/auth/password-reset/confirm": Spec(
        body=_const({"token": "hostile-" + "t" * 35, "password": "a long enough pass 2"})
    ),
    "POST /api/auth/confirm-email": Spec(body=_const({"token": "hostile-" + "t" * 35})),
    "POST /api/me/password": Spec(
        body=_const({"current_password": "not the password", "new_password": "a new long pass 3"})
    ),
    "POST /api/me/email": Spec(
        body=_const({"email": "moved@example.com", "password": "not the password"})
    ),
    "POST /api/keys": Spec(
        body=_const({"name": "k", "models": ["gpt-4o-mini"], "expires_at": "2099-01-01T00:00:00Z"})
    ),
    "GET /api/keys": Spec(),
    "DELETE /api/keys/{key_id}": Spec(params={"key_id": lambda known: known.key_ids}),
    "POST /api/keys/{key_id}/rotate": Spec(params={"key_id": lambda known: known.key_ids}),
    # A key's name and admission policy (services/auth/key_policy.py): the decoy key only.
    "PATCH /api/keys/{key_id}": Spec(
        body=_const(
            {
                "name": "decoy",
                "ip_allowlist": ["10.0.0.0/8", "2001:db8::/32"],
                "budget": {"usd": "1.00", "period": "day"},
                "limits": {"rpm": 10, "tpm": 1000, "concurrency": 2},
            }
        ),
        params={"key_id": lambda known: known.key_ids},
    ),
    # Groups and accounts for admins (issue 19). Never the suite's own user nor the
    # default group: a suspension or a limit there would stop the suite's traffic.
    "GET /api/admin/groups": Spec(),
    "GET /api/admin/groups/{name}": Spec(params={"name": lambda known: ["default", "hostile"]}),
    "PUT /api/admin/groups/{name}": Spec(
        body=_const({"price_multiplier": "1.5", "rpm": 10, "tpm": 1000, "note": "hostile"}),
        params={"name": lambda known: ["hostile"]},
    ),
    "DELETE /api/admin/groups/{name}": Spec(params={"name": lambda known: ["hostile", "default"]}),
    "GET /api/admin/users": Spec(query={"q": ["hostile"], "limit": ["10"], "cursor": []}),
    "GET /api/admin/users/{user_id}": Spec(params={"user_id": lambda known: [known.user_id]}),
    "PATCH /api/admin/users/{user_id}": Spec(
        body=_const({"group": "default", "rpm": 10, "suspended": {"reason": "hostile"}}),
        params={"user_id": lambda known: ["00000000-0000-4000-8000-000000000000"]},
    ),
    # Lifting a key's suspension by a spend anomaly (services/auth/key_suspension.py).
    "POST /api/keys/{key_id}/resume": Spec(params={"key_id": lambda known: known.key_ids}),
    # billing
    "GET /api/billing/balance": Spec(),
    "GET /api/billing/ledger": Spec(query={"limit": ["10"], "before": ["1"]}),
    # The low-balance alert's threshold (services/billing/low_balance.py).
    "GET /api/billing/alert": Spec(),
    "PUT /api/billing/alert": Spec(body=_const({"threshold": "5.00"})),
    "POST /api/admin/credits": Spec(
        body=lambda known: {
            "user_id": known.user_id,
            "amount": "0.01",
            "reason": "hostile suite",
            "idempotency_key": "hostile-1",
        }
    ),
    # Another account's balance, for the console's account page (admin role).
    "GET /api/admin/balances/{user_id}": Spec(
        params={"user_id": lambda known: [known.user_id, "00000000-0000-4000-8000-000000000000"]}
    ),
    "GET /api/admin/prices": Spec(),
    "GET /api/admin/prices/{model}": Spec(params={"model": lambda known: _ALL_MODELS}),
    "PUT /api/admin/prices/{model}": Spec(
        body=_const(_PRICE), params={"model": lambda known: ["hostile-model"]}
    ),
    "POST /api/admin/reconcile": Spec(),
    "GET /api/admin/reconcile": Spec(),
    # Redemption codes: the hostile suite redeems made-up codes (a refusal each,
    # throttled) and creates small batches.
    "POST /api/billing/redeem": Spec(body=_const({"code": "HSTL-0000-1111-2222-3333-4444-5555"})),
    "POST /api/admin/redemption-codes": Spec(
        body=_const(
            {"count": 2, "amount": "0.01", "expires_at": "2099-01-01T00:00:00Z", "note": "h"}
        )
    ),
    "GET /api/admin/redemption-codes": Spec(query={"limit": ["10"], "before": ["1"]}),
    # Top-ups (the test stack enables no provider: a top-up is refused, a
    # webhook is 404) and orders.
    "GET /api/billing/topup-options": Spec(),
    "GET /api/billing/topups/options": Spec(),
    "POST /api/billing/topups": Spec(body=_const({"amount": "10.00", "provider": "stripe"})),
    "GET /api/billing/orders": Spec(query={"limit": ["10"], "before": []}),
    "GET /api/billing/orders/{order_id}": Spec(
        params={"order_id": lambda known: ["00000000-0000-4000-8000-000000000000"]}
    ),
    "GET /api/admin/orders": Spec(
        query={"status": ["paid", "pending"], "limit": ["10"], "user_id": [], "before": []}
    ),
    "GET /api/admin/orders/{order_id}": Spec(
        params={"order_id": lambda known: ["00000000-0000-4000-8000-000000000000"]}
    ),
    "POST /api/admin/orders/{order_id}/dispute": Spec(
        body=_const({"outcome": "won"}),
        params={"order_id": lambda known: ["00000000-0000-4000-8000-000000000000"]},
    ),
    "POST /api/admin/orders/{order_id}/refund": Spec(
        body=_const({"amount": "1.00", "reason": "hostile suite", "seen_refunded_minor": 0}),
        params={"order_id": lambda known: ["00000000-0000-4000-8000-000000000000"]},
    ),
    "GET /api/billing/orders/{order_id}/receipt": Spec(
        query={"format": ["html", "json"]},
        params={"order_id": lambda known: ["00000000-0000-4000-8000-000000000000"]},
    ),
    "POST /api/billing/webhooks/{provider}": Spec(
        body=_const({"id": "evt_hostile", "type": "checkout.session.completed"}),
        params={"provider": lambda known: ["stripe", "creem"]},
    ),
    # usage
    "GET /api/usage": Spec(query={**_WINDOW, "limit": ["10"], "cursor": []}),
    "GET /api/usage/summary": Spec(
        query={
            **_WINDOW,
            "group_by": ["day", "model", "day,model"],
            "tz": ["UTC", "Asia/Shanghai", "America/New_York"],
        }
    ),
    "GET /api/usage/totals": Spec(
        query={
            **_WINDOW,
            "key_id": ["00000000-0000-4000-8000-000000000000"],
            "status": ["ok", "error"],
        }
    ),
    "GET /api/usage/export": Spec(query={**_WINDOW, "format": ["csv", "json"]}),
    # Another account's records, for the console's account page (admin role).
    "GET /api/admin/usage": Spec(
        query={
            **_WINDOW,
            "user_id": ["00000000-0000-4000-8000-000000000000"],
            "limit": ["10"],
            "cursor": [],
        }
    ),
    "GET /api/usage/keys/{key_id}/spend": Spec(
        query={"period": ["day", "month", "total"]},
        params={"key_id": lambda known: known.key_ids},
    ),
    # gateway admin
    "GET /api/admin/channels": Spec(),
    "POST /api/admin/channels": Spec(body=_const(_CHANNEL)),
    "GET /api/admin/channels/{channel_id}": Spec(
        params={"channel_id": lambda known: known.channel_ids}
    ),
    "PATCH /api/admin/channels/{channel_id}": Spec(
        body=_const({k: _CHANNEL[k] for k in ("name", "priority", "weight", "model_map")}),
        params={"channel_id": lambda known: known.channel_ids},
    ),
    "DELETE /api/admin/channels/{channel_id}": Spec(
        params={"channel_id": lambda known: known.channel_ids}
    ),
    "POST /api/admin/channels/{channel_id}/test": Spec(
        body=_const({"model": "gpt-4o-mini"}),
        params={"channel_id": lambda known: known.channel_ids},
    ),
    "GET /api/models": Spec(),
    "GET /api/admin/system": Spec(),
    "GET /api/admin/model-aliases": Spec(),
    "PUT /api/admin/model-aliases/{alias}": Spec(
        body=_const({"model": "gpt-4o-mini"}), params={"alias": lambda known: known.aliases}
    ),
    "DELETE /api/admin/model-aliases/{alias}": Spec(params={"alias": lambda known: known.aliases}),
    "* /api/{tail}": Spec(
        params={"tail": lambda known: ["internal/prices", "me/x", "admin", "keys/", "usage/"]},
        methods=("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "FOO"),
    ),
    "GET /.well-known/jwks.json": Spec(),
    # The console's catch-all (services/gateway/edge/console_proxy.py): its pages, and
    # the paths it must never be given.
    "GET /{tail}": Spec(params={"tail": lambda known: _CONSOLE_PATHS + _NEVER_CONSOLE}),
    "POST /{tail}": Spec(params={"tail": lambda known: _CONSOLE_PATHS + _NEVER_CONSOLE}),
    # relay
    "POST /v1/chat/completions": Spec(body=_const(_CHAT)),
    "POST /v1/responses": Spec(
        body=_const({"model": "gpt-4o-mini", "input": "Say hello", "max_output_tokens": 16})
    ),
    "POST /v1/embeddings": Spec(
        body=_const({"model": "text-embedding-3-small", "input": ["Say hello"]})
    ),
    "POST /v1/messages": Spec(
        body=_const({"model": "claude-haiku-4-5", "max_tokens": 16, "messages": _MESSAGES})
    ),
    "POST /v1/messages/count_tokens": Spec(
        body=_const({"model": "claude-haiku-4-5", "messages": _MESSAGES})
    ),
    "POST /v1beta/models/{model}:{method}": Spec(
        body=_const(_GEMINI),
        query={"alt": ["sse"]},
        params={"model": _models(Provider.GEMINI), "method": _gemini_methods},
    ),
    "POST /v1/models/{model}:{method}": Spec(
        body=_const(_GEMINI),
        query={"alt": ["sse"]},
        params={"model": _models(Provider.GEMINI), "method": _gemini_methods},
    ),
    "GET /v1/models": Spec(query={"limit": ["10"], "after_id": [], "before_id": []}),
    "GET /v1/models/{model}": Spec(params={"model": lambda known: _ALL_MODELS}),
    "GET /v1beta/models": Spec(query={"pageSize": ["10"], "pageToken": []}),
    "GET /v1beta/models/{model}": Spec(params={"model": _models(Provider.GEMINI)}),
    "* /v1/{tail}": Spec(
        params={"tail": lambda known: ["completions", "files", "models/x/y", "chat/completions/x"]},
        methods=_RELAY_METHODS,
    ),
    "* /v1beta/{tail}": Spec(
        params={"tail": lambda known: ["cachedContents", "models/x/y", "files"]},
        methods=_RELAY_METHODS,
    ),
}

# The body fields each route records or looks up (a model name, a reason, a
# date): a share of the probes puts a hostile string there and keeps the rest
# of the body valid, so it reaches the code that stores or matches it.
_MODEL = ("model",)
_FOCUS: dict[str, tuple[str, ...]] = {
    "POST /api/auth/signup": ("email", "username", "password"),
    "POST /api/auth/login": ("login", "password"),
    "PATCH /api/me": ("display_name", "username"),
    "PATCH /api/keys/{key_id}": ("name",),
    "PUT /api/admin/groups/{name}": ("price_multiplier", "note"),
    "PATCH /api/admin/users/{user_id}": ("group",),
    "POST /api/keys": ("name", "expires_at"),
    "POST /api/admin/credits": ("user_id", "amount", "reason", "idempotency_key"),
    "POST /api/billing/redeem": ("code",),
    "POST /api/billing/topups": ("amount", "provider"),
    "POST /api/admin/orders/{order_id}/refund": ("amount", "reason"),
    "POST /api/admin/redemption-codes": ("amount", "expires_at", "note"),
    "PUT /api/admin/prices/{model}": ("input", "effective_from"),
    "POST /api/admin/channels": ("name", "base_url", "api_key"),
    "PATCH /api/admin/channels/{channel_id}": ("name",),
    "POST /api/admin/channels/{channel_id}/test": _MODEL,
    "PUT /api/admin/model-aliases/{alias}": _MODEL,
    "POST /v1/chat/completions": _MODEL,
    "POST /v1/responses": _MODEL,
    "POST /v1/embeddings": _MODEL,
    "POST /v1/messages": _MODEL,
    "POST /v1/messages/count_tokens": _MODEL,
}
SPECS = {key: replace(spec, focus=_FOCUS.get(key, ())) for key, spec in SPECS.items()}

ROUTES = discover()


def routes(family: Family) -> list[Route]:
    return [route for route in ROUTES if route.family == family]


def spec_for(route: Route) -> Spec | None:
    return SPECS.get(route.key)
