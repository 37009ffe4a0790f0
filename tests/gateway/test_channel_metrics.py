"""The per channel gauges, read at scrape time: pure, no loop."""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry

from services.gateway.channels.breaker import BreakerPolicy
from services.gateway.channels.choice import Channel, RoutingTable
from services.gateway.channels.health import ChannelHealth
from services.gateway.channels.metrics import HealthCollector
from services.gateway.relay.apis import Family


def _channel(name: str, *, enabled: bool = True) -> Channel:
    return Channel(
        id=uuid.uuid4(),
        name=name,
        kind=Family.OPENAI,
        base_url="https://api.example.com",
        api_key="sk-x",
        models=("gpt-4o",),
        enabled=enabled,
    )


def _enabled(registry: CollectorRegistry, channel: Channel) -> float | None:
    labels = {"channel_id": str(channel.id), "name": channel.name}
    return registry.get_sample_value("tollgate_channel_enabled", labels)


def test_a_channel_shut_off_in_this_process_reads_disabled_before_the_table_reloads() -> None:
    up, refused, off = _channel("up"), _channel("refused"), _channel("off", enabled=False)
    table = RoutingTable.build([up, refused, off], {})
    health = ChannelHealth(BreakerPolicy())
    health.sync(table.channels)
    registry = CollectorRegistry()
    registry.register(HealthCollector(lambda: (table, health)))

    assert [_enabled(registry, c) for c in (up, refused, off)] == [1, 1, 0]
    health.shut_off(refused)  # its upstream answered 401; the database write is pending
    assert [_enabled(registry, c) for c in (up, refused, off)] == [1, 0, 0]
