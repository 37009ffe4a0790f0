"""What must hold once the hostile requests are over.

- no service logged a traceback, an unhandled error or a 5xx answer, and no
  log line is long enough to carry a client's long string whole;
- the gateway answers `/healthz` and a real chat completion at once (each
  bounded by `asyncio.wait_for`: a hang fails, slowness alone does not);
- both consumer groups of the usage stream reach lag 0 and pending 0 (waited
  for, bounded by `SETTLE_SECONDS`), and `tollgate reconcile`'s checks find
  nothing.

Each function returns problems as short lines (capped excerpts, never whole
client strings), so a test can report them all at once.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis

from services.cli.reconcile import reconcile
from shared.stream_consumer import GROUPS, USAGE_STREAM
from tests.hostile.stack import HostileStack
from tests.hostile.tally import Failure, printable
from tests.hostile.wire import exchange, request_bytes

SETTLE_SECONDS = 60.0
ANSWER_SECONDS = 5.0
LONG_LINE = 16 * 1024
EXCERPT = 240
LOG_PROBLEMS_SHOWN = 15


def _cap(text: str, limit: int = EXCERPT) -> str:
    text = printable(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _excerpt(line: str) -> str:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _cap(line.strip())
    if not isinstance(record, dict):
        return _cap(line.strip())
    parts = [str(record.get(k)) for k in ("logger", "msg") if record.get(k) is not None]
    for key in ("method", "path", "status", "reason"):
        if key in record:
            parts.append(f"{key}={_cap(str(record[key]), 80)}")
    exc = record.get("exc")
    if isinstance(exc, str):
        parts.append("exc: " + _gist(exc.splitlines()))
    return _cap(" ".join(parts), 400)


def _gist(traceback: list[str]) -> str:
    """A traceback's last frame and its exception line (not the caret lines)."""
    lines = [x.strip() for x in traceback if x.strip() and set(x.strip()) - set("^~ ")]
    where = [x for x in lines if x.startswith("File ")][-1:]
    said = [x for x in lines if not x.startswith("File ")][-1:]
    return " | ".join(where + said)


def _bad(line: str) -> str | None:
    """Why a log line is a problem, or None."""
    if len(line) > LONG_LINE:
        return f"a {len(line)}-character log line"
    if "Traceback" in line:
        return "traceback"
    if "nhandled" in line:
        return "unhandled error"
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if isinstance(record, dict):
        status = record.get("status")
        if isinstance(status, int) and status >= 500:
            return f"{status} answer"
    return None


def log_problems(logs: dict[str, Path]) -> list[str]:
    problems: list[str] = []
    for service, path in logs.items():
        lines = path.read_text(errors="replace").splitlines()
        for index, line in enumerate(lines):
            reason = _bad(line)
            if reason is None:
                continue
            if line.startswith("Traceback"):  # written raw to stderr, not as a JSON line
                block = [line]
                for following in lines[index + 1 :]:
                    block.append(following)
                    if not following.startswith((" ", "\t")):
                        break
                problems.append(f"{service}: raw traceback: {_cap(_gist(block), 400)}")
                continue
            problems.append(f"{service}: {reason}: {_excerpt(line)}")
    return problems


async def answers_at_once(stack: HostileStack, *, relay: bool) -> list[str]:
    """`/healthz`, then a chat completion (`relay`) or `GET /api/me`, each answered
    200 within ANSWER_SECONDS. (The `/api` suite may have deleted the channels
    on purpose, so it asks auth, through the gateway, instead of a provider.)"""
    problems = []
    host = f"{stack.host}:{stack.port}".encode()
    checks = {"GET /healthz": request_bytes(b"GET", b"/healthz", [], None, host=host)}
    if relay:
        checks["POST /v1/chat/completions"] = request_bytes(
            b"POST",
            b"/v1/chat/completions",
            [
                (b"Authorization", b"Bearer " + stack.api_key.encode()),
                (b"Content-Type", b"application/json"),
            ],
            orjson.dumps(
                {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": "still there?"}],
                    "max_tokens": 8,
                }
            ),
            host=host,
        )
    else:
        bearer = b"Bearer " + stack.admin_token.encode()
        checks["GET /api/me"] = request_bytes(
            b"GET", b"/api/me", [(b"Authorization", bearer)], None, host=host
        )
    for name, raw in checks.items():
        outcome = await exchange(stack.host, stack.port, raw, seconds=ANSWER_SECONDS)
        if outcome.status != 200 or outcome.kind != "answered":
            said = _cap(outcome.body.decode(errors="replace"), 200)
            problems.append(f"{name} afterwards: {outcome.label} within {ANSWER_SECONDS} s {said}")
    return problems


async def _groups(redis: aioredis.Redis) -> dict[str, str] | None:
    """Per group, what it still has to do ('' when caught up); None without a stream."""
    if not await redis.exists(USAGE_STREAM):
        return None
    stream: Any = await redis.xinfo_stream(USAGE_STREAM)
    last = stream["last-generated-id"]
    state = {name: "no consumer group" for name in GROUPS}
    for group in await redis.xinfo_groups(USAGE_STREAM):
        raw_name = group["name"]
        name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
        if name not in state:
            continue
        lag, pending = group.get("lag"), group["pending"]
        behind = lag != 0 if lag is not None else group["last-delivered-id"] != last
        state[name] = f"lag {lag}, pending {pending}" if behind or pending else ""
    return state


async def settled(stack: HostileStack) -> list[str]:
    """Wait until both groups have caught up and reconcile sees nothing in flight
    (an event recorded just after an answer may reach the stream a moment
    later); the problems then found."""
    deadline = time.monotonic() + SETTLE_SECONDS
    async with aioredis.from_url(stack.redis_url) as redis:
        while True:
            notes: list[str] = []
            state = await _groups(redis)
            behind = {name: what for name, what in (state or {}).items() if what}
            if not behind:
                violations, notes = await reconcile(stack.database_url, stack.redis_url)
                if not notes:
                    return [f"reconcile: {_cap(v, 400)}" for v in violations]
            if time.monotonic() > deadline:
                shown = [f"{name}: {what}" for name, what in behind.items()] or notes
                return [f"consumers not caught up after {SETTLE_SECONDS:.0f} s: {', '.join(shown)}"]
            await asyncio.sleep(0.25)


_WHERE = re.compile(r" method=\S+| path=.*?(?= status=| exc: |$)| status=\S+")


def as_failure(where: str, problem: str) -> Failure:
    """A problem as a failure whose outcome is its cause (the same traceback on
    many paths is one line of the report); the whole problem is its excerpt."""
    cause = _WHERE.sub("", problem)
    return Failure(route=where, caller="-", kind="afterwards", outcome=cause, excerpt=problem)


def summary(problems: list[str]) -> str:
    shown = problems[:LOG_PROBLEMS_SHOWN]
    more = len(problems) - len(shown)
    return "\n".join(
        [f"{len(problems)} problems afterwards:", *shown] + ([f"and {more} more"] if more else [])
    )
