"""The results: medians across rounds, the issue's targets as ratios, one markdown table.

Pure: figures in, text out. Every figure is the median of its per-round
values (rounds interleave the targets, so a slow moment of the machine
touches all of them); errors are summed, and memory peaks are the highest
seen. A target whose loads had errors does not pass a check it appears in.
The targets (issue 6), all measured in setup (a), the gateway path:

- the full gateway path at c=64 does at least 70% of the bare proxy's req/s;
- it adds at most 0.6 ms of p50 latency over nginx directly at c=1;
- it does at least 20 times LiteLLM's req/s at c=64;
- it adds at most 1 ms to the time to first token at c=1;
- each gateway process stays under 120 MB resident under load;
- two gateway processes do at least 1.6 times one's req/s at c=64.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.overhead.machine import Machine
from bench.overhead.measure import Measured
from bench.overhead.memory import MB
from bench.overhead.stack import StreamState


@dataclass(frozen=True, kw_only=True)
class Summary:
    key: str
    label: str
    c1_rps: float
    c1_p50_ms: float
    c1_p99_ms: float
    c64_rps: float
    c64_p50_ms: float
    c64_p99_ms: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    streams_per_s: float
    processes: int
    rss_idle_mb: float | None  # the largest process, before any load
    rss_peak_mb: float | None  # the largest process, at its peak under load
    c1_cpu_ms: float  # CPU of the target's processes per request, at c=1
    c64_cpu_ms: float  # and at c=64
    c64_machine_busy: float  # 0..1: how much of every CPU was busy during the c=64 load
    errors: int


@dataclass(frozen=True, kw_only=True)
class Check:
    target: str
    measured: str
    required: str
    holds: bool


@dataclass(frozen=True, kw_only=True)
class Run:
    machine: Machine
    started: str
    duration: float
    warmup: float
    rounds: int
    log_level: str
    redis_fsync: str
    gateway_path: Sequence[Summary]
    whole_stack: Sequence[Summary]
    stream_after_gateway_path: StreamState
    backlog_drained_seconds: float | None
    stream_after_whole_stack: StreamState
    settled_seconds: float | None
    private_network_field: bool
    profile: Path | None


def _median(rounds: Sequence[Measured], figure: Callable[[Measured], float]) -> float:
    return statistics.median(figure(measured) for measured in rounds)


def summarise(
    key: str, label: str, rounds: Sequence[Measured], idle: dict[int, int], processes: int
) -> Summary:
    peaks = [rss for measured in rounds for rss in measured.rss_peak.values()]
    errors = sum(m.c1.errors + m.c64.errors + m.ttft.errors + m.streams.errors for m in rounds)
    return Summary(
        key=key,
        label=label,
        c1_rps=_median(rounds, lambda m: m.c1.per_second),
        c1_p50_ms=_median(rounds, lambda m: m.c1.p50_ms),
        c1_p99_ms=_median(rounds, lambda m: m.c1.p99_ms),
        c64_rps=_median(rounds, lambda m: m.c64.per_second),
        c64_p50_ms=_median(rounds, lambda m: m.c64.p50_ms),
        c64_p99_ms=_median(rounds, lambda m: m.c64.p99_ms),
        ttft_p50_ms=_median(rounds, lambda m: m.ttft.ttft_p50_ms),
        ttft_p99_ms=_median(rounds, lambda m: m.ttft.ttft_p99_ms),
        streams_per_s=_median(rounds, lambda m: m.streams.per_second),
        processes=processes,
        rss_idle_mb=max(idle.values()) / MB if idle else None,
        rss_peak_mb=max(peaks) / MB if peaks else None,
        c1_cpu_ms=_median(rounds, lambda m: m.c1_cpu.ms_per(m.c1.requests)),
        c64_cpu_ms=_median(rounds, lambda m: m.c64_cpu.ms_per(m.c64.requests)),
        c64_machine_busy=_median(rounds, lambda m: m.c64_cpu.machine_busy),
        errors=errors,
    )


def checks(summaries: Sequence[Summary]) -> list[Check]:
    by_key = {summary.key: summary for summary in summaries}
    direct, bare, one = by_key["direct"], by_key["bare"], by_key["tollgate"]
    two, litellm = by_key["tollgate-2"], by_key["litellm"]
    clean = one.errors == 0

    def ratio(a: float, b: float) -> float:
        return a / b if b else float("inf")

    added = one.c1_p50_ms - direct.c1_p50_ms
    ttft = one.ttft_p50_ms - direct.ttft_p50_ms
    peak = max((s.rss_peak_mb or 0.0) for s in (one, two))
    return [
        Check(
            target="gateway path req/s at c=64 vs the bare proxy",
            measured=f"{ratio(one.c64_rps, bare.c64_rps):.0%}",
            required=">= 70%",
            holds=clean and bare.errors == 0 and one.c64_rps >= 0.7 * bare.c64_rps,
        ),
        Check(
            target="added p50 latency at c=1 over nginx directly",
            measured=f"{added:.3f} ms",
            required="<= 0.6 ms",
            holds=clean and added <= 0.6,
        ),
        Check(
            target="req/s at c=64 vs LiteLLM",
            measured=f"{ratio(one.c64_rps, litellm.c64_rps):.1f}x",
            required=">= 20x",
            holds=clean and one.c64_rps >= 20 * litellm.c64_rps,
        ),
        Check(
            target="streaming TTFT overhead at c=1 (p50)",
            measured=f"{ttft:.3f} ms",
            required="<= 1 ms",
            holds=clean and ttft <= 1.0,
        ),
        Check(
            target="RSS per gateway process under load (peak)",
            measured=f"{peak:.1f} MB",
            required="<= 120 MB",
            holds=peak <= 120,
        ),
        Check(
            target="two gateway processes vs one, req/s at c=64",
            measured=f"{ratio(two.c64_rps, one.c64_rps):.2f}x",
            required=">= 1.6x",
            holds=clean and two.errors == 0 and two.c64_rps >= 1.6 * one.c64_rps,
        ),
    ]


def two_process_ceiling(summaries: Sequence[Summary], cpus: int) -> str | None:
    """What two processes can reach against one at c=64 on this machine, from the run's CPU.

    One process is bound by its own core; two share the machine's cores with
    everything else the load needs (wrk, nginx, Redis, the kernel's network
    work), whose CPU per request is read off the one-process load: the busy
    share of every CPU, less the gateway's own. Two processes then serve at
    most `cpus / (their CPU per request + that)` requests a second.
    """
    by_key = {summary.key: summary for summary in summaries}
    one, two = by_key.get("tollgate"), by_key.get("tollgate-2")
    if one is None or two is None or not one.c64_rps:
        return None
    machine_ms = cpus * one.c64_machine_busy * 1000 / one.c64_rps
    rest_ms = max(machine_ms - one.c64_cpu_ms, 0.0)
    ceiling_rps = cpus * 1000 / (two.c64_cpu_ms + rest_ms)
    return (
        f"Two processes' ceiling on this machine: everything but the gateway spent "
        f"{rest_ms:.3f} ms of CPU per request during the one-process c=64 load "
        f"({one.c64_machine_busy:.0%} of {cpus} CPUs busy at {one.c64_rps:,.0f} req/s, "
        f"{one.c64_cpu_ms:.3f} ms of it the gateway's); with the pair's "
        f"{two.c64_cpu_ms:.3f} ms, {cpus} CPUs serve at most {ceiling_rps:,.0f} req/s: "
        f"{ceiling_rps / one.c64_rps:.2f}x the one process (measured "
        f"{two.c64_rps / one.c64_rps:.2f}x)."
    )


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _figures_table(summaries: Sequence[Summary], direct: Summary | None) -> list[str]:
    rows = [
        "| target | procs | c=1 req/s | c=1 p50 ms | c=1 p99 ms | added p50 ms "
        "| c=64 req/s | c=64 p50 ms | c=64 p99 ms | TTFT p50 ms | TTFT p99 ms "
        "| TTFT overhead ms | streams/s c=64 | RSS idle MB | RSS peak MB "
        "| CPU ms/req c=1 | CPU ms/req c=64 | machine busy c=64 | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
        "|---:|---:|---:|---:|",
    ]
    for s in summaries:
        added = "-" if direct is None or s is direct else f"{s.c1_p50_ms - direct.c1_p50_ms:.3f}"
        ttft = "-" if direct is None or s is direct else f"{s.ttft_p50_ms - direct.ttft_p50_ms:.3f}"
        rows.append(
            f"| {s.label} | {s.processes or '-'} | {s.c1_rps:,.0f} | {s.c1_p50_ms:.3f} "
            f"| {s.c1_p99_ms:.3f} | {added} | {s.c64_rps:,.0f} | {s.c64_p50_ms:.2f} "
            f"| {s.c64_p99_ms:.2f} | {s.ttft_p50_ms:.3f} | {s.ttft_p99_ms:.3f} | {ttft} "
            f"| {s.streams_per_s:,.0f} | {_mb(s.rss_idle_mb)} | {_mb(s.rss_peak_mb)} "
            f"| {s.c1_cpu_ms:.3f} | {s.c64_cpu_ms:.3f} | {s.c64_machine_busy:.0%} "
            f"| {s.errors} |"
        )
    return rows


def _stream_line(state: StreamState) -> str:
    groups = ", ".join(
        f"`{g.name}` lag {'?' if g.lag is None else g.lag}, pending {g.pending}"
        for g in state.groups
    )
    return f"XLEN tg:usage {state.length:,}" + (f"; {groups}" if groups else "; no groups")


def _seconds(value: float | None, limit: str) -> str:
    return f"{value:.1f} s" if value is not None else f"not within {limit}"


def render(run: Run) -> str:
    m = run.machine
    direct = next((s for s in run.gateway_path if s.key == "direct"), None)
    lines = [
        "# Gateway overhead (issue 6)",
        "",
        f"Run {run.started}: {run.rounds} round(s) of {run.duration:g} s per load, "
        f"{run.warmup:g} s warm-up per target (not reported), medians across rounds; "
        f"gateway `LOG_LEVEL={run.log_level}`; Redis AOF with `appendfsync {run.redis_fsync}`"
        + (" (production)." if run.redis_fsync == "always" else " (not the production setting)."),
        "",
        f"Machine: {m.cpus} CPUs ({m.cpu_model}), {m.kernel}, Python {m.python}, "
        f"nginx {m.nginx}, wrk {m.wrk}, LiteLLM {m.litellm}, Redis {m.redis}, "
        f"PostgreSQL {m.postgres}. Load generators, upstream and gateways share the machine.",
        "",
        "## Targets (setup a, the gateway path)",
        "",
        "| target | measured | required | holds |",
        "|---|---:|---:|---|",
    ]
    for check in checks(run.gateway_path):
        verdict = "yes" if check.holds else "**no**"
        lines.append(f"| {check.target} | {check.measured} | {check.required} | {verdict} |")
    ceiling = two_process_ceiling(run.gateway_path, m.cpus)
    if ceiling is not None:
        lines += ["", ceiling]
    lines += [
        "",
        "## Setup (a): the gateway path",
        "",
        "Auth, billing and usage HTTP services up, their stream consumers off "
        "(`TOLLGATE_CONSUMER=false`): every Tollgate request is authenticated with a real "
        "API key, holds its cost in Redis and publishes its usage event on `tg:usage`.",
        "",
        *_figures_table(run.gateway_path, direct),
        "",
        f"Usage stream after setup (a): {_stream_line(run.stream_after_gateway_path)}.",
        "",
        "## Setup (b): the whole stack",
        "",
        "Billing and usage restarted with their consumers; the backlog of setup (a) drained "
        f"in {_seconds(run.backlog_drained_seconds, 'the limit')} before these loads.",
        "",
        *_figures_table(run.whole_stack, None),
        "",
        f"Usage stream when the loads ended: {_stream_line(run.stream_after_whole_stack)}; "
        f"caught up {_seconds(run.settled_seconds, 'the limit')} later.",
        "",
        "## Notes",
        "",
        "- Direct: nginx (`worker_processes 1`) serving recorded OpenAI answers. Bare proxy: "
        "`bench/overhead/bare_proxy.py`, aiohttp with no features. LiteLLM: its proxy, one "
        "worker, no database (so no spend tracking), master key only.",
        "- added p50 and TTFT overhead: the target's median minus nginx's, at concurrency 1.",
        "- RSS: VmRSS of the largest process of the target (idle: before any load; peak: "
        "sampled every 50 ms during its loads).",
        "- CPU ms/req: user + system time of all the target's processes over a wrk load, "
        "divided by the requests it completed. Machine busy: the share of every CPU not idle "
        "during the c=64 load (wrk, the upstream, Redis and the target together); near 100% "
        "the load was bound by the machine's two cores.",
        "- Channels were added "
        + (
            "with `allow_private_network: true`."
            if run.private_network_field
            else "without `allow_private_network` (this gateway does not know the field yet)."
        ),
    ]
    if run.profile is not None:
        lines.append(f"- Profile of one gateway process at c=64: `{run.profile}`.")
    return "\n".join(lines) + "\n"
