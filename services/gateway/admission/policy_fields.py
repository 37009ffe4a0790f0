"""Auth's admission policy fields, read into the principal's types (DESIGN 13).

Pure: no IO. Auth's internal answers (`/internal/keys/verify`, and the
user policy for other callers) carry a group, its price multiplier, limits
(`{"rpm", "tpm", "concurrency"}`, each a positive integer or null), an IP
allowlist (CIDR strings, IPv4 and IPv6) and a key budget
(`{"usd": "0.01", "period": "day"}`). A field that is missing reads as its
default (an older auth, or a caller without a key): no limit, any IP, no
budget, the `default` group at multiplier 1. A field that is present but
malformed raises `ValueError`: the gateway then refuses the request (503)
rather than admit it under a policy it did not understand.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal, InvalidOperation
from typing import Any

from services.gateway.admission.principals import NO_LIMITS, Budget, Limits, Network

_PERIODS = ("day", "month", "total")


def limits_from(raw: Any) -> Limits:
    """`{"rpm", "tpm", "concurrency"}`; all unset is `NO_LIMITS` itself."""
    if raw is None:
        return NO_LIMITS
    if not isinstance(raw, dict):
        raise ValueError("limits must be an object")
    values = {name: _positive(raw.get(name), name) for name in ("rpm", "tpm", "concurrency")}
    if all(value is None for value in values.values()):
        return NO_LIMITS
    return Limits(**values)


def allowlist_from(raw: Any) -> tuple[Network, ...] | None:
    """CIDR strings as networks (host bits allowed, as PostgreSQL's cidr never has them)."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(entry, str) for entry in raw):
        raise ValueError("ip_allowlist must be a list of CIDR strings")
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in raw)


def budget_from(raw: Any) -> Budget | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("period") not in _PERIODS:
        raise ValueError("budget must be {usd, period: day|month|total}")
    usd = decimal_from(raw.get("usd"), "budget usd")
    if usd < 0:
        raise ValueError("a budget is never negative")
    return Budget(usd=usd, period=raw["period"])


def multiplier_from(raw: Any) -> Decimal:
    if raw is None:
        return Decimal(1)
    multiplier = decimal_from(raw, "price_multiplier")
    if multiplier <= 0:
        raise ValueError("a price multiplier is positive")
    return multiplier


def group_from(raw: Any) -> str:
    if raw is None:
        return "default"
    if not isinstance(raw, str) or not raw:
        raise ValueError("group must be a name")
    return raw


def decimal_from(raw: Any, name: str) -> Decimal:
    if not isinstance(raw, str | int):
        raise ValueError(f"{name} must be a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError(f"{name} must be a decimal string") from exc
    if not value.is_finite():
        raise ValueError(f"{name} must be finite")
    return value


def _positive(raw: Any, name: str) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
        raise ValueError(f"limit {name} must be a positive integer or null")
    return raw
