"""A channel as the admin API and `tollgate admin add-channel` accept it. Pure.

`read_fields` checks each field of a create or a patch on its own and reports
every problem at once (one 422); `channel_problems` checks what only the
whole channel can tell (after a patch, the stored channel with the changes):
a model mapping names only models the channel serves. Where the base URL
leads is checked with IO, in `base_url_check`.

Timeouts are milliseconds; `null` in a patch clears one (the gateway's default
applies again). Disabling a channel records that an operator did it, and
enabling one clears whatever switched it off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yarl import URL

from services.gateway.channels.choice import DISABLED_BY_OPERATOR, normalise_base_url
from services.gateway.relay.apis import Family
from shared.bodies import Fields
from shared.client_input import MODEL_NAME_MAX, cap, name_problem

KINDS = tuple(family.value for family in Family)
TIMEOUTS = ("connect_timeout_ms", "first_byte_timeout_ms", "idle_timeout_ms")
ACCEPTED = frozenset(
    {
        "name",
        "kind",
        "base_url",
        "api_key",
        "models",
        "model_map",
        "priority",
        "weight",
        "enabled",
        "allow_private_network",
        *TIMEOUTS,
    }
)
MAX_TIMEOUT_MS = 3_600_000
MAX_MODEL_NAME = MODEL_NAME_MAX


def _is_upstream_url(url: str) -> bool:
    """A URL the relay can append a path to, with no credential that `public()` would show."""
    if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
        return False
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return bool(parsed.host) and not (
        parsed.user or parsed.password or parsed.query_string or parsed.fragment
    )


def _model_map(body: Mapping[str, Any], problems: list[str]) -> dict[str, str] | None:
    value = body.get("model_map")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip()
        for k, v in value.items()
    ):
        problems.append("model_map: an object from model names to non-empty upstream names")
        return None
    if len(value) > 500 or any(
        name_problem(name, max_length=MAX_MODEL_NAME) is not None
        for pair in value.items()
        for name in pair
    ):
        problems.append(
            f"model_map: at most 500 entries of {MAX_MODEL_NAME} characters, "
            "with no control characters"
        )
        return None
    return dict(value)


def read_fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    fields = Fields(body)
    fields.refuse_unknown(ACCEPTED)
    values: dict[str, Any] = {
        "name": fields.string("name", required=creating, max_length=100, controls="none"),
        "kind": fields.string("kind", required=creating, max_length=20, controls="none"),
        "base_url": fields.string("base_url", required=creating, max_length=2000, controls="none"),
        "api_key": fields.string("api_key", required=creating, max_length=4000, controls="any"),
        "models": fields.string_list("models", max_length=MAX_MODEL_NAME),
        "model_map": _model_map(body, fields.problems),
        "priority": fields.integer("priority", low=-1000, high=1000),
        "weight": fields.integer("weight", low=1, high=10000),
        "enabled": fields.boolean("enabled"),
        "allow_private_network": fields.boolean("allow_private_network"),
    }
    for name in TIMEOUTS:
        values[name] = fields.integer(name, low=1, high=MAX_TIMEOUT_MS)
    if values["kind"] is not None and values["kind"] not in KINDS:
        fields.problems.append(f"kind: one of {', '.join(KINDS)}")
    if values["base_url"] is not None:
        values["base_url"] = normalise_base_url(values["base_url"])
        if not _is_upstream_url(values["base_url"]):
            fields.problems.append(
                "base_url: an http:// or https:// URL with a host, and no user, query or fragment"
            )
    if values["name"] is not None and not values["name"].strip():
        fields.problems.append("name: must not be blank")
    if values["api_key"] is not None and not values["api_key"].strip():
        fields.problems.append("api_key: must not be blank")
    models = values["models"]
    if (creating and models is None) or (
        models is not None
        and (not models or not all(m.strip() and len(m) <= MAX_MODEL_NAME for m in models))
    ):
        fields.problems.append("models: a non-empty list of model names")
    fields.check()
    changes = {name: value for name, value in values.items() if value is not None}
    changes.update({name: None for name in TIMEOUTS if fields.has(name) and body[name] is None})
    if "enabled" in changes:
        changes["disabled_reason"] = None if changes["enabled"] else DISABLED_BY_OPERATOR
    return changes


def channel_problems(channel: Mapping[str, Any]) -> list[str]:
    """What is wrong with the channel as a whole (its fields each being valid)."""
    served = set(channel.get("models") or ())
    unknown = sorted(set(channel.get("model_map") or {}) - served)
    return [f"model_map: {cap(name)} is not one of the channel's models" for name in unknown]
