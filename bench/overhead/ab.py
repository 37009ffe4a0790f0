"""The tuning loop: the bare proxy against the gateway, alternating, nothing else.

    .venv/bin/python -m bench.overhead.ab [--duration S] [--rounds N] [--redis-fsync F]

The full comparison (`bench/overhead/run`) takes a quarter of an hour; a
change to the hot path wants an answer in two minutes. This starts what the
gateway path needs (nginx, a private Redis, a fresh database, Tollgate's
four services with one gateway, the bare proxy), then alternates wrk loads
on the bare proxy and the gateway, round by round (c=64, then c=1), and
prints each round and the medians: requests per second, p50, the process's
CPU per request, and the gateway's ratios to the bare proxy. The machine's
speed moves by tens of percent within minutes; the ratios of loads run
back to back move much less, so they are what to compare before and after
a change. Not the figures of record: those come from `bench/overhead/run`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.overhead import compare, pyspy, seeding, targets, upstream, wrk
from bench.overhead.cpu import CpuMeter
from bench.overhead.processes import ROOT, free_ports, output_of
from bench.overhead.targets import Requests, Target
from shared import tasks


@dataclass(frozen=True, kw_only=True)
class Load:
    per_second: float
    p50_ms: float
    cpu_ms: float  # the target's processes, per request


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead.ab")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per load (4)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (4)")
    parser.add_argument("--redis-fsync", choices=("always", "everysec"), default="always")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument(
        "--profile",
        type=Path,
        help="after the rounds, py-spy the gateway (collapsed stacks)",
    )
    parser.add_argument(
        "--profile-connections", type=int, default=64, help="the profiled load's concurrency (64)"
    )
    return parser.parse_args(argv)


async def _load(target: Target, requests: Requests, connections: int, seconds: float) -> Load:
    meter = CpuMeter(target.pids)
    result = await wrk.run(
        target.json_url, requests.wrk_script, connections=connections, duration=seconds
    )
    if result.errors:
        raise SystemExit(f"{target.label}: {result.errors} errors at c={connections}")
    return Load(
        per_second=result.per_second,
        p50_ms=result.p50_ms,
        cpu_ms=meter.used().ms_per(result.requests),
    )


def _row(name: str, load: Load) -> str:
    rate = f"{load.per_second:8.0f} req/s"
    return f"{name:<9} {rate}  p50 {load.p50_ms:6.3f} ms  cpu {load.cpu_ms:.3f} ms"


async def run(options: argparse.Namespace) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    logs = ROOT / ".bench" / "logs" / f"ab-{stamp}"
    async with AsyncExitStack() as exits:
        temp = compare._temp_folder()
        exits.callback(shutil.rmtree, temp, ignore_errors=True)
        json_port, sse_port, bare_port, *tollgate_ports = free_ports(9)
        mock, nginx = await upstream.start(
            exits, temp / "nginx", logs, json_port=json_port, sse_port=sse_port
        )
        tollgate, _ = await compare._start_tollgate(exits, temp, logs, options, tollgate_ports)
        seeded = await seeding.seed(tollgate, mock)
        bare = await compare._start_bare_proxy(exits, logs, mock, bare_port)
        line_up = (
            targets.bare_proxy(mock, bare, bare_port),
            targets.lone_gateway(tollgate, seeded.api_key),
        )
        requests = {t.key: targets.write_requests(t, temp / "requests") for t in line_up}
        for target in line_up:
            await targets.preflight(target)
            await _load(target, requests[target.key], 64, 2.0)  # warm-up
        del nginx
        loads: dict[tuple[str, int], list[Load]] = {}
        for number in range(1, options.rounds + 1):
            for connections in (64, 1):
                for target in line_up:
                    load = await _load(target, requests[target.key], connections, options.duration)
                    loads.setdefault((target.key, connections), []).append(load)
                    print(f"round {number} c={connections:<2} {_row(target.key, load)}", flush=True)
        _summary(loads)
        if options.profile is not None:
            await _profile(line_up[1], requests["tollgate"], options)


async def _profile(gateway: Target, requests: Requests, options: argparse.Namespace) -> None:
    argv = [str(pyspy.binary()), "record", "--pid", str(gateway.pids[0]), "--nonblocking"]
    argv += ["--duration", str(max(1, round(options.duration))), "--rate", str(pyspy.RATE_HZ)]
    argv += ["--format", "raw", "--output", str(options.profile)]
    recording = tasks.spawn(output_of(argv, within=options.duration + 60), name="py-spy")
    await _load(gateway, requests, options.profile_connections, options.duration)
    await recording
    print(f"profile: {options.profile}")


def _median(loads: list[Load]) -> Load:
    return Load(
        per_second=statistics.median(load.per_second for load in loads),
        p50_ms=statistics.median(load.p50_ms for load in loads),
        cpu_ms=statistics.median(load.cpu_ms for load in loads),
    )


def _summary(loads: dict[tuple[str, int], list[Load]]) -> None:
    print("medians:")
    for connections in (64, 1):
        bare, gateway = (_median(loads[(key, connections)]) for key in ("bare", "tollgate"))
        print(f"  c={connections:<2} {_row('bare', bare)}")
        print(f"  c={connections:<2} {_row('gateway', gateway)}")
        print(
            f"  c={connections:<2} gateway/bare: req/s {gateway.per_second / bare.per_second:.0%}, "
            f"cpu {gateway.cpu_ms / bare.cpu_ms:.2f}x, "
            f"p50 +{gateway.p50_ms - bare.p50_ms:.3f} ms"
        )


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(run(_options(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
