"""`PATCH /api/keys/{id}`: a key's name, models, expiry and admission policy.

Partial: a field left out is unchanged, `null` clears it. Every input is
checked (CIDR networks, a budget that is a decimal string of at least 0,
limits that are positive whole numbers), the change is one statement, the
gateway re-verifies the key at once, and the owner's security log says so.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.accounts import Account, create_key, sign_up
from tests.auth.test_key_verify_policy import _verify
from tests.conftest import Stack


async def _patch(stack: Stack, account: Account, key_id: str, body: Any) -> tuple[int, Any]:
    response = await stack.gateway.patch(f"/api/keys/{key_id}", json=body, headers=account.headers)
    return response.status, await response.json()


async def _listed(stack: Stack, account: Account, key_id: str) -> dict[str, Any]:
    listing = await stack.gateway.get("/api/keys", headers=account.headers)
    (found,) = [k for k in (await listing.json())["data"] if k["id"] == key_id]
    return dict(found)


async def test_a_patch_sets_the_policy_and_the_listing_and_verify_show_it(
    stack: Stack,
) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account, name="ci")
    expires = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    status, body = await _patch(
        stack,
        account,
        created["id"],
        {
            "name": " build ",
            "models": ["gpt-4o-mini"],
            "expires_at": expires,
            "ip_allowlist": ["10.1.2.3/8", "192.0.2.7", "2001:DB8::1/32", "10.0.0.0/8"],
            "budget": {"usd": "0.0100", "period": "month"},
            "limits": {"rpm": 10, "tpm": 20000, "concurrency": 2},
        },
    )
    assert status == 200, body
    assert body["name"] == "build" and body["models"] == ["gpt-4o-mini"]
    assert body["ip_allowlist"] == ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
    assert body["budget"] == {"usd": "0.01", "period": "month"}
    assert body["limits"] == {"rpm": 10, "tpm": 20000, "concurrency": 2, "models": {}}
    assert await _listed(stack, account, created["id"]) == body
    status, verified = await _verify(stack, created["key"])
    assert status == 200
    assert verified["ip_allowlist"] == body["ip_allowlist"]
    assert verified["budget"] == body["budget"]
    assert verified["limits"]["key"] == {"rpm": 10, "tpm": 20000, "concurrency": 2}
    assert verified["limits"]["models"] == {}
    assert verified["models"] == ["gpt-4o-mini"]


async def test_absent_fields_are_kept_and_null_clears(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    full = {
        "ip_allowlist": ["203.0.113.0/24"],
        "budget": {"usd": "5", "period": "total"},
        "limits": {"rpm": 3, "tpm": 4, "concurrency": 5},
    }
    assert (await _patch(stack, account, created["id"], full))[0] == 200
    status, body = await _patch(stack, account, created["id"], {"limits": {"tpm": None}})
    assert status == 200, body
    assert body["limits"] == {"rpm": 3, "tpm": None, "concurrency": 5, "models": {}}
    assert body["budget"] == {"usd": "5", "period": "total"}
    assert body["ip_allowlist"] == ["203.0.113.0/24"]
    status, body = await _patch(
        stack, account, created["id"], {"ip_allowlist": None, "budget": None, "limits": None}
    )
    assert status == 200, body
    assert body["ip_allowlist"] is None and body["budget"] is None
    assert body["limits"] == {"rpm": None, "tpm": None, "concurrency": None, "models": {}}
    assert body["name"] == "test"


async def test_a_zero_budget_is_allowed_and_a_negative_one_refused(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    zero = {"budget": {"usd": "0", "period": "day"}}
    status, body = await _patch(stack, account, created["id"], zero)
    assert status == 200 and body["budget"] == {"usd": "0", "period": "day"}
    refusals: list[tuple[Any, str]] = [
        ({"usd": "-0.01", "period": "day"}, "budget.usd"),
        ({"usd": 5, "period": "day"}, "budget.usd"),
        ({"usd": "NaN", "period": "day"}, "budget.usd"),
        ({"usd": "Infinity", "period": "day"}, "budget.usd"),
        ({"usd": "1e400", "period": "day"}, "budget.usd"),
        ({"usd": "0.0000000001", "period": "day"}, "budget.usd"),
        ({"usd": "1", "period": "week"}, "budget.period"),
        ({"usd": "1"}, "budget.period"),
        ({"usd": "1", "period": "day", "extra": 1}, "budget.extra"),
        ("5", "budget"),
    ]
    for budget, field in refusals:
        status, body = await _patch(stack, account, created["id"], {"budget": budget})
        assert status == 422, (budget, body)
        assert any(d.startswith(field) for d in body["error"]["details"]), (budget, body)
    assert (await _listed(stack, account, created["id"]))["budget"] == {
        "usd": "0",
        "period": "day",
    }


async def test_bad_networks_and_limits_are_422_and_change_nothing(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"ip_allowlist": ["10.0.0.0/33"]}, "ip_allowlist"),
        ({"ip_allowlist": ["not an ip"]}, "ip_allowlist"),
        ({"ip_allowlist": ["::1/129"]}, "ip_allowlist"),
        ({"ip_allowlist": ["fe80::1%eth0"]}, "ip_allowlist"),
        ({"ip_allowlist": ["10.0.0.0/8", ""]}, "ip_allowlist"),
        ({"ip_allowlist": ["10.0.0.0/8" + "0" * 100_000]}, "ip_allowlist"),
        ({"ip_allowlist": [f"10.0.{i}.0/24" for i in range(51)]}, "ip_allowlist"),
        ({"ip_allowlist": "10.0.0.0/8"}, "ip_allowlist"),
        ({"ip_allowlist": [10]}, "ip_allowlist"),
        ({"limits": {"rpm": 0}}, "limits.rpm"),
        ({"limits": {"rpm": -1}}, "limits.rpm"),
        ({"limits": {"tpm": 10**12}}, "limits.tpm"),
        ({"limits": {"concurrency": 1.5}}, "limits.concurrency"),
        ({"limits": {"concurrency": True}}, "limits.concurrency"),
        ({"limits": {"rpm": "10"}}, "limits.rpm"),
        ({"limits": {"burst": 1}}, "limits.burst"),
        ({"limits": [1]}, "limits"),
        ({"name": ""}, "name"),
        ({"name": "x" * 10_000}, "name"),
        ({"models": []}, "models"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"key_hash": "00"}, "key_hash"),
        ({"user_id": str(uuid.uuid4())}, "user_id"),
    ]
    for patch, field in refusals:
        status, body = await _patch(stack, account, created["id"], patch)
        assert status == 422, (patch, body)
        assert any(d.startswith(field) for d in body["error"]["details"]), (patch, body)
    listed = await _listed(stack, account, created["id"])
    assert listed["ip_allowlist"] is None and listed["name"] == "test"
    assert listed["limits"] == {"rpm": None, "tpm": None, "concurrency": None, "models": {}}


async def test_per_model_limits_are_set_replaced_shown_and_cleared(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    models = {
        "gpt-4o": {"rpm": 10, "tpm": None, "concurrency": 2},
        "fast": {"tpm": 5000},
        "gpt-4o-mini": {"rpm": None, "tpm": None, "concurrency": None},  # dropped
    }
    status, body = await _patch(stack, account, created["id"], {"limits": {"models": models}})
    assert status == 200, body
    assert body["limits"]["models"] == {
        "gpt-4o": {"rpm": 10, "concurrency": 2},
        "fast": {"tpm": 5000},
    }
    assert body["limits"]["rpm"] is None
    assert await _listed(stack, account, created["id"]) == body
    status, verified = await _verify(stack, created["key"])
    assert status == 200 and verified["limits"]["models"] == body["limits"]["models"]
    # The key's own limits leave the table alone; a new table replaces it whole.
    status, body = await _patch(stack, account, created["id"], {"limits": {"rpm": 7}})
    assert body["limits"]["rpm"] == 7 and "gpt-4o" in body["limits"]["models"]
    change = {"limits": {"models": {"gpt-4o": {"rpm": 1}}}}
    status, body = await _patch(stack, account, created["id"], change)
    assert status == 200 and body["limits"]["models"] == {"gpt-4o": {"rpm": 1}}
    rotated = await stack.gateway.post(f"/api/keys/{created['id']}/rotate", headers=account.headers)
    assert rotated.status == 201
    created = await rotated.json()  # the new key keeps the table
    assert created["limits"]["models"] == {"gpt-4o": {"rpm": 1}}
    status, body = await _patch(stack, account, created["id"], {"limits": {"models": None}})
    assert status == 200 and body["limits"]["models"] == {} and body["limits"]["rpm"] == 7
    await _patch(stack, account, created["id"], change)
    status, body = await _patch(stack, account, created["id"], {"limits": None})
    assert status == 200 and body["limits"]["models"] == {} and body["limits"]["rpm"] is None


async def test_bad_per_model_limits_are_422_and_change_nothing(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    kept = {"limits": {"models": {"gpt-4o": {"rpm": 3}}}}
    assert (await _patch(stack, account, created["id"], kept))[0] == 200
    refusals: list[tuple[Any, str]] = [
        ({"gpt-4o": {"rpm": 0}}, "limits.models.gpt-4o.rpm"),
        ({"gpt-4o": {"tpm": 10**12}}, "limits.models.gpt-4o.tpm"),
        ({"gpt-4o": {"concurrency": "2"}}, "limits.models.gpt-4o.concurrency"),
        ({"gpt-4o": {"rpm": True}}, "limits.models.gpt-4o.rpm"),
        ({"gpt-4o": {"burst": 1}}, "limits.models.gpt-4o.burst"),
        ({"gpt-4o": 5}, "limits.models.gpt-4o"),
        ({"": {"rpm": 1}}, "limits.models"),
        ({" ": {"rpm": 1}}, "limits.models"),
        ({"a\nb": {"rpm": 1}}, "limits.models"),
        ({"x" * 100_000: {"rpm": 1}}, "limits.models"),
        ({f"model-{i}": {"rpm": 1} for i in range(21)}, "limits.models"),
        (["gpt-4o"], "limits.models"),
        ("gpt-4o", "limits.models"),
    ]
    for models, field in refusals:
        status, body = await _patch(stack, account, created["id"], {"limits": {"models": models}})
        assert status == 422, (models, body)
        assert any(d.startswith(field) for d in body["error"]["details"]), (models, body)
        assert all(len(d) < 400 for d in body["error"]["details"]), body
    status, body = await _patch(
        stack, account, created["id"], {"limits": {"models": {"a\x00b": {"rpm": 1}}}}
    )
    assert status in (400, 422), body
    twenty = {f"model-{i}": {"rpm": i + 1} for i in range(20)}
    status, body = await _patch(stack, account, created["id"], {"limits": {"models": twenty}})
    assert status == 200 and len(body["limits"]["models"]) == 20
    await _patch(stack, account, created["id"], kept)
    assert (await _listed(stack, account, created["id"]))["limits"]["models"] == {
        "gpt-4o": {"rpm": 3}
    }


async def test_nul_bytes_and_wrong_bodies_are_refused(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    for patch in ({"name": "a\x00b"}, {"ip_allowlist": ["10.0.0.0/8\x00"]}):
        status, body = await _patch(stack, account, created["id"], patch)
        assert status == 422, body
    status, body = await _patch(stack, account, created["id"], ["name"])
    assert status == 400, body
    assert (await _listed(stack, account, created["id"]))["name"] == "test"


async def test_only_the_owner_may_patch_and_not_with_an_api_key(stack: Stack) -> None:
    owner = await sign_up(stack.gateway)
    other = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, owner)
    assert (await _patch(stack, other, created["id"], {"name": "mine"}))[0] == 404
    assert (await _patch(stack, owner, str(uuid.uuid4()), {"name": "x"}))[0] == 404
    assert (await _patch(stack, owner, "not-a-uuid", {"name": "x"}))[0] == 404
    with_key = await stack.gateway.patch(
        f"/api/keys/{created['id']}",
        json={"limits": None},
        headers={"Authorization": f"Bearer {created['key']}"},
    )
    assert with_key.status == 403
    revoked = await stack.gateway.delete(f"/api/keys/{created['id']}", headers=owner.headers)
    assert revoked.status == 204
    assert (await _patch(stack, owner, created["id"], {"name": "late"}))[0] == 404


async def test_the_change_is_in_the_security_log(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    change = {"limits": {"rpm": 1}, "ip_allowlist": ["::/0"]}
    assert (await _patch(stack, account, created["id"], change))[0] == 200
    log = await stack.gateway.get("/api/me/security-events", headers=account.headers)
    events = [e for e in (await log.json())["data"] if e["kind"] == "key_updated"]
    assert events[0]["detail"] == {"key_id": created["id"], "fields": ["ip_allowlist", "limits"]}


async def test_concurrent_patches_each_apply_whole(stack: Stack) -> None:
    """Twenty PATCHes at once, each setting all three limits to one value: the
    key ends with one PATCH's three values, never a mix."""
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    answers = await asyncio.gather(
        *(
            _patch(
                stack,
                account,
                created["id"],
                {"limits": dict.fromkeys(("rpm", "tpm", "concurrency"), n)},
            )
            for n in range(1, 21)
        )
    )
    assert all(status == 200 for status, _ in answers)
    limits = (await _listed(stack, account, created["id"]))["limits"]
    assert limits.pop("models") == {}
    assert len(set(limits.values())) == 1 and limits["rpm"] in range(1, 21)


async def test_a_patch_reaches_a_warm_gateway_within_a_second(stack: Stack) -> None:
    """The gateway cached the key's principal (for a minute in tests); the
    PATCH's notice drops it, so the new expiry applies to the next request."""
    account = await sign_up(stack.gateway)
    created = await create_key(stack.gateway, account)
    bearer = {"Authorization": f"Bearer {created['key']}"}
    assert (await stack.gateway.get("/api/me", headers=bearer)).status == 200  # cached now
    expired = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    assert (await _patch(stack, account, created["id"], {"expires_at": expired}))[0] == 200
    await asyncio.sleep(2.2)
    for _ in range(20):
        if (await stack.gateway.get("/api/me", headers=bearer)).status == 401:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the gateway kept the key's old expiry")
