"""The machine and the software a run measured on, for the results' header.

Read once, before the loads: CPU count and model, kernel, the project's
Python, and the versions of nginx, wrk, LiteLLM, redis-server and the
PostgreSQL server. A tool that cannot be asked says `unknown`, never fails
the run.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.overhead import upstream
from bench.overhead.litellm import VENV as LITELLM_VENV
from bench.overhead.processes import ProcessFailed


@dataclass(frozen=True, kw_only=True)
class Machine:
    cpus: int
    cpu_model: str
    kernel: str
    python: str
    nginx: str
    wrk: str
    litellm: str
    redis: str
    postgres: str


def _output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout + done.stderr


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def _first_match(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    return match.group(1) if match else "unknown"


def _nginx() -> str:
    try:
        return upstream.binary()
    except ProcessFailed:
        return "nginx"


def describe(postgres: str) -> Machine:
    litellm = _output(
        [
            str(LITELLM_VENV / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ]
    ).strip()
    return Machine(
        cpus=len(os.sched_getaffinity(0)),
        cpu_model=_cpu_model(),
        kernel=f"{platform.system()} {platform.release()}",
        python=sys.version.split()[0],
        nginx=_first_match(r"nginx/(\S+)", _output([_nginx(), "-v"])),
        wrk=_first_match(r"wrk (\S+)", _output(["wrk", "-v"])),
        litellm=litellm.splitlines()[-1] if litellm else "unknown",
        redis=_first_match(r"v=(\S+)", _output(["redis-server", "--version"])),
        postgres=postgres,
    )
