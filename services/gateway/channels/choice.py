"""Channels, model aliases, and the choice among channels. Pure: no IO.

A channel is one upstream provider account: its kind (the wire format it
speaks), base URL, key, the models it serves and, per model, the name the
upstream knows it by. The routing table built from the channels and the model
aliases answers, for a request:

1. which model the client means (an alias resolves once, to a model name);
2. which enabled channels of the client's format serve that model;
3. which of those to try next: among the ones the caller still finds usable
   (healthy, not yet tried), the highest priority, then at random in
   proportion to weight.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.gateway.relay.apis import Family

DISABLED_BY_OPERATOR = "operator"
DISABLED_BY_UPSTREAM_AUTH = "upstream_auth_failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Seconds: to connect, to the first byte of the answer, between two chunks."""

    connect: float
    first_byte: float
    idle: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    id: uuid.UUID
    name: str
    kind: Family
    base_url: str
    api_key: str = field(repr=False)
    models: tuple[str, ...]
    priority: int = 0
    weight: int = 1
    enabled: bool = True
    model_map: Mapping[str, str] = field(default_factory=dict)
    allow_private_network: bool = False
    connect_timeout_ms: int | None = None
    first_byte_timeout_ms: int | None = None
    idle_timeout_ms: int | None = None
    disabled_reason: str | None = None
    updated_at: datetime | None = None

    def serves(self, model: str) -> bool:
        return model in self.models

    def upstream_model(self, model: str) -> str:
        """The name this channel's upstream knows `model` by."""
        return self.model_map.get(model, model)

    def timeouts(self, defaults: Timeouts) -> Timeouts:
        """This channel's timeouts, the gateway's defaults where it sets none."""

        def pick(own_ms: int | None, default: float) -> float:
            return default if own_ms is None else own_ms / 1000

        return Timeouts(
            connect=pick(self.connect_timeout_ms, defaults.connect),
            first_byte=pick(self.first_byte_timeout_ms, defaults.first_byte),
            idle=pick(self.idle_timeout_ms, defaults.idle),
        )

    def public(self) -> dict[str, object]:
        """What the admin API shows: everything but the key."""
        return {
            "id": str(self.id),
            "name": self.name,
            "kind": self.kind.value,
            "base_url": self.base_url,
            "models": list(self.models),
            "model_map": dict(self.model_map),
            "priority": self.priority,
            "weight": self.weight,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "allow_private_network": self.allow_private_network,
            "connect_timeout_ms": self.connect_timeout_ms,
            "first_byte_timeout_ms": self.first_byte_timeout_ms,
            "idle_timeout_ms": self.idle_timeout_ms,
        }


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """Every channel and alias, indexed for the relay's lookups."""

    channels: tuple[Channel, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    _serving: Mapping[tuple[Family, str], tuple[Channel, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, channels: Iterable[Channel], aliases: Mapping[str, str]) -> RoutingTable:
        every = tuple(channels)
        serving: dict[tuple[Family, str], list[Channel]] = {}
        for channel in every:
            if channel.enabled:
                for model in channel.models:
                    serving.setdefault((channel.kind, model), []).append(channel)
        return cls(every, dict(aliases), {key: tuple(found) for key, found in serving.items()})

    def resolve(self, model: str) -> str:
        """The model an alias stands for; any other name is itself."""
        return self.aliases.get(model, model)

    def serving(self, kind: Family, model: str) -> tuple[Channel, ...]:
        """The enabled channels of this kind that serve `model` (already resolved)."""
        return self._serving.get((kind, model), ())

    def models(self, kind: Family) -> list[str]:
        """Every model some enabled channel of this kind serves, and every alias of one."""
        served = {model for (family, model) in self._serving if family is kind}
        aliases = {alias for alias, model in self.aliases.items() if model in served}
        return sorted(served | aliases)

    def get(self, channel_id: uuid.UUID) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)


def choose(
    candidates: Sequence[Channel],
    usable: Callable[[Channel], bool],
    rng: random.Random | None = None,
) -> Channel | None:
    """The channel to try next: highest priority among the usable, then by weight."""
    found = [c for c in candidates if usable(c)]
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    top = max(c.priority for c in found)
    best = [c for c in found if c.priority == top]
    if len(best) == 1:
        return best[0]
    return (rng or random).choices(best, weights=[c.weight for c in best])[0]


def normalise_base_url(raw: str) -> str:
    """The base URL without a trailing slash or API version: the client's path is appended."""
    url = raw.strip().rstrip("/")
    for suffix in ("/v1beta", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url
