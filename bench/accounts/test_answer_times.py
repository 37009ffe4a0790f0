"""Benchmark: do answers that must not reveal an account take the same time?

Sign-up with a fresh and with a taken email (the password is hashed either
way; a taken email queues a mail to its owner instead of creating an
account), and a password reset for a known and an unknown email (answered
before any lookup). Each pair is measured interleaved, each first in turn,
through a real gateway, auth, PostgreSQL, Redis and SMTP sink, and the
medians are printed for BENCHMARKS.md. It asserts only that every answer is
the same; how close the times are is read off the printout, not asserted
(timed assertions flake on shared machines).

    .venv/bin/python -m pytest -p tests.conftest -p tests.auth.conftest \
        bench/accounts -s -q [--rounds N via ACCOUNT_BENCH_ROUNDS]
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from tests.accounts import PASSWORD, sign_up
from tests.auth.mailed import mailed_stack
from tests.conftest import AiohttpClient, AiohttpServer, Stack

ROUNDS = int(os.environ.get("ACCOUNT_BENCH_ROUNDS", "40"))
_VARYING = {"date", "x-request-id", "content-length"}


def _report(what: str, first: tuple[str, list[float]], second: tuple[str, list[float]]) -> None:
    (a_name, a), (b_name, b) = first, second
    a_med, b_med = statistics.median(a) * 1000, statistics.median(b) * 1000
    print(
        f"\n{what}, medians of {len(a)} each: {a_name} {a_med:.2f} ms, "
        f"{b_name} {b_med:.2f} ms (difference {b_med - a_med:+.2f} ms)"
    )


async def _timed(client: Any, path: str, body: dict[str, str], ip: str) -> tuple[Any, float]:
    started = time.perf_counter()
    response = await client.post(path, json=body, headers={"X-Forwarded-For": ip})
    await response.read()
    return response, time.perf_counter() - started


async def test_sign_up_fresh_and_taken_email(
    stack: Stack, aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    mailed = await mailed_stack(
        stack, aiohttp_server, aiohttp_client, signups_per_ip=100000, signups_per_network=100000
    )
    owner = await sign_up(mailed.gateway, "bench_owner")
    fresh: list[float] = []
    taken: list[float] = []
    for n in range(ROUNDS):
        pair = [(f"bench_{n}@example.com", fresh), (owner.email, taken)]
        for email, times in pair if n % 2 else pair[::-1]:
            body = {
                "email": email,
                "username": f"bench_{len(times)}_{id(times)}",
                "password": PASSWORD,
            }
            response, elapsed = await _timed(mailed.gateway, "/api/auth/signup", body, "10.9.0.1")
            assert response.status == 201, await response.text()
            times.append(elapsed)
    _report("sign-up", ("fresh email", fresh), ("taken email", taken))


async def test_password_reset_known_and_unknown_email(stack: Stack, forwarded: Any) -> None:
    account = await sign_up(stack.gateway)
    known: list[float] = []
    unknown: list[float] = []
    answers = set()
    for n in range(ROUNDS):
        pair = [(account.email, known), (f"nobody{n}@example.com", unknown)]
        for email, times in pair if n % 2 else pair[::-1]:
            ip = f"10.{n // 200}.{n % 200}.{len(times) % 2 + 1}"  # under the per-source limit
            response, elapsed = await _timed(
                forwarded, "/api/auth/password-reset", {"email": email}, ip
            )
            headers = {
                k.lower(): v for k, v in response.headers.items() if k.lower() not in _VARYING
            }
            answers.add((response.status, await response.read(), tuple(sorted(headers.items()))))
            times.append(elapsed)
    assert len(answers) == 1, answers
    _report("password reset", ("known email", known), ("unknown email", unknown))
