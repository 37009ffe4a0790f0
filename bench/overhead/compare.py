"""The driver: one command runs the whole gateway-overhead comparison.

    bench/overhead/run [--duration S] [--warmup S] [--rounds N] [--profile]
                       [--log-level L] [--postgres DSN] [--output FILE]
                       [--redis-fsync always|everysec]

1. Start everything on free loopback ports: nginx (the mock upstream), a
   private Redis and a fresh database, Tollgate's four services (billing and
   usage without their consumers), a gateway alone and a pair sharing a
   port, the bare proxy and LiteLLM; seed through the public API; check
   every target answers like the mock (`targets.preflight`).
2. Setup (a), the gateway path: warm every target up, then `--rounds`
   rounds, each measuring every target in turn (`measure.measure`).
3. `--profile`: a py-spy recording of the lone gateway at c=64 (not
   reported as a figure).
4. Setup (b), the whole stack: billing and usage restarted with their
   consumers, the backlog drained, the lone gateway measured again, and
   the stream's lag read when the loads end.
5. The table goes to standard output and `--output`.

Everything started is stopped (and the database dropped, the temp folder
removed) by one exit stack, on success, error or Ctrl-C. Progress goes to
standard error; the processes' logs stay in `.bench/logs/<time>/`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.overhead import (
    litellm,
    machine,
    measure,
    memory,
    pyspy,
    report,
    seeding,
    stack,
    targets,
    upstream,
    wrk,
)
from bench.overhead.measure import Measured
from bench.overhead.processes import ROOT, Child, ProcessFailed, free_ports, http_probe, started
from bench.overhead.targets import Requests, Target
from shared import tasks

DRAIN_LIMIT_SECONDS = 300.0


@dataclass(frozen=True, kw_only=True)
class Scene:
    """Everything started for a run."""

    tollgate: stack.Tollgate
    redis_url: str
    seeded: seeding.Seeded
    targets: tuple[Target, ...]
    requests: dict[str, Requests]


def _say(message: str) -> None:
    print(f"bench | {message}", file=sys.stderr, flush=True)


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/overhead/run", description="Tollgate's gateway overhead, side by side."
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per target (3)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--log-level", default="INFO", help="Tollgate's LOG_LEVEL (INFO)")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432",
        help="the PostgreSQL server the bench database is created on",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "overhead" / "results.md")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the gateway at c=64 into .bench/"
    )
    parser.add_argument(
        "--redis-fsync",
        choices=("always", "everysec"),
        default="always",
        help="Redis appendfsync: always (production, deploy/docker-compose.yml) or everysec",
    )
    options = parser.parse_args(argv)
    if options.duration < 1 or options.warmup < 1 or options.rounds < 1:
        parser.error("--duration and --warmup are at least 1 s, --rounds at least 1")
    return options


async def _postgres_version(server: str) -> str:
    connection: Any = await asyncpg.connect(f"{server}/postgres")
    try:
        return str(await connection.fetchval("SHOW server_version")).split()[0]
    finally:
        await connection.close()


async def _start_tollgate(
    exits: AsyncExitStack, temp: Path, logs: Path, options: argparse.Namespace, ports: list[int]
) -> tuple[stack.Tollgate, str]:
    """Redis, the database and the four services (billing and usage without consumers)."""
    redis_port, auth, billing, usage, gateway, pair = ports
    database_url = await stack.database(exits, options.postgres)
    redis_url = await stack.redis_server(
        exits, temp / "redis", logs, redis_port, fsync=options.redis_fsync
    )
    tollgate = stack.Tollgate(
        exits,
        database_url=database_url,
        redis_url=redis_url,
        data_dir=temp / "tollgate",
        logs=logs,
        ports=stack.Ports(
            auth=auth, billing=billing, usage=usage, gateway=gateway, gateway_pair=pair
        ),
        log_level=options.log_level,
    )
    await tollgate.start(consumers=False)
    return tollgate, redis_url


async def _start_bare_proxy(
    exits: AsyncExitStack, logs: Path, mock: upstream.Upstream, port: int
) -> Child:
    child = Child(
        "bare-proxy",
        [sys.executable, "-m", "bench.overhead.bare_proxy", "--port", str(port)],
        env=stack.base_environment(),
        log=logs / "bare-proxy.log",
    )
    probe = http_probe(f"http://127.0.0.1:{port}/{mock.json_port}/", statuses=(404,))
    await started(exits, child, probe)
    return child


async def _start(
    exits: AsyncExitStack, temp: Path, logs: Path, options: argparse.Namespace
) -> Scene:
    _say("starting nginx, Redis, the database and Tollgate")
    # All at once, so no two processes are handed the same port.
    json_port, sse_port, bare_port, litellm_port, *tollgate_ports = free_ports(10)
    mock, nginx = await upstream.start(
        exits, temp / "nginx", logs, json_port=json_port, sse_port=sse_port
    )
    tollgate, redis_url = await _start_tollgate(exits, temp, logs, options, tollgate_ports)
    seeded = await seeding.seed(tollgate, mock)
    _say("starting the bare proxy and LiteLLM")
    bare = await _start_bare_proxy(exits, logs, mock, bare_port)
    lite = await litellm.start(
        exits, temp / "litellm", logs, mock, port=litellm_port, base_env=stack.base_environment()
    )
    line_up = targets.line_up(
        mock=mock,
        nginx=nginx,
        bare=bare,
        bare_port=bare_port,
        tollgate=tollgate,
        api_key=seeded.api_key,
        lite=lite,
    )
    requests = {target.key: targets.write_requests(target, temp / "requests") for target in line_up}
    for target in line_up:
        await targets.preflight(target)
    return Scene(
        tollgate=tollgate,
        redis_url=redis_url,
        seeded=seeded,
        targets=line_up,
        requests=requests,
    )


async def _rounds(
    scene: Scene, targets: Sequence[Target], options: argparse.Namespace
) -> dict[str, list[Measured]]:
    results: dict[str, list[Measured]] = {target.key: [] for target in targets}
    for number in range(1, options.rounds + 1):
        for target in targets:
            _say(f"round {number}/{options.rounds}: {target.label}")
            requests = scene.requests[target.key]
            results[target.key].append(await measure.measure(target, requests, options.duration))
    return results


async def _warm_up(scene: Scene, targets: Sequence[Target], options: argparse.Namespace) -> None:
    for target in targets:
        _say(f"warming up {target.label}")
        await measure.warm_up(target, scene.requests[target.key], options.warmup)


async def _profile(scene: Scene, options: argparse.Namespace, stamp: str) -> Path:
    target = next(t for t in scene.targets if t.key == "tollgate")
    output = ROOT / ".bench" / f"profile-gateway-{stamp}.speedscope.json"
    _say(f"profiling {target.label} at c=64 with py-spy")
    recording = tasks.spawn(pyspy.record(target.pids[0], options.duration, output), name="py-spy")
    try:
        await wrk.run(
            target.json_url,
            scene.requests[target.key].wrk_script,
            connections=measure.HIGH,
            duration=options.duration,
        )
    except BaseException:
        recording.cancel()  # stops py-spy too (see processes.output_of)
        raise
    return await recording


def _summaries(
    targets: Sequence[Target], results: dict[str, list[Measured]], idle: dict[str, dict[int, int]]
) -> list[report.Summary]:
    return [
        report.summarise(
            target.key, target.label, results[target.key], idle[target.key], len(idle[target.key])
        )
        for target in targets
    ]


def _temp_folder() -> Path:
    temp = Path(tempfile.mkdtemp(prefix="tollgate-bench-"))
    # nginx's worker drops to an unprivileged user when started as root:
    # it may pass through (not list) the folder to reach its answers.
    temp.chmod(0o711)
    return temp


async def run(options: argparse.Namespace) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    logs = ROOT / ".bench" / "logs" / stamp
    # SIGTERM stops the run as Ctrl-C does (asyncio.run cancels us on SIGINT).
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    async with AsyncExitStack() as exits:
        temp = _temp_folder()
        exits.callback(shutil.rmtree, temp, ignore_errors=True)  # last out: after every stop
        exits.push_async_callback(_stopping)
        scene = await _start(exits, temp, logs, options)
        host = await asyncio.to_thread(machine.describe, await _postgres_version(options.postgres))
        idle = {target.key: memory.snapshot(target.pids) for target in scene.targets}
        await _warm_up(scene, scene.targets, options)
        gateway_path = await _rounds(scene, scene.targets, options)
        after_gateway_path = await stack.stream_state(scene.redis_url)
        profile = await _profile(scene, options, stamp) if options.profile else None

        _say("setup (b): billing and usage with their consumers; draining the backlog")
        await scene.tollgate.restart_consumers(consumers=True)
        drained = await stack.wait_drained(scene.redis_url, limit=DRAIN_LIMIT_SECONDS)
        lone = [target for target in scene.targets if target.key == "tollgate"]
        whole_stack = await _rounds(scene, lone, options)
        after_whole_stack = await stack.stream_state(scene.redis_url)
        settled = await stack.wait_drained(scene.redis_url, limit=DRAIN_LIMIT_SECONDS)

        return report.render(
            report.Run(
                machine=host,
                started=f"{stamp} UTC",
                duration=options.duration,
                warmup=options.warmup,
                rounds=options.rounds,
                log_level=options.log_level,
                redis_fsync=options.redis_fsync,
                gateway_path=_summaries(scene.targets, gateway_path, idle),
                whole_stack=_summaries(lone, whole_stack, idle),
                stream_after_gateway_path=after_gateway_path,
                backlog_drained_seconds=drained,
                stream_after_whole_stack=after_whole_stack,
                settled_seconds=settled,
                private_network_field=scene.seeded.private_network_field,
                profile=profile,
            )
        )
    raise AssertionError("unreachable")  # the exit stack never swallows an exception


async def _stopping() -> None:
    _say("stopping everything the bench started")


def main(argv: Sequence[str] | None = None) -> int:
    options = _options(argv)
    began = time.monotonic()
    try:
        table = asyncio.run(run(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        _say("interrupted; everything the bench started was stopped")
        return 130
    except ProcessFailed as failure:
        _say(f"failed: {failure}")
        return 1
    options.output.write_text(table)
    sys.stdout.write(table)
    _say(f"done in {time.monotonic() - began:.0f} s; the table is in {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
