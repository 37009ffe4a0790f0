"""`--profile`: a py-spy recording of one gateway process under load.

py-spy is a tool of the bench, not of Tollgate: `bench/overhead/run
--profile` installs it into `.bench/tools-venv` (git-ignored) with
`pip install py-spy`. It samples the process from outside (ptrace), so the
profiled run is a separate pass after the measured rounds: its figures are
not reported. The output is a speedscope file under `.bench/`
(open it at speedscope.app or with `speedscope FILE`).
"""

from __future__ import annotations

from pathlib import Path

from bench.overhead.processes import ROOT, ProcessFailed, output_of

VENV = ROOT / ".bench" / "tools-venv"
RATE_HZ = 250


def binary() -> Path:
    path = VENV / "bin" / "py-spy"
    if not path.exists():
        raise ProcessFailed(f"py-spy is not installed in {VENV} (bench/overhead/run --profile)")
    return path


async def record(pid: int, seconds: float, output: Path) -> Path:
    """Sample `pid` for `seconds`; the speedscope file written."""
    argv = [str(binary()), "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    argv += ["--rate", str(RATE_HZ), "--format", "speedscope", "--output", str(output)]
    argv += ["--nonblocking"]
    await output_of(argv, within=seconds + 60)
    return output
