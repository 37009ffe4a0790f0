"""Non-streaming load with wrk: the Lua script, the run, the parsed result.

wrk sends the same POST over keep-alive connections as fast as answers come
back. The Lua script sets the method, the body and the headers, and its
`done` hook prints one JSON line with exact figures (request count, elapsed
time, latency percentiles in microseconds, every kind of error), which is
what `parse` reads: no scraping of wrk's rounded human-readable table. A run
with any error (a non-2xx answer, a socket error, a timeout) is reported as
such, never silently averaged in.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.overhead.processes import ProcessFailed, output_of

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRK_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True, kw_only=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _long_string(text: str) -> str:
    """A Lua long-bracket string holding `text` as is."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def lua_script(body: bytes, headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {_long_string(body.decode())}"]
    lines += [
        f"wrk.headers[ {_long_string(name)} ] = {_long_string(value)}"
        for name, value in headers.items()
    ]
    return "\n".join(lines) + "\n" + _DONE


def parse(output: str) -> WrkResult:
    line = next((row for row in output.splitlines() if row.startswith("WRK_RESULT ")), None)
    if line is None:
        raise ProcessFailed(f"wrk printed no result:\n{output[-2000:]}")
    figures = json.loads(line.removeprefix("WRK_RESULT "))
    errors = sum(figures[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=errors,
    )


def binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise ProcessFailed("wrk is not installed (apt-get install wrk)")
    return found


async def run(url: str, script: Path, *, connections: int, duration: float) -> WrkResult:
    """One wrk run: 1 thread for one connection, 2 threads above that."""
    threads = 1 if connections == 1 else 2
    argv = [
        binary(),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration))}s",
        "--timeout=10s",
        "--latency",
        f"--script={script}",
        url,
    ]
    return parse(await output_of(argv, within=duration + 30))
