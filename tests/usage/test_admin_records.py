"""`GET /api/admin/usage?user_id=`: an account's records for an admin, exactly as
`GET /api/usage` answers them to the account; anyone else is refused."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.accounts import create_key, sign_up
from tests.billing.conftest import make_admin
from tests.conftest import Stack
from tests.usage.api import get_answer, get_json, record
from tests.usage.factory import series, usage_event

PATH = "/api/admin/usage"


async def test_an_admin_reads_the_accounts_own_records(stack: Stack, db: Any) -> None:
    admin, user = await make_admin(stack, db), await sign_up(stack.gateway)
    await record(stack, [*series(user.id, 5), usage_event(admin.id, "req_the_admins")])
    own = await get_json(stack.gateway, "/api/usage", user, limit="3")
    seen = await get_json(stack.gateway, PATH, admin, user_id=user.id, limit="3")
    assert seen == own  # the same fields, the same page, the same cursor
    assert [r["event_id"] for r in seen["data"]] == ["req_00004", "req_00003", "req_00002"]
    rest = await get_json(
        stack.gateway, PATH, admin, user_id=user.id, cursor=seen["next_cursor"], limit="3"
    )
    assert [r["event_id"] for r in rest["data"]] == ["req_00001", "req_00000"]
    assert rest["next_cursor"] is None
    filtered = await get_json(stack.gateway, PATH, admin, user_id=user.id, model="no-such-model")
    assert filtered == {"data": [], "next_cursor": None}


async def test_an_id_nobody_has_reads_no_records(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    body = await get_json(stack.gateway, PATH, admin, user_id=str(uuid.uuid4()))
    assert body == {"data": [], "next_cursor": None}


async def test_a_user_or_an_api_key_gets_403_and_no_login_401(stack: Stack, db: Any) -> None:
    user, other = await sign_up(stack.gateway), await sign_up(stack.gateway)
    await record(stack, series(other.id, 2))
    for whose in (other.id, user.id):
        body = await get_answer(stack.gateway, PATH, user, 403, {"user_id": whose})
        assert body["error"]["code"] == "forbidden"
    admin = await make_admin(stack, db)
    key = await create_key(stack.gateway, admin)
    with_key = await stack.gateway.get(
        PATH, params={"user_id": other.id}, headers={"x-api-key": key["key"]}
    )
    assert with_key.status == 403
    assert (await stack.gateway.get(PATH, params={"user_id": other.id})).status == 401


async def test_a_huge_query_is_refused_before_any_service(stack: Stack, db: Any) -> None:
    admin = await make_admin(stack, db)
    response = await stack.gateway.get(
        PATH, params={"user_id": "1" * 100_000}, headers=admin.headers
    )
    assert response.status == 400


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({}, ["user_id"]),
        ({"user_id": ""}, ["user_id"]),
        ({"user_id": "not-a-uuid"}, ["user_id"]),
        ({"user_id": "00000000-0000-4000-8000-00000000000\x00"}, ["user_id"]),
        ({"user_id": "1" * 5000}, ["user_id"]),
        ({"user_id": "\ud800"}, ["user_id"]),
        ({"user_id": "bad", "limit": "0", "cursor": "nope"}, ["user_id", "limit", "cursor"]),
    ],
)
async def test_a_bad_parameter_is_a_422_naming_each(
    stack: Stack, db: Any, query: dict[str, str], names: list[str]
) -> None:
    admin = await make_admin(stack, db)
    response = await stack.gateway.get(PATH, params=query, headers=admin.headers)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "validation_failed"
    assert sorted(line.split(":")[0] for line in error["details"]) == sorted(names)
    assert "1" * 50 not in error["message"]  # never echoed


async def test_user_id_given_twice_is_refused(stack: Stack, db: Any) -> None:
    admin, user = await make_admin(stack, db), await sign_up(stack.gateway)
    response = await stack.gateway.get(
        f"{PATH}?user_id={user.id}&user_id={admin.id}", headers=admin.headers
    )
    assert response.status == 422
    assert (await response.json())["error"]["details"] == ["user_id: given more than once"]


async def test_many_reads_at_once_agree(stack: Stack, db: Any) -> None:
    admin, user = await make_admin(stack, db), await sign_up(stack.gateway)
    await record(stack, series(user.id, 4))
    answers = await asyncio.gather(
        *(get_json(stack.gateway, PATH, admin, user_id=user.id) for _ in range(20))
    )
    assert all(
        [r["event_id"] for r in a["data"]] == [f"req_{n:05d}" for n in (3, 2, 1, 0)]
        for a in answers
    )
