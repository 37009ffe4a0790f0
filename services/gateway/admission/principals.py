"""Who is calling: credentials found in a request, and the principal they prove.

Pure: no IO. A request carries at most one credential, in one of the forms
the supported SDKs send (`Authorization: Bearer`, `x-api-key`,
`x-goog-api-key`, `?key=`). A bearer value that looks like a Tollgate key is an
API key; any other bearer value is taken for a JWT. The browser session cookie
counts only where the caller passes it (`/api/*`, never the relay paths: a
page on any site could make a browser spend its owner's balance) and only
when the request offers no other credential.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from shared import api_key_format
from shared.errors import Unauthorized

CredentialKind = Literal["jwt", "api_key", "session"]


@dataclass(frozen=True, slots=True)
class Credential:
    kind: CredentialKind
    value: str


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
BudgetPeriod = Literal["day", "month", "total"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Requests per minute, tokens per minute, concurrent requests; None: no limit."""

    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """What a key may spend per UTC day, per UTC month, or in total (USD)."""

    usd: Decimal
    period: BudgetPeriod


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """An authenticated caller: a user, and the key or session they used if any.

    Admission (DESIGN 13): the user's group and its price multiplier, the
    user's limits (their own, else their group's defaults), and for an API key
    the key's own limits, its per-model limits, IP allowlist and spend budget."""

    user_id: uuid.UUID
    role: str
    via: CredentialKind
    key_id: uuid.UUID | None = None
    models: tuple[str, ...] | None = None
    expires_at: datetime | None = None
    session_id: uuid.UUID | None = None
    group: str = "default"
    price_multiplier: Decimal = field(default=Decimal(1))
    user_limits: Limits = NO_LIMITS
    key_limits: Limits = NO_LIMITS
    # The key's per-model limits, by the model name as a client sends it.
    model_limits: Mapping[str, Limits] = field(default_factory=dict)
    ip_allowlist: tuple[Network, ...] | None = None
    budget: Budget | None = None

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


def credential_from(
    headers: Mapping[str, str], query: Mapping[str, str], *, session_cookie: str | None = None
) -> Credential | None:
    """The request's credential; 401 when it offers two different ones.
    `session_cookie`, the session cookie's value where one counts, is the
    credential only when the request carries no other."""
    found: list[str] = []
    authorization = headers.get("Authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        found.append(value.strip())
    for header in ("x-api-key", "x-goog-api-key"):
        header_value = headers.get(header)
        if header_value:
            found.append(header_value.strip())
    if query.get("key"):
        found.append(query["key"].strip())
    if not found:
        return Credential("session", session_cookie) if session_cookie else None
    if len(set(found)) > 1:
        raise Unauthorized("more than one credential in the request")
    value = found[0]
    if not value.isascii():
        # Keys and JWTs are ASCII; a header of other bytes (aiohttp keeps them as
        # surrogates) cannot be one, and must not reach a hash or a log whole.
        raise Unauthorized("the credential is malformed")
    if value.startswith(api_key_format.PREFIX):
        return Credential("api_key", value)
    return Credential("jwt", value)
