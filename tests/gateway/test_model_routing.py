"""Model aliases and per-channel model names: what the client asks for, what the
upstream is sent, what is priced, and the alias admin API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.accounts import Account, create_key, sign_up
from tests.conftest import Stack
from tests.gateway.providers import CHAT, Providers
from tests.relay import credit, usage_results

ALIASES = "/api/admin/model-aliases"


async def _put(stack: Stack, admin: Account, alias: str, model: str) -> tuple[int, Any]:
    response = await stack.gateway.put(
        f"{ALIASES}/{alias}", json={"model": model}, headers=admin.headers
    )
    return response.status, await response.json()


async def test_an_alias_routes_prices_and_records_the_model_it_stands_for(
    providers: Providers, admin: Account, caplog: pytest.LogCaptureFixture
) -> None:
    routed = await providers(1)
    stack = routed.stack
    assert await _put(stack, admin, "fast", "gpt-4o-mini") == (
        201,
        {"alias": "fast", "model": "gpt-4o-mini"},
    )
    status, body = await routed.chat(dict(CHAT, model="fast"))
    assert status == 200, body
    assert body["model"] == "gpt-4o-mini", "the upstream was sent the model, not the alias"
    result = (await usage_results(caplog))[-1]
    assert (result["requested_model"], result["upstream_model"]) == ("gpt-4o-mini", "gpt-4o-mini")
    assert float(result["hold_amount"]) > 0, "priced as the model it stands for"

    models = await stack.gateway.get("/v1/models", headers=routed.headers)
    assert {m["id"] for m in (await models.json())["data"]} == {"fast", "gpt-4o-mini"}

    assert await _put(stack, admin, "fast", "gpt-4o") == (200, {"alias": "fast", "model": "gpt-4o"})
    status, _ = await routed.chat(dict(CHAT, model="fast"))
    assert status == 404, "no channel serves gpt-4o"

    listed = await stack.gateway.get(ALIASES, headers=admin.headers)
    assert (await listed.json()) == {"data": [{"alias": "fast", "model": "gpt-4o"}]}
    deleted = await stack.gateway.delete(f"{ALIASES}/fast", headers=admin.headers)
    assert deleted.status == 204
    assert (await stack.gateway.delete(f"{ALIASES}/fast", headers=admin.headers)).status == 404


async def test_a_key_limited_to_a_model_may_use_its_alias(
    providers: Providers, admin: Account
) -> None:
    routed = await providers(1)
    stack = routed.stack
    await _put(stack, admin, "fast", "gpt-4o-mini")
    user = await sign_up(stack.gateway)
    await credit(stack, user.id, Decimal(1))
    for allowed, status in ((["gpt-4o-mini"], 200), (["fast"], 200), (["gpt-4o"], 403)):
        key = await create_key(stack.gateway, user, models=allowed)
        response = await stack.gateway.post(
            "/v1/chat/completions",
            json=dict(CHAT, model="fast"),
            headers={"Authorization": f"Bearer {key['key']}"},
        )
        assert response.status == status, (allowed, await response.text())


async def test_alias_rules(stack: Stack, admin: Account) -> None:
    assert (await _put(stack, admin, "fast", "gpt-4o-mini"))[0] == 201
    status, body = await _put(stack, admin, "quick", "fast")
    assert status == 422
    assert body["error"]["details"] == [
        "model: fast is itself an alias; name the model it stands for"
    ]
    status, body = await _put(stack, admin, "gpt-4o-mini", "gpt-4o")
    assert body["error"]["details"] == ["alias: gpt-4o-mini is the model of another alias"]
    status, body = await _put(stack, admin, "same", "same")
    assert body["error"]["details"] == ["model: an alias cannot name itself"]
    user = await sign_up(stack.gateway)
    refused = await stack.gateway.get(ALIASES, headers=user.headers)
    assert refused.status == 403


async def test_a_channel_sends_its_own_name_for_a_model(
    providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    routed = await providers(1, model_map={"gpt-4o-mini": "gpt-4o"})
    status, body = await routed.chat()
    assert status == 200 and body["model"] == "gpt-4o"
    result = (await usage_results(caplog))[-1]
    assert (result["requested_model"], result["upstream_model"]) == ("gpt-4o-mini", "gpt-4o")


async def test_a_gemini_channel_maps_the_model_in_the_path(
    providers: Providers, caplog: pytest.LogCaptureFixture
) -> None:
    routed = await providers(
        1,
        kind="gemini",
        models=["gemini-2.5-flash"],
        model_map={"gemini-2.5-flash": "gemini-2.5-pro"},
    )
    response = await routed.stack.gateway.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]},
        headers={"x-goog-api-key": routed.key},
    )
    body = await response.json()
    assert response.status == 200, body
    assert body["modelVersion"] == "gemini-2.5-pro"
    assert (await usage_results(caplog))[-1]["upstream_model"] == "gemini-2.5-pro"
