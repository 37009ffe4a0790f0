"""One target, one round: the four loads, with its memory sampled throughout.

In order: non-streaming at concurrency 1 and 64 (wrk), then streaming at
concurrency 1 (time to first token) and 64 (streams per second) with
`sse_load` in a process of its own. The target's processes are sampled for
resident memory for the whole round; the peak is kept. Over each wrk load,
the CPU time of the target's processes and the machine's busy share are
read (`cpu`). A warm-up (the same
loads, shorter, not reported) runs once per target before the first round.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from bench.overhead import wrk
from bench.overhead.cpu import CpuMeter, CpuUse
from bench.overhead.memory import RssSampler
from bench.overhead.processes import output_of
from bench.overhead.targets import Requests, Target
from bench.overhead.wrk import WrkResult

HIGH = 64


@dataclass(frozen=True, kw_only=True)
class StreamResult:
    streams: int
    errors: int
    seconds: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    last_error: str

    @property
    def per_second(self) -> float:
        return self.streams / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, kw_only=True)
class Measured:
    c1: WrkResult
    c64: WrkResult
    ttft: StreamResult  # streaming, concurrency 1
    streams: StreamResult  # streaming, concurrency 64
    rss_peak: dict[int, int]  # pid -> bytes, over the whole round
    c1_cpu: CpuUse
    c64_cpu: CpuUse


async def stream_load(requests: Requests, *, concurrency: int, duration: float) -> StreamResult:
    argv = [sys.executable, "-m", "bench.overhead.sse_load", "--request", str(requests.sse_request)]
    argv += ["--concurrency", str(concurrency), "--duration", str(duration)]
    figures = json.loads(await output_of(argv, within=duration + 60))
    return StreamResult(**figures)


async def measure(target: Target, requests: Requests, duration: float) -> Measured:
    async with RssSampler(target.pids) as memory:
        meter = CpuMeter(target.pids)
        c1 = await wrk.run(target.json_url, requests.wrk_script, connections=1, duration=duration)
        c1_cpu, meter = meter.used(), CpuMeter(target.pids)
        c64 = await wrk.run(
            target.json_url, requests.wrk_script, connections=HIGH, duration=duration
        )
        c64_cpu = meter.used()
        ttft = await stream_load(requests, concurrency=1, duration=duration)
        streams = await stream_load(requests, concurrency=HIGH, duration=duration)
    return Measured(
        c1=c1,
        c64=c64,
        ttft=ttft,
        streams=streams,
        rss_peak=dict(memory.peaks),
        c1_cpu=c1_cpu,
        c64_cpu=c64_cpu,
    )


async def warm_up(target: Target, requests: Requests, duration: float) -> None:
    await wrk.run(target.json_url, requests.wrk_script, connections=HIGH, duration=duration)
    await stream_load(requests, concurrency=HIGH, duration=duration)
