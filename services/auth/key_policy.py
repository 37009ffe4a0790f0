"""A key's admission policy as a client writes it: allowlist, budget, limits.

`PATCH /api/keys/{id}` (`key_handlers.update_key`) reads these fields with
the parsers here; each adds its problems to the body's `Fields` (named
`ip_allowlist`, `budget.usd`, `limits.rpm`..., so a form can show each next to
its input) and returns the columns to write. The rules:

- `ip_allowlist`: a list of at most 50 CIDR networks, IPv4 or IPv6 (a bare
  address is one host); host bits are dropped (`10.1.2.3/8` is stored as
  `10.0.0.0/8`), duplicates once; a zone index (`fe80::1%eth0`) is refused.
  `null` (or an empty list) allows any address.
- `budget`: `{"usd": "<decimal string>", "period": "day"|"month"|"total"}`,
  at least 0 (0 stops all spending) with at most 9 decimal places; `null`
  removes it. A string, never a JSON number: a float cannot say 0.1 exactly.
- `limits`: `{"rpm", "tpm", "concurrency"}`, each a positive whole number
  below a sane ceiling or `null` for none at key level; a field left out is
  unchanged; `"limits": null` clears all three and the per-model limits.
- `limits.models`: per-model limits, an object of at most 20 model names (as
  the client sends them, an alias or a model) to `{"rpm", "tpm",
  "concurrency"}` (the same bounds); it replaces the key's whole table, an
  entry whose values are all null is dropped, `null` (or `{}`) clears it.

The gateway enforces them (docs/admission.md); the user's and group's limits
apply too, whichever is tighter.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal, InvalidOperation
from typing import Any

from services.auth.key_store import Network
from shared.bodies import Fields
from shared.client_input import cap, name_problem

MAX_NETWORKS = 50
BUDGET_PERIODS = ("day", "month", "total")
BUDGET_MAX = Decimal(1_000_000_000)  # numeric(20,9) holds up to 10^11; no key needs more
BUDGET_PLACES = 9
# Ceilings: far above any real use, below what a column or a Redis counter holds.
LIMIT_MAX = {"rpm": 1_000_000, "tpm": 1_000_000_000, "concurrency": 100_000}
LIMIT_NAMES = tuple(LIMIT_MAX)
MAX_MODEL_LIMITS = 20


def allowlist(fields: Fields, value: Any) -> list[Network] | None:
    """The networks of `ip_allowlist`, normalised; None for any address."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        fields.problems.append("ip_allowlist: must be a list of CIDR strings, or null")
        return None
    if len(value) > MAX_NETWORKS:
        fields.problems.append(f"ip_allowlist: at most {MAX_NETWORKS} networks")
        return None
    networks: list[Network] = []
    for index, item in enumerate(value):
        try:
            if len(item) > 64 or "%" in item:  # the longest CIDR is 43; no zone index
                raise ValueError
            network = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            fields.problems.append(f"ip_allowlist: item {index} is not a CIDR network")
            continue
        if network not in networks:
            networks.append(network)
    return networks or None


def budget(fields: Fields, value: Any) -> tuple[Decimal, str] | None:
    """The budget's amount and period; None for no budget."""
    if value is None:
        return None
    if not isinstance(value, dict):
        fields.problems.append('budget: must be {"usd": "<decimal>", "period": ...} or null')
        return None
    unknown = sorted(name for name in value if name not in ("usd", "period"))
    fields.problems.extend(f"budget.{cap(name)}: unknown field" for name in unknown)
    amount = _amount(fields, value.get("usd"))
    period = value.get("period")
    if period not in BUDGET_PERIODS:
        fields.problems.append(f"budget.period: one of {', '.join(BUDGET_PERIODS)}")
        return None
    if amount is None or unknown:
        return None
    return amount, str(period)


def _amount(fields: Fields, value: Any) -> Decimal | None:
    if not isinstance(value, str):
        fields.problems.append('budget.usd: required, a decimal string such as "5.00"')
        return None
    try:
        if len(value) > 40:
            raise InvalidOperation
        amount = Decimal(value.strip())
    except InvalidOperation:
        fields.problems.append("budget.usd: not a decimal number")
        return None
    if not amount.is_finite() or amount < 0:
        fields.problems.append("budget.usd: must be a number of at least 0")
        return None
    if amount > BUDGET_MAX:
        fields.problems.append(f"budget.usd: at most {BUDGET_MAX}")
        return None
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -BUDGET_PLACES:
        fields.problems.append(f"budget.usd: at most {BUDGET_PLACES} decimal places")
        return None
    return amount


def limits(fields: Fields, value: Any, *, prefix: str = "limits") -> dict[str, int | None]:
    """The limit columns to write: each given field, None to clear it; all
    three None for `null`."""
    if value is None:
        return dict.fromkeys(LIMIT_NAMES)
    if not isinstance(value, dict):
        fields.problems.append(f"{prefix}: must be an object of rpm, tpm, concurrency, or null")
        return {}
    unknown = sorted(name for name in value if name not in LIMIT_MAX and name != "models")
    fields.problems.extend(f"{prefix}.{cap(name)}: unknown field" for name in unknown)
    return {
        name: limit(fields, f"{prefix}.{name}", value[name])
        for name in LIMIT_NAMES
        if name in value
    }


def model_limits(
    fields: Fields, value: Any, *, prefix: str = "limits.models"
) -> dict[str, dict[str, int]]:
    """The key's per-model limits, the whole table: each entry's set values
    (an entry with none is dropped); `{}` for `null`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        fields.problems.append(f"{prefix}: must be an object of model names to limits, or null")
        return {}
    if len(value) > MAX_MODEL_LIMITS:
        fields.problems.append(f"{prefix}: at most {MAX_MODEL_LIMITS} models")
        return {}
    table: dict[str, dict[str, int]] = {}
    for model, entry in value.items():
        problem = name_problem(model)
        if problem is not None:
            fields.problems.append(f"{prefix}: the model name {cap(model)!r} {problem}")
            continue
        label = f"{prefix}.{model}"
        if entry is not None and not isinstance(entry, dict):
            fields.problems.append(f"{label}: must be an object of rpm, tpm, concurrency, or null")
            continue
        unknown = sorted(name for name in entry or {} if name not in LIMIT_MAX)
        fields.problems.extend(f"{label}.{cap(name)}: unknown field" for name in unknown)
        values = {
            name: limit(fields, f"{label}.{name}", (entry or {}).get(name)) for name in LIMIT_NAMES
        }
        kept = {name: number for name, number in values.items() if number is not None}
        if kept:
            table[model] = kept
    return table


def limit(fields: Fields, label: str, value: Any) -> int | None:
    """One limit: a whole number from 1 to its ceiling, or None."""
    if value is None:
        return None
    ceiling = LIMIT_MAX[label.rsplit(".", 1)[-1]]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
        fields.problems.append(f"{label}: a whole number from 1 to {ceiling}, or null")
        return None
    return value
