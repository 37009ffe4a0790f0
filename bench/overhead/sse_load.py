"""Streaming load: time to first token and streams per second.

A small asyncio aiohttp client, run as its own process so the driver's
event loop is not on the measured path:

    python -m bench.overhead.sse_load --request FILE [--concurrency N] [--duration S]

FILE is JSON: `{"url", "headers", "body"}` (a file, so an API key never
shows in `ps`).

`concurrency` workers each send the streaming request, time the first SSE
event byte (request sent to the first body byte of a 200 `text/event-stream`
answer: the time to first token a client sees), read the stream to its end
and start again, until `duration` has passed. A stream counts as complete
only when it ended with `data: [DONE]`; anything else is an error. One JSON
line on standard output: streams completed, errors, elapsed seconds, and
the p50 and p99 time to first byte in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

DONE = b"data: [DONE]"


@dataclass
class Tally:
    first_bytes: list[float] = field(default_factory=list)
    streams: int = 0
    errors: int = 0
    last_error: str = ""


async def _one_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], tally: Tally
) -> None:
    sent = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        first = await response.content.readany()
        first_byte = time.perf_counter() - sent
        if response.status != 200 or response.content_type != "text/event-stream" or not first:
            tally.errors += 1
            tally.last_error = f"status {response.status}: {first[:200]!r}"
            return
        tail = first[-64:]
        async for chunk in response.content.iter_any():
            tail = (tail + chunk)[-64:]
    if DONE not in tail:
        tally.errors += 1
        tally.last_error = f"stream ended without [DONE]: {tail!r}"
        return
    tally.first_bytes.append(first_byte)
    tally.streams += 1


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    deadline: float,
    tally: Tally,
) -> None:
    while time.perf_counter() < deadline:
        try:
            await _one_stream(session, url, body, headers, tally)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            tally.errors += 1
            tally.last_error = repr(exc)


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


async def measure(
    url: str, body: bytes, headers: dict[str, str], *, concurrency: int, duration: float
) -> dict[str, float | int | str]:
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(
            *(_worker(session, url, body, headers, deadline, tally) for _ in range(concurrency))
        )
        elapsed = time.perf_counter() - started
    return {
        "streams": tally.streams,
        "errors": tally.errors,
        "seconds": elapsed,
        "ttft_p50_ms": _percentile(tally.first_bytes, 0.50) * 1000,
        "ttft_p99_ms": _percentile(tally.first_bytes, 0.99) * 1000,
        "last_error": tally.last_error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--request", required=True, type=Path, help='{"url", "headers", "body"}')
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    arguments = parser.parse_args()
    request = json.loads(arguments.request.read_text())
    result = asyncio.run(
        measure(
            request["url"],
            request["body"].encode(),
            dict(request["headers"]),
            concurrency=arguments.concurrency,
            duration=arguments.duration,
        )
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
