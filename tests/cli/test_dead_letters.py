"""`tollgate admin dead-letters`, run as a real process against the test Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from shared import dead_letters
from shared.settings import Common
from shared.stream_consumer import EVENT_FIELD, USAGE_STREAM

ROOT = Path(__file__).resolve().parents[2]


def _run(common: Common, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "TOLLGATE_ENV": "production",
        "DATABASE_URL": common.database_url,
        "REDIS_URL": common.redis_url,
        "TOLLGATE_INTERNAL_TOKEN": common.internal_token,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "admin", "dead-letters", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _tollgate(common: Common, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_run, common, *args)


async def _set_aside(redis: aioredis.Redis, event_id: str, reason: str) -> str:
    return await dead_letters.set_aside(
        redis,
        stream=USAGE_STREAM,
        group="billing",
        entry_id="1-1",
        raw=b'{"v": 1}',
        event_id=event_id,
        reason=reason,
    )


async def test_list_resolve_and_list_all(common: Common, redis: aioredis.Redis) -> None:
    first = await _set_aside(redis, "req_a", "DataError: one")
    second = await _set_aside(redis, "req_b", "malformed: \x1b[2J")
    listed = await _tollgate(common, "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{first}  group=billing  event=req_a" in listed.stdout
    assert "reason=malformed: \\x{1b}[2J" in listed.stdout and "\x1b" not in listed.stdout
    assert "2 unresolved dead letter(s) of 2" in listed.stdout

    resolved = await _tollgate(common, "resolve", first, "--note", "settled by hand", "--by", "ops")
    assert resolved.returncode == 0 and f"resolved {first} (event req_a)" in resolved.stdout
    after = await _tollgate(common, "list")
    assert first not in after.stdout and second in after.stdout
    every = await _tollgate(common, "list", "--all")
    assert "resolved by ops at " in every.stdout and ": settled by hand" in every.stdout
    assert "1 unresolved dead letter(s) of 2" in every.stdout


async def test_retry_puts_the_event_back_on_the_stream(
    common: Common, redis: aioredis.Redis
) -> None:
    dead_id = await _set_aside(redis, "req_a", "DataError: one")
    retried = await _tollgate(common, "retry", dead_id, "--note", "after the fix")
    assert retried.returncode == 0, retried.stderr
    entries: Any = await redis.xrange(USAGE_STREAM)
    assert [fields for _, fields in entries] == [{EVENT_FIELD: b'{"v": 1}'}]
    assert await dead_letters.unresolved(redis) == []
    again = await _tollgate(common, "retry", dead_id)
    assert again.returncode == 1 and "resolved already" in again.stderr


async def test_unknown_or_malformed_ids_and_a_missing_note_are_refused(
    common: Common, redis: aioredis.Redis
) -> None:
    for dead_id in ("1-1", "not-an-id"):
        refused = await _tollgate(common, "retry", dead_id)
        assert refused.returncode == 1 and "no dead letter" in refused.stderr
        assert "Traceback" not in refused.stderr
    no_note = await _tollgate(common, "resolve", "1-1")
    assert no_note.returncode == 2 and "--note" in no_note.stderr
