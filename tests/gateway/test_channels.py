"""The routing table and the choice among channels: pure, no loop."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from typing import Any

from services.gateway.channels.choice import Channel, RoutingTable, Timeouts, choose
from services.gateway.relay.apis import Family


def _channel(name: str, **fields: Any) -> Channel:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": name,
        "kind": Family.OPENAI,
        "base_url": "https://api.example.com",
        "api_key": "sk-x",
        "models": ("gpt-4o",),
        **fields,
    }
    return Channel(**values)


def test_the_table_indexes_enabled_channels_by_kind_and_model() -> None:
    a = _channel("a", models=("gpt-4o", "gpt-4o-mini"))
    b = _channel("b", enabled=False)
    c = _channel("c", kind=Family.ANTHROPIC, models=("claude-sonnet-4-5",))
    table = RoutingTable.build([a, b, c], {"fast": "gpt-4o-mini", "gone": "nothing"})
    assert table.serving(Family.OPENAI, "gpt-4o") == (a,)
    assert table.serving(Family.ANTHROPIC, "gpt-4o") == ()
    assert table.models(Family.OPENAI) == ["fast", "gpt-4o", "gpt-4o-mini"]
    assert table.models(Family.ANTHROPIC) == ["claude-sonnet-4-5"]
    assert table.resolve("fast") == "gpt-4o-mini" and table.resolve("gpt-4o") == "gpt-4o"
    assert table.get(b.id) is b and table.get(uuid.uuid4()) is None


def test_model_map_names_the_upstream_model() -> None:
    channel = _channel("azure", model_map={"gpt-4o": "gpt-4o-2024-08-06"})
    assert channel.upstream_model("gpt-4o") == "gpt-4o-2024-08-06"
    assert channel.upstream_model("other") == "other"


def test_channel_timeouts_fall_back_to_the_gateway_defaults() -> None:
    defaults = Timeouts(connect=10, first_byte=300, idle=300)
    own = _channel("x", connect_timeout_ms=500, idle_timeout_ms=2500)
    assert own.timeouts(defaults) == Timeouts(connect=0.5, first_byte=300, idle=2.5)
    assert _channel("y").timeouts(defaults) == defaults


def test_choose_takes_the_highest_priority_among_the_usable() -> None:
    high, low = _channel("high", priority=10), _channel("low", priority=0)
    assert choose([low, high], lambda c: True) is high
    assert choose([low, high], lambda c: c is not high) is low
    assert choose([low, high], lambda c: False) is None


def test_choose_splits_by_weight_within_a_priority() -> None:
    light, heavy = _channel("light", weight=1), _channel("heavy", weight=4)
    rng = random.Random(7)
    picks = Counter(choose([light, heavy], lambda c: True, rng).name for _ in range(10_000))  # type: ignore[union-attr]
    assert 1800 <= picks["light"] <= 2200


def test_public_never_shows_the_key() -> None:
    channel = _channel("x", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(channel.public()) and "sk-very-secret" not in repr(channel)
