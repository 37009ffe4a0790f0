"""Background tasks: a stopped loop gets its grace time to end, never more."""

from __future__ import annotations

import asyncio

import pytest

from shared.tasks import finish_within, spawn


async def test_a_task_that_ends_within_the_grace_ends_by_itself() -> None:
    stop = asyncio.Event()

    async def loop() -> str:
        await stop.wait()
        await asyncio.sleep(0.01)  # its last piece of work
        return "done"

    task = spawn(loop(), name="ends")
    stop.set()
    await finish_within(task, 5.0)
    assert task.result() == "done"


async def test_a_task_still_running_after_the_grace_is_cancelled() -> None:
    task = spawn(asyncio.sleep(3600), name="hangs")
    await finish_within(task, 0.05)
    assert task.cancelled()


async def test_a_failure_its_caller_awaits_is_not_logged_as_a_background_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails() -> None:
        raise ValueError("the upstream refused")

    awaited = spawn(fails(), name="awaited", awaited=True)
    with pytest.raises(ValueError):
        await awaited
    unattended = spawn(fails(), name="unattended")
    await asyncio.gather(unattended, return_exceptions=True)
    failures = [r for r in caplog.records if r.getMessage() == "background task failed"]
    assert [r.__dict__.get("task") for r in failures] == ["unattended"]
