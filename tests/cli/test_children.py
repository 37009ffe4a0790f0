"""Stopping `tollgate dev`'s children whatever state they are in, with real
processes: well-behaved, ignoring SIGTERM, frozen with SIGSTOP, gone while a
grandchild holds their output pipe, and a second Ctrl-C that kills at once.

No assertion is about time: each stop is bounded by a `wait_for` far above
the grace time, so a stop that hangs fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

from services.cli import children
from services.cli.children import Child

BOUND = 30.0  # a stop that takes longer than this is a hang

# Prints "ready" once its signal handling is in place, then sleeps.
_POLITE = "import signal, sys, time; print('ready', flush=True); time.sleep(120)"
_DEAF = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(120)"
)
# Exits at once, leaving a grandchild (in its group) that holds the output pipe.
_LEAVES_A_GRANDCHILD = (
    "import subprocess, sys; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "print('ready', flush=True)"
)


def _start(name: str, program: str) -> Child:
    child = children.start(
        name,
        [sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert child.process.stdout is not None
    assert child.process.stdout.readline() == b"ready\n"
    return child


def _close(*started: Child) -> None:
    for child in started:
        if child.running:
            child.signal_group(signal.SIGKILL)
            child.process.wait(10)
        assert child.process.stdout is not None
        child.process.stdout.close()


async def test_polite_children_stop_on_sigterm() -> None:
    started = [_start(f"polite-{n}", _POLITE) for n in range(3)]
    try:
        stuck = await asyncio.wait_for(children.stop(started, grace=BOUND), BOUND * 2)
        assert stuck == []
        assert [c.process.returncode for c in started] == [-signal.SIGTERM] * 3
    finally:
        _close(*started)


async def test_a_child_ignoring_sigterm_is_killed_after_the_grace_time() -> None:
    deaf, polite = _start("deaf", _DEAF), _start("polite", _POLITE)
    try:
        stuck = await asyncio.wait_for(children.stop([deaf, polite], grace=1.0), BOUND)
        assert stuck == []
        assert deaf.process.returncode == -signal.SIGKILL
        assert polite.process.returncode == -signal.SIGTERM
    finally:
        _close(deaf, polite)


async def test_a_frozen_child_is_woken_to_stop_and_a_frozen_deaf_one_killed() -> None:
    frozen, frozen_deaf = _start("frozen", _POLITE), _start("frozen-deaf", _DEAF)
    try:
        for child in (frozen, frozen_deaf):
            os.kill(child.process.pid, signal.SIGSTOP)
        stuck = await asyncio.wait_for(children.stop([frozen, frozen_deaf], grace=1.0), BOUND)
        assert stuck == []
        assert frozen.process.returncode == -signal.SIGTERM  # SIGCONT let it take SIGTERM
        assert frozen_deaf.process.returncode == -signal.SIGKILL
    finally:
        _close(frozen, frozen_deaf)


async def test_a_second_ctrl_c_kills_at_once() -> None:
    deaf = _start("deaf", _DEAF)
    kill_now = asyncio.Event()
    try:
        stopping = asyncio.ensure_future(children.stop([deaf], grace=3600, kill_now=kill_now))
        await asyncio.sleep(0.2)
        assert not stopping.done() and deaf.running  # waiting out its grace time
        kill_now.set()
        assert await asyncio.wait_for(stopping, BOUND) == []
        assert deaf.process.returncode == -signal.SIGKILL
    finally:
        _close(deaf)


async def test_a_child_that_exited_while_a_grandchild_holds_its_pipe_does_not_hang_the_stop() -> (
    None
):
    """The exit is seen from the exit status, not from the pipe's end (which a
    grandchild keeps open): `exited` returns; `stop` stops the grandchild too."""
    parent = _start("parent", _LEAVES_A_GRANDCHILD)
    try:
        assert await asyncio.wait_for(children.exited([parent]), BOUND)
        assert parent.process.returncode == 0
        assert await asyncio.wait_for(children.stop([parent], grace=BOUND), BOUND * 2) == []
        assert parent.process.stdout is not None
        rest = asyncio.to_thread(parent.process.stdout.read)
        assert await asyncio.wait_for(rest, BOUND) == b""  # the grandchild is gone
    finally:
        _close(parent)


async def test_first_exit_names_the_child_that_exited() -> None:
    polite = _start("polite", _POLITE)
    brief = _start("brief", "print('ready', flush=True)")
    try:
        gone = await asyncio.wait_for(children.first_exit([polite, brief]), BOUND)
        assert [c.name for c in gone] == ["brief"]
    finally:
        _close(polite, brief)
