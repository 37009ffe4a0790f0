"""Benchmark: how many usage events per second `charge_batch` charges.

Standalone: creates its own database on the PostgreSQL server (default
postgresql://postgres@127.0.0.1:5432), applies the real migrations, prices
five models, credits 1,000 users, then charges 50,000 generated events in
batches of 500 and prints events/s. By default one consumer charges one batch
at a time, as a stream consumer does; `--consumers N` runs N at once on
different batches. Some users run out of money on the way, so the floor guard
and write-offs are on the measured path. Afterwards it replays every batch
(all must come back as duplicates), runs `check_ledger` (must be clean), and
drops the database.

    .venv/bin/python bench/billing_charge.py [--events N] [--batch N] [--users N]
                                             [--consumers N] [--server DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from services.billing import ledger, price_store
from services.billing.charging import charge_batch
from services.billing.reconcile import check_ledger
from shared import db, migrations
from shared.usage_event import UsageEvent, read

MODELS = {
    "gpt-4o-mini": ("0.15", "0.60", "0.075", "0"),
    "claude-sonnet-4": ("3", "15", "0.30", "3.75"),
    "gemini-2.5-flash": ("0.30", "2.50", "0.075", "0"),
    "gpt-4.1": ("2", "8", "0.50", "0"),
    "o3-mini": ("1.10", "4.40", "0.55", "0"),
}
START = datetime(2025, 1, 1, tzinfo=UTC)


def make_events(count: int, user_ids: list[uuid.UUID]) -> list[UsageEvent]:
    rng = random.Random(7)
    events: list[dict[str, Any]] = []
    for n in range(count):
        events.append(
            {
                "v": 2,
                "price_multiplier": "1",
                "event_id": f"req_{n:08d}_{secrets.token_hex(6)}",
                "ts": (START + timedelta(seconds=n)).isoformat(),
                "user_id": str(rng.choice(user_ids)),
                "requested_model": rng.choice(list(MODELS)),
                "upstream_model": None,
                "status": "ok",
                "input_tokens": rng.randrange(10, 20_000),
                "output_tokens": rng.randrange(0, 4_000),
                "cache_read_tokens": rng.randrange(0, 2_000),
                "cache_write_tokens": rng.choice((0, 0, 0, 1_000)),
                "web_search_requests": 0,
                "hold_id": f"h_{n}",
            }
        )
    # Decoded as the stream consumer decodes them, before handing them over.
    return [read(event) for event in events]


async def seed(pool: Any, user_ids: list[uuid.UUID]) -> None:
    """Prices, and credits of 0.05 to 5 USD (so some users hit their floor)."""
    rng = random.Random(11)
    async with pool.acquire() as connection, connection.transaction():
        for model, (inp, out, read, write) in MODELS.items():
            await price_store.add_version(
                connection,
                model=model,
                effective_from=START - timedelta(days=1),
                rates={
                    "input": Decimal(inp),
                    "output": Decimal(out),
                    "cache_read": Decimal(read),
                    "cache_write": Decimal(write),
                    "web_search": Decimal(0),
                },
                max_output_tokens=8192,
                created_by=None,
            )
        topups = await ledger.system_account(connection, "topups")
        for user_id in user_ids:
            account = await ledger.user_account(connection, user_id)
            amount = Decimal(rng.randrange(5, 500)) / 100
            await ledger.post(connection, "top_up", [(topups, -amount), (account, amount)])


async def charge_all(pool: Any, batches: list[list[UsageEvent]], consumers: int) -> int:
    queue: asyncio.Queue[list[UsageEvent]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    charged = 0

    async def consumer() -> None:
        nonlocal charged
        while not queue.empty():
            result = await charge_batch(pool, queue.get_nowait())
            charged += len(result.charged)

    await asyncio.gather(*(consumer() for _ in range(consumers)))
    return charged


async def run(arguments: argparse.Namespace) -> None:
    name = f"tollgate_bench_{secrets.token_hex(4)}"
    admin: Any = await asyncpg.connect(f"{arguments.server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{arguments.server}/{name}"
    try:
        await migrations.apply(dsn)
        user_ids = [uuid.uuid4() for _ in range(arguments.users)]
        events = make_events(arguments.events, user_ids)
        size = arguments.batch
        batches = [events[i : i + size] for i in range(0, len(events), size)]
        async with db.pool(dsn, max_size=max(2, arguments.consumers)) as pool:
            await seed(pool, user_ids)
            started = time.perf_counter()
            charged = await charge_all(pool, batches, arguments.consumers)
            elapsed = time.perf_counter() - started
            print(
                f"charged {charged} events in {len(batches)} batches of {size} "
                f"({arguments.users} users, {arguments.consumers} consumer(s)) "
                f"in {elapsed:.2f} s: {charged / elapsed:,.0f} events/s"
            )
            replayed = await charge_all(pool, batches, arguments.consumers)
            assert charged == len(events) and replayed == 0, (charged, replayed)
            written_off = await pool.fetchval(
                "SELECT count(*) FROM billing.usage_charges WHERE written_off > 0"
            )
            async with pool.acquire() as connection:
                problems = await check_ledger(connection)
            print(f"replay charged nothing; {written_off} events partly written off")
            print("ledger check: " + ("clean" if not problems else "\n  ".join(problems)))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
