"""Auth's admission policy fields, read into the principal's types (DESIGN 13).

Pure: no IO. Auth's internal answers (`/internal/keys/verify`, and the
user policy for other callers) carry a group, its price multiplier, limits
(`{"rpm", "tpm", "concurrency"}`, each a positive integer or null; a key's
per-model ones under `limits.models`, by model name), an IP
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
from shared.usage_event import MAX_MULTIPLIER, MULTIPLIER_PLACES

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


def model_limits_from(raw: Any) -> dict[str, Limits]:
    """`{"<model>": {"rpm", "tpm", "concurrency"}}`: a key's per-model limits;
    an entry with nothing set is left out."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("limits.models must be an object")
    table: dict[str, Limits] = {}
    for model, entry in raw.items():
        if not model or entry is None:
            raise ValueError("limits.models: an entry is a model name and its limits")
        limits = limits_from(entry)
        if limits is not NO_LIMITS:
            table[model] = limits
    return table


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
    if not multiplier.is_finite() or not 0 < multiplier <= MAX_MULTIPLIER:
        raise ValueError(f"a price multiplier is above 0 and at most {MAX_MULTIPLIER}")
    exponent = multiplier.normalize().as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -MULTIPLIER_PLACES:
        # The usage event (and the ledger) would refuse it: refuse the request instead.
        raise ValueError(f"a price multiplier has at most {MULTIPLIER_PLACES} places")
    return multiplier.normalize()


def group_from(raw: Any) -> str:
    if raw is None:
        return "default"
    if not isinstance(raw, str) or not raw:
        raise ValueError("group must be a name")
    return raw


def decimal_from(raw: Any, name: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int) or len(str(raw)) > 64:
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
