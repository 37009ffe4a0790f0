"""Failover with up to four mock providers on loopback (see `providers`).

The official OpenAI SDK plays the client where a test is about what a user sees.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest

from services.gateway.app_keys import CHANNEL_CACHE, CHANNEL_STORE
from tests.gateway.providers import CHAT, Providers, Routed, outage
from tests.relay import usage_results


def _sdk(routed: Routed) -> openai.AsyncOpenAI:
    base = str(routed.stack.gateway.make_url("/v1"))
    return openai.AsyncOpenAI(api_key=routed.key, base_url=base, max_retries=0)


async def test_a_failing_channel_is_skipped_and_the_sdk_client_succeeds(
    providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    routed = await providers(2, per=[{"priority": 10}, {"priority": 0}])
    await outage(routed.mocks[0], controls="status=503")
    async with _sdk(routed) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}]
        )
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Count"}], stream=True
        )
        pieces = [chunk async for chunk in stream]
    assert completion.choices[0].message.content
    assert pieces and pieces[-1].choices[0].finish_reason == "stop"
    assert (routed.calls(0), routed.calls(1)) == (2, 2)

    results = (await usage_results(caplog))[-2:]
    assert [r["channel_id"] for r in results] == [str(routed.channels[1].id)] * 2
    assert [(r["status"], r["attempts"]) for r in results] == [("ok", 2), ("ok", 2)]
    failed = [r for r in caplog.records if r.getMessage() == "upstream attempt failed"]
    assert [(r.channel_id, r.kind, r.attempt) for r in failed] == [  # type: ignore[attr-defined]
        (str(routed.channels[0].id), "server_error", 1)
    ] * 2


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ({"controls": "reset=0"}, "broken"),
        ({"controls": "status=500"}, "server_error"),
        ({"controls": "status=502"}, "server_error"),
        ({"controls": "status=429"}, "rate_limited"),
        ({"refuse_keys": True}, "auth_failed"),
    ],
)
async def test_each_failure_before_the_first_byte_fails_over(
    providers: Providers, caplog: pytest.LogCaptureFixture, fault: dict[str, Any], kind: str
) -> None:
    routed = await providers(2, per=[{"priority": 1}, {"priority": 0}])
    await outage(routed.mocks[0], **fault)
    status, body = await routed.chat()
    assert status == 200, body
    assert (await usage_results(caplog))[-1]["channel_id"] == str(routed.channels[1].id)
    (failed,) = [r for r in caplog.records if r.getMessage() == "upstream attempt failed"]
    assert failed.kind == kind  # type: ignore[attr-defined]


async def test_an_unreachable_channel_fails_over(
    providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    routed = await providers(2, per=[{"priority": 1}, {"priority": 0}])
    await routed.mocks[0].close()
    status, _ = await routed.chat()
    assert status == 200
    (failed,) = [r for r in caplog.records if r.getMessage() == "upstream attempt failed"]
    assert failed.kind == "connect_error"  # type: ignore[attr-defined]


async def test_a_stalled_upstream_times_out_and_fails_over(
    providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    routed = await providers(
        2, per=[{"priority": 1, "first_byte_timeout_ms": 300}, {"priority": 0}]
    )
    await outage(routed.mocks[0], controls="stall=0")
    started = time.perf_counter()
    status, body = await routed.chat(dict(CHAT, stream=False))
    elapsed = time.perf_counter() - started
    assert status == 200 and body["choices"][0]["message"]["content"]
    assert 0.3 <= elapsed < 5, "the channel's own first-byte timeout applied"
    (failed,) = [r for r in caplog.records if r.getMessage() == "upstream attempt failed"]
    assert failed.kind == "timeout"  # type: ignore[attr-defined]


async def test_a_request_the_upstream_refuses_is_not_retried(providers: Providers) -> None:
    routed = await providers(2)
    await outage(routed.mocks[0], controls="status=400")
    await outage(routed.mocks[1], controls="status=400")
    status, body = await routed.chat()
    assert status == 400 and "Injected failure" in body["error"]["message"]
    assert routed.calls(0) + routed.calls(1) == 1


async def test_the_attempt_budget_bounds_the_channels_tried(
    providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    routed = await providers(3)  # the stack allows 3 attempts; make 4 channels fail
    extra = await providers(1)
    for mock in routed.mocks + extra.mocks:
        await outage(mock, controls="status=503")
    status, body = await routed.chat()
    assert status == 502 and body["error"]["code"] == "upstream_503"
    assert sum(routed.calls(i) for i in range(3)) + extra.calls(0) == 3
    assert (await usage_results(caplog))[-1]["attempts"] == 3


async def test_429_cools_the_channel_down_for_its_retry_after(providers: Providers) -> None:
    routed = await providers(1)
    await outage(routed.mocks[0], controls="status=429")  # the mock sends Retry-After: 1
    status, _ = await routed.chat()
    assert status == 429
    await outage(routed.mocks[0])
    status, body = await routed.chat()
    assert status == 429 and "rate limited" in body["error"]["message"]
    assert routed.calls(0) == 1, "no request reaches a channel while it cools down"
    await asyncio.sleep(1.1)
    assert (await routed.chat())[0] == 200


async def test_weights_split_a_thousand_requests(providers: Providers) -> None:
    routed = await providers(2, per=[{"weight": 1}, {"weight": 3}])
    semaphore = asyncio.Semaphore(20)

    async def one() -> int:
        async with semaphore:
            status, _ = await routed.chat()
            return status

    statuses = await asyncio.gather(*(one() for _ in range(1000)))
    assert statuses.count(200) == 1000
    # Binomial(1000, 1/4): mean 250, standard deviation 13.7; the band is
    # five deviations wide on each side (false alarm odds below one in a million).
    assert 182 <= routed.calls(0) <= 318, routed.calls(0)
    assert routed.calls(0) + routed.calls(1) == 1000


async def test_priority_wins_over_weight(providers: Providers) -> None:
    routed = await providers(2, per=[{"priority": 1, "weight": 1}, {"weight": 100}])
    for _ in range(20):
        assert (await routed.chat())[0] == 200
    assert (routed.calls(0), routed.calls(1)) == (20, 0)


async def test_a_channels_idle_timeout_ends_a_stalled_stream(providers: Providers) -> None:
    routed = await providers(1, idle_timeout_ms=300)
    await outage(routed.mocks[0], controls="stall=2")
    started = time.perf_counter()
    response = await routed.stack.gateway.post(
        "/v1/chat/completions",
        json=dict(CHAT, stream=True),
        headers=routed.headers,
    )
    text = await response.text()
    assert response.status == 200
    assert "answer incomplete" in text
    assert time.perf_counter() - started < 2, "the channel's 300 ms, not the stack's 2 s"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_the_guard_holds_at_connect_time(
    providers: Providers, caplog: pytest.LogCaptureFixture, host: str
) -> None:
    """A channel saved before its name resolved inside (or written around the API)
    is refused when the relay connects, and the request fails over."""
    routed = await providers(2, per=[{"priority": 1}, {"priority": 0}])
    app = routed.stack.gateway.app
    assert app is not None
    port = routed.mocks[0].port
    await app[CHANNEL_STORE].update(
        routed.channels[0].id,
        {"base_url": f"http://{host}:{port}", "allow_private_network": False},
    )
    await app[CHANNEL_CACHE].reload()
    status, _ = await routed.chat()
    assert status == 200
    assert routed.calls(0) == 0, "nothing was sent inside"
    (failed,) = [r for r in caplog.records if r.getMessage() == "upstream attempt failed"]
    assert failed.kind == "address_refused"  # type: ignore[attr-defined]
