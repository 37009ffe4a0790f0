"""The account's time zone: `GET /api/me` shows it (null until chosen) and
`PATCH /api/me` sets an IANA name or clears it with null."""

from __future__ import annotations

from tests.accounts import sign_up
from tests.conftest import Stack


async def test_the_profile_has_no_time_zone_until_one_is_chosen(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    me = await (await stack.gateway.get("/api/me", headers=account.headers)).json()
    assert me["time_zone"] is None


async def test_a_time_zone_is_set_and_cleared(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    changed = await stack.gateway.patch(
        "/api/me", json={"time_zone": "Asia/Shanghai"}, headers=account.headers
    )
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["time_zone"] == "Asia/Shanghai"
    me = await (await stack.gateway.get("/api/me", headers=account.headers)).json()
    assert me["time_zone"] == "Asia/Shanghai"
    cleared = await stack.gateway.patch(
        "/api/me", json={"time_zone": None}, headers=account.headers
    )
    assert cleared.status == 200, await cleared.text()
    assert (await cleared.json())["time_zone"] is None


async def test_a_name_outside_the_iana_database_is_refused(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    await stack.gateway.patch(
        "/api/me", json={"time_zone": "Europe/Paris"}, headers=account.headers
    )
    for wrong in ("Mars/Olympus_Mons", "", "../../etc/passwd", "UTC+8", 8, "x" * 200):
        refused = await stack.gateway.patch(
            "/api/me", json={"time_zone": wrong}, headers=account.headers
        )
        assert refused.status == 422, wrong
        assert "time_zone" in str((await refused.json())["error"]), wrong
    me = await (await stack.gateway.get("/api/me", headers=account.headers)).json()
    assert me["time_zone"] == "Europe/Paris"


async def test_other_fields_leave_the_time_zone_alone(stack: Stack) -> None:
    account = await sign_up(stack.gateway)
    await stack.gateway.patch(
        "/api/me", json={"time_zone": "America/New_York"}, headers=account.headers
    )
    changed = await stack.gateway.patch(
        "/api/me", json={"display_name": "Ada"}, headers=account.headers
    )
    assert (await changed.json())["time_zone"] == "America/New_York"
