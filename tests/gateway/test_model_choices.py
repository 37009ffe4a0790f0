"""`GET /api/models`: the catalog a signed-in person may limit a key to."""

from __future__ import annotations

from tests.accounts import Account, sign_up
from tests.gateway.providers import Providers


async def test_a_login_lists_every_served_model_and_alias_with_its_family(
    providers: Providers, admin: Account
) -> None:
    routed = await providers(
        2,
        per=[
            {"kind": "openai", "models": ["gpt-4o-mini", "gpt-4o"]},
            {"kind": "anthropic", "models": ["claude-sonnet-4-5"]},
        ],
    )
    stack = routed.stack
    put = await stack.gateway.put(
        "/api/admin/model-aliases/fast", json={"model": "gpt-4o-mini"}, headers=admin.headers
    )
    assert put.status == 201
    person = await sign_up(stack.gateway)
    response = await stack.gateway.get("/api/models", headers=person.headers)
    assert response.status == 200, await response.text()
    assert (await response.json())["data"] == [
        {"id": "fast", "family": "openai"},
        {"id": "gpt-4o", "family": "openai"},
        {"id": "gpt-4o-mini", "family": "openai"},
        {"id": "claude-sonnet-4-5", "family": "anthropic"},
    ]


async def test_a_disabled_channel_s_models_are_not_offered(providers: Providers) -> None:
    routed = await providers(1, enabled=False)
    person = await sign_up(routed.stack.gateway)
    response = await routed.stack.gateway.get("/api/models", headers=person.headers)
    assert (await response.json()) == {"data": []}


async def test_a_stranger_or_an_api_key_cannot_list_the_catalog(providers: Providers) -> None:
    routed = await providers(1)
    gateway = routed.stack.gateway
    assert (await gateway.get("/api/models")).status == 401
    refused = await gateway.get("/api/models", headers=routed.headers)
    assert refused.status == 403
    assert "GET /v1/models" in (await refused.json())["error"]["message"]
