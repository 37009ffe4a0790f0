"""CPU per upstream call: aiohttp's client against the gateway's own (`upstream_http`).

    .venv/bin/python -m bench.overhead.client_cost [--calls N] [--concurrency C]

Starts the bench's nginx (the recorded OpenAI answer), then, in this one
process on uvloop, sends the same POST `--calls` times over `--concurrency`
kept-alive connections with each client in turn (twice each, alternating),
reading every answer to its end. Prints the process's CPU time per call
and calls per second for each. Nothing else runs in the process, so the
difference is the clients' own work per call.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack

import aiohttp

from bench.overhead import compare, upstream
from bench.overhead.processes import ROOT, free_ports
from bench.overhead.targets import CHAT_PATH, bodies
from services.gateway.upstream.client import UpstreamClient
from shared.service import event_loop_factory

HEADERS = {
    "content-type": "application/json",
    "authorization": f"Bearer {upstream.UPSTREAM_KEY}",
    "accept-encoding": "identity",
}


async def _timed(
    name: str, call: Callable[[], Awaitable[int]], calls: int, concurrency: int
) -> None:
    async def worker(count: int) -> None:
        for _ in range(count):
            if await call() != 200:
                raise SystemExit(f"{name}: the upstream did not answer 200")

    await asyncio.gather(*(worker(50) for _ in range(concurrency)))  # connections opened
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = calls // concurrency * concurrency
    print(f"{name:<16} {cpu / done * 1e6:6.1f} us CPU per call  {done / wall:8.0f} calls/s")


async def run(calls: int, concurrency: int) -> None:
    body, _ = bodies()
    async with AsyncExitStack() as exits:
        temp = compare._temp_folder()
        exits.callback(shutil.rmtree, temp, ignore_errors=True)
        json_port, sse_port = free_ports(2)
        logs = ROOT / ".bench" / "logs" / "client-cost"
        mock, _ = await upstream.start(
            exits, temp / "nginx", logs, json_port=json_port, sse_port=sse_port
        )
        url = mock.url(json_port) + CHAT_PATH
        session = await exits.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        )
        lean = UpstreamClient(guarded=False)
        exits.push_async_callback(lean.close)

        async def with_aiohttp() -> int:
            async with session.post(
                url, data=body, headers=HEADERS, allow_redirects=False
            ) as response:
                await response.read()
                return response.status

        async def with_lean() -> int:
            response = await lean.request(
                "POST", url, body=body, headers=HEADERS, connect_timeout=10
            )
            async with response:
                while await response.readany():
                    pass
                return response.status

        for _ in range(2):
            await _timed("aiohttp client", with_aiohttp, calls, concurrency)
            await _timed("upstream_http", with_lean, calls, concurrency)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead.client_cost")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(run(options.calls, options.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
