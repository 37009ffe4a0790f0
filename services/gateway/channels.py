"""Channels and the choice among them. Pure: no IO.

A channel is one upstream provider account: its kind (the wire format it
speaks), base URL, key and the models it serves. For a request, the gateway
takes the enabled channels of the client's format that serve the model, keeps
those of the highest priority, and picks one at random in proportion to its
weight.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.gateway.wire import Family


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

    def serves(self, model: str) -> bool:
        return model in self.models

    def public(self) -> dict[str, object]:
        """What the admin API shows: everything but the key."""
        return {
            "id": str(self.id),
            "name": self.name,
            "kind": self.kind.value,
            "base_url": self.base_url,
            "models": list(self.models),
            "priority": self.priority,
            "weight": self.weight,
            "enabled": self.enabled,
        }


def candidates(channels: Iterable[Channel], kind: Family, model: str) -> list[Channel]:
    return [c for c in channels if c.enabled and c.kind == kind and c.serves(model)]


def choose(
    channels: Iterable[Channel], kind: Family, model: str, rng: random.Random | None = None
) -> Channel | None:
    """The channel for this request, or None when no channel serves the model."""
    found = candidates(channels, kind, model)
    if not found:
        return None
    top = max(c.priority for c in found)
    best = [c for c in found if c.priority == top]
    if len(best) == 1:
        return best[0]
    return (rng or random).choices(best, weights=[c.weight for c in best])[0]


def models_for(channels: Iterable[Channel], kind: Family) -> list[str]:
    """Every model some enabled channel of this kind serves, sorted."""
    return sorted({m for c in channels if c.enabled and c.kind == kind for m in c.models})


def normalise_base_url(raw: str) -> str:
    """The base URL without a trailing slash or API version: the client's path is appended."""
    url = raw.strip().rstrip("/")
    for suffix in ("/v1beta", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url
