"""Benchmark: how many usage events per second `record_batch` records.

Standalone: creates its own database on the PostgreSQL server (default
postgresql://postgres@127.0.0.1:5432), applies the real migrations, records
50,000 generated events in batches of 500 (one consumer, one batch at a time,
as the stream consumer does), prints events/s, then checks that every event
was recorded once and the daily aggregates add up, and drops the database.

    .venv/bin/python bench/usage_record.py [--events N] [--batch N] [--server DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.usage.recording import record_batch
from shared import db, migrations
from shared.usage_event import UsageEvent, read

MODELS = ("gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash", "gpt-4.1", "o3-mini")
ENDPOINTS = ("openai_chat", "anthropic_messages", "gemini_generate", "openai_responses")


def make_events(count: int, users: int = 200) -> list[UsageEvent]:
    rng = random.Random(7)
    user_ids = [str(uuid.uuid4()) for _ in range(users)]
    key_ids = {user: str(uuid.uuid4()) for user in user_ids}
    start = datetime(2025, 1, 1, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    for n in range(count):
        user = rng.choice(user_ids)
        ok = rng.random() > 0.05
        events.append(
            {
                "v": 2,
                "price_multiplier": "1",
                "event_id": f"req_{n:08d}_{secrets.token_hex(6)}",
                "ts": (start + timedelta(seconds=n * 7)).isoformat().replace("+00:00", "Z"),
                "user_id": user,
                "key_id": key_ids[user],
                "channel_id": str(uuid.uuid4()),
                "endpoint": rng.choice(ENDPOINTS),
                "requested_model": rng.choice(MODELS),
                "upstream_model": None,
                "stream": rng.random() > 0.5,
                "status": "ok" if ok else "upstream_error",
                "http_status": 200 if ok else 502,
                "error_code": None if ok else "upstream_5xx",
                "input_tokens": rng.randrange(10, 5000),
                "output_tokens": rng.randrange(0, 2000),
                "cache_read_tokens": rng.randrange(0, 1000),
                "cache_write_tokens": 0,
                "reasoning_tokens": 0,
                "web_search_requests": 0,
                "usage_source": "upstream",
                "ttfb_ms": rng.uniform(50, 900),
                "latency_ms": rng.uniform(200, 9000),
                "client_ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
                "user_agent": "OpenAI/Python 1.40.0",
                "hold_id": None,
                "hold_amount": None,
                "cost": f"0.{rng.randrange(10**6):06d}",
            }
        )
    # Decoded as the stream consumer decodes them, before handing them over.
    return [read(event) for event in events]


async def run(server: str, total: int, batch: int) -> None:
    name = f"tollgate_bench_{secrets.token_hex(4)}"
    admin: Any = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = f"{server}/{name}"
        await migrations.apply(dsn)
        events = make_events(total)
        async with db.pool(dsn, min_size=1, max_size=2) as pool:
            await record_batch(pool, events[:batch])  # warm up: prepared statement, caches
            await pool.execute("TRUNCATE usage.records, usage.daily")
            started = time.perf_counter()
            for offset in range(0, total, batch):
                await record_batch(pool, events[offset : offset + batch])
            elapsed = time.perf_counter() - started
            recorded = await pool.fetchval("SELECT count(*) FROM usage.records")
            requests = await pool.fetchval("SELECT sum(requests) FROM usage.daily")
        print(f"recorded {recorded} events in {elapsed:.2f} s: {total / elapsed:,.0f} events/s")
        assert recorded == total and requests == total, (recorded, requests)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    asyncio.run(run(args.server, args.events, args.batch))


if __name__ == "__main__":
    main()
