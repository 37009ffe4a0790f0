"""Admission control's console pages through a real gateway, auth and billing
(issue 19, point 7): a key's settings (limits, budget, allowlist, models,
shown on its card and saved through `PATCH /api/keys/{id}`, refusals next to
their field); the admin's groups (add, edit, delete refused while members
remain) and users (search, move to a group, suspend and lift after asking,
credit after asking, once for a form sent twice)."""

from __future__ import annotations

import html
import re
import secrets
import uuid
from typing import Any

import aiohttp

from services.console.field_problems import sort_problems
from tests.accounts import PASSWORD, create_key, sign_up
from tests.console.conftest import ConsoleStack

_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
_IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')


async def _sign_in(
    base: ConsoleStack, browser: aiohttp.ClientSession, db: Any, *, admin: bool = False
) -> tuple[str, str]:
    """A new account (an admin or not) signed in on `browser`: (its id, the CSRF token)."""
    account = await sign_up(base.stack.gateway)
    if admin:
        await db.execute(
            "UPDATE auth.users SET role = 'admin' WHERE id = $1", uuid.UUID(account.id)
        )
    login = {"login": account.username, "password": PASSWORD}
    async with browser.post("/login", data=login, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    async with browser.get("/keys") as response:
        tokens: set[str] = set(_CSRF_INPUT.findall(await response.text()))
    (token,) = tokens
    return account.id, token


async def _page(browser: aiohttp.ClientSession, path: str, status: int = 200) -> str:
    async with browser.get(path, allow_redirects=False) as response:
        text = await response.text()
        assert response.status == status, (path, response.status, text[:2000])
        return html.unescape(text)


async def _post(
    browser: aiohttp.ClientSession, path: str, data: dict[str, Any]
) -> tuple[int, str, str]:
    """(status, Location, page) of a form POST, not following the redirect."""
    async with browser.post(path, data=data, allow_redirects=False) as response:
        return (
            response.status,
            response.headers.get("Location", ""),
            html.unescape(await response.text()),
        )


def _key_form(csrf: str, **changes: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "name": "ci",
        "rpm": "",
        "tpm": "",
        "concurrency": "",
        "budget_usd": "",
        "budget_period": "day",
        "ip_allowlist": "",
        "expires": "",
        **changes,
    }


def test_problems_go_to_their_fields() -> None:
    found = sort_problems(
        [
            "ip_allowlist: item 1 ('x') is not a CIDR network",
            "limits.rpm: must be an integer",
            "budget.usd: not a decimal number",
            "budget.colour: unknown field",
            "something else",
        ],
        {"ip_allowlist": "ip_allowlist", "limits.rpm": "rpm", "budget.usd": "usd", "budget": "usd"},
    )
    assert found.by_field == {
        "ip_allowlist": ["item 1 ('x') is not a CIDR network"],
        "rpm": ["must be an integer"],
        "usd": ["not a decimal number", "unknown field"],
    }
    assert found.rest == ["something else"]


async def test_a_person_sets_a_keys_limits_budget_and_allowlist(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    _, csrf = await _sign_in(console_stack, browser, db)
    async with browser.post(
        "/api/keys", json={"name": "ci"}, headers={"X-CSRF-Token": csrf}
    ) as response:
        assert response.status == 201, await response.text()
        key_id = (await response.json())["id"]

    cards = await _page(browser, "/keys")
    assert "Any address" in cards and f'href="/keys/{key_id}/edit"' in cards
    form = await _page(browser, f"/keys/{key_id}/edit")
    assert 'name="ip_allowlist"' in form and 'name="budget_usd"' in form

    saved = _key_form(
        csrf,
        rpm="60",
        tpm="20000",
        concurrency="4",
        budget_usd="5.00",
        budget_period="month",
        ip_allowlist="203.0.113.0/24\r\n\r\n2001:db8::/32\r\n",
    )
    status, location, _ = await _post(browser, f"/keys/{key_id}/edit", saved)
    assert (status, location) == (303, f"/keys?saved=1#key-{key_id}")
    cards = await _page(browser, "/keys?saved=1")
    for shown in (
        "The key’s settings are saved.",
        "60 requests a minute",
        "20000 tokens a minute",
        "4 requests at once",
        "5.00 USD a month",
        "0.00 USD spent, 5.00 USD left this period",  # from the usage service
        "<code>203.0.113.0/24</code>",
        "<code>2001:db8::/32</code>",
    ):
        assert shown in cards, shown
    form = await _page(browser, f"/keys/{key_id}/edit")
    assert 'value="60"' in form and 'value="5.00"' in form
    assert ">203.0.113.0/24\n2001:db8::/32</textarea>" in form
    assert '<option value="month" selected>' in form

    # A network that is not one: the page says so next to the allowlist, nothing changes.
    status, _, page = await _post(
        browser,
        f"/keys/{key_id}/edit",
        _key_form(csrf, ip_allowlist="10.0.0.0/8\n300.1.2.3/8", rpm="sixty"),
    )
    assert status == 422
    assert re.search(
        r'<textarea id="key-allowlist"[^>]*'
        r'aria-describedby="key-allowlist-hint key-allowlist-problem" aria-invalid="true"',
        page,
    ), page
    assert re.search(r'id="key-allowlist-problem">“300\.1\.2\.3/8” is not a CIDR network', page), (
        page[page.find("key-allowlist-hint") : page.find("key-allowlist-hint") + 600]
    )
    assert re.search(r'id="key-rpm-problem">[a-z]', page), page
    assert "10.0.0.0/8\n300.1.2.3/8</textarea>" in page  # as typed, to correct
    assert "60 requests a minute" in await _page(browser, "/keys")

    # Emptied fields lift every restriction.
    status, _, _ = await _post(browser, f"/keys/{key_id}/edit", _key_form(csrf))
    assert status == 303
    cards = await _page(browser, "/keys")
    assert "Any address" in cards and "requests a minute" not in cards

    # Without the CSRF token nothing is saved; another person's key is no page.
    status, _, _ = await _post(browser, f"/keys/{key_id}/edit", _key_form("", rpm="1"))
    assert status == 403
    async with aiohttp.ClientSession(
        base_url=console_stack.url,
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        headers={"Origin": console_stack.url},
    ) as other:
        await _sign_in(console_stack, other, db)
        await _page(other, f"/keys/{key_id}/edit", status=404)


async def test_an_admin_adds_edits_and_deletes_a_group(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    _, csrf = await _sign_in(console_stack, browser, db, admin=True)
    name = f"pro-{secrets.token_hex(3)}"
    listed = await _page(browser, "/admin/groups")
    assert ">default</a>" in listed
    group = {
        "csrf_token": csrf,
        "name": name,
        "price_multiplier": "1.5",
        "rpm": "100",
        "tpm": "",
        "concurrency": "",
        "note": "sold as Pro",
    }
    status, location, page = await _post(browser, "/admin/groups", group)
    assert status == 303, page
    listed = await _page(browser, location)
    assert f"The group {name} is added." in listed and "× 1.5" in listed

    # The same name again replaces nothing.
    status, _, page = await _post(browser, "/admin/groups", {**group, "price_multiplier": "3"})
    assert status == 409 and f"There is already a group named {name}" in page
    # A bad multiplier is named next to its field.
    status, _, page = await _post(
        browser, f"/admin/groups/{name}", {**group, "price_multiplier": "0"}
    )
    assert status == 422
    assert 'id="group-multiplier-problem">a decimal string' in page, page
    status, _, _ = await _post(browser, f"/admin/groups/{name}", {**group, "price_multiplier": "2"})
    assert status == 303
    assert "× 2" in await _page(browser, "/admin/groups")

    # A member keeps it: deleting is refused with the API's reason.
    member = await sign_up(console_stack.stack.gateway)
    await db.execute(
        "UPDATE auth.users SET group_name = $1 WHERE id = $2", name, uuid.UUID(member.id)
    )
    asked = await _page(browser, f"/admin/groups/{name}/delete")
    assert f"Delete the group {name}?" in asked
    status, _, page = await _post(browser, f"/admin/groups/{name}/delete", {"csrf_token": csrf})
    assert status == 409 and 'class="problem"' in page
    await db.execute(
        "UPDATE auth.users SET group_name = 'default' WHERE id = $1", uuid.UUID(member.id)
    )
    status, location, _ = await _post(browser, f"/admin/groups/{name}/delete", {"csrf_token": csrf})
    assert status == 303
    assert f"The group {name} is deleted." in await _page(browser, location)
    await _page(browser, f"/admin/groups/{name}", status=404)


async def test_an_admin_finds_moves_suspends_lifts_and_credits_a_user(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    _, csrf = await _sign_in(console_stack, browser, db, admin=True)
    person = await sign_up(console_stack.stack.gateway)
    key = await create_key(console_stack.stack.gateway, person)
    found = await _page(browser, f"/admin/users?q={person.email}")
    assert f'href="/admin/users/{person.id}"' in found
    assert person.id in await _page(browser, f"/admin/users?q={person.id}")
    assert "No account matches" in await _page(
        browser, "/admin/users?q=nobody-" + secrets.token_hex(4)
    )

    name = f"team-{secrets.token_hex(3)}"
    status, _, _ = await _post(
        browser,
        "/admin/groups",
        {
            "csrf_token": csrf,
            "name": name,
            "price_multiplier": "1.5",
            "rpm": "",
            "tpm": "",
            "concurrency": "",
            "note": "",
        },
    )
    assert status == 303
    status, location, _ = await _post(
        browser, f"/admin/users/{person.id}/group", {"csrf_token": csrf, "group": name}
    )
    assert status == 303
    assert f"The account is now in the group {name}." in await _page(browser, location)

    # Suspending asks first, with the reason; the key is refused until it is lifted.
    status, _, page = await _post(
        browser, f"/admin/users/{person.id}/suspend", {"csrf_token": csrf, "reason": ""}
    )
    assert status == 422, page
    await _page(browser, f"/admin/users/{person.id}/suspend?reason=", status=422)
    asked = await _page(browser, f"/admin/users/{person.id}/suspend?reason=card+fraud")
    assert f"Suspend {person.username}?" in asked and "Reason: card fraud" in asked
    status, location, _ = await _post(
        browser, f"/admin/users/{person.id}/suspend", {"csrf_token": csrf, "reason": "card fraud"}
    )
    assert status == 303
    shown = await _page(browser, location)
    assert "The account is suspended" in shown and "card fraud" in shown
    async with aiohttp.ClientSession() as client:
        async with client.get(
            f"{console_stack.url}/v1/models", headers={"Authorization": f"Bearer {key['key']}"}
        ) as answer:
            assert answer.status == 403
    status, location, _ = await _post(
        browser, f"/admin/users/{person.id}/lift", {"csrf_token": csrf}
    )
    assert status == 303
    assert "The suspension is lifted" in await _page(browser, location)

    # A credit asks first; its confirmation sent twice credits once.
    asked = await _page(
        browser, f"/admin/users/{person.id}/credit?amount=2.50&credit_reason=goodwill"
    )
    (idempotency,) = _IDEMPOTENCY.findall(asked)
    credit = {
        "csrf_token": csrf,
        "amount": "2.50",
        "credit_reason": "goodwill",
        "idempotency_key": idempotency,
    }
    for _ in range(2):
        status, location, page = await _post(browser, f"/admin/users/{person.id}/credit", credit)
        assert status == 303, page
    assert "The balance is now 2.50" in await _page(browser, location)
    status, _, page = await _post(
        browser,
        f"/admin/users/{person.id}/credit",
        {**credit, "amount": "-1", "idempotency_key": "x1"},
    )
    assert status == 422 and 'id="credit-amount-problem">' in page, page


async def test_a_person_who_is_not_an_admin_finds_no_admission_page(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    user_id, _ = await _sign_in(console_stack, browser, db)
    for path in (
        "/admin/users",
        f"/admin/users/{user_id}",
        "/admin/groups",
        "/admin/groups/default",
    ):
        await _page(browser, path, status=404)


async def test_a_person_resumes_a_key_the_spend_check_suspended(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    _, csrf = await _sign_in(console_stack, browser, db)
    async with browser.post(
        "/api/keys", json={"name": "ci"}, headers={"X-CSRF-Token": csrf}
    ) as response:
        key_id = (await response.json())["id"]
    await db.execute(
        "UPDATE auth.api_keys SET suspended_at = now(), suspended_reason = $2 WHERE id = $1",
        uuid.UUID(key_id),
        "spent 40.00 USD in an hour",
    )
    cards = await _page(browser, "/keys")
    assert "Suspended after unusual spending" in cards and "spent 40.00 USD in an hour" in cards
    status, _, _ = await _post(browser, f"/keys/{key_id}/resume", {"csrf_token": ""})
    assert status == 403
    status, location, _ = await _post(browser, f"/keys/{key_id}/resume", {"csrf_token": csrf})
    assert (status, location) == (303, f"/keys?resumed=1#key-{key_id}")
    cards = await _page(browser, "/keys?resumed=1")
    assert "The key works again." in cards and "Suspended after unusual spending" not in cards


async def test_hostile_input_gets_a_page_that_says_what_is_wrong(
    console_stack: ConsoleStack, browser: aiohttp.ClientSession, db: Any
) -> None:
    """NUL bytes, huge strings and unknown choices: a refusal page, never a failure."""
    _, csrf = await _sign_in(console_stack, browser, db, admin=True)
    async with browser.post(
        "/api/keys", json={"name": "ci"}, headers={"X-CSRF-Token": csrf}
    ) as response:
        key_id = (await response.json())["id"]
    for changes in (
        {"name": "a\x00b"},
        {"ip_allowlist": "10.0.0.0/8\x00"},
        {"ip_allowlist": "\n".join(f"10.0.{i}.0/24" for i in range(300))},
        {"rpm": "9" * 40},
        {"budget_usd": "1e999", "budget_period": "decade"},
        {"expires": "2026-02-30"},
    ):
        status, _, page = await _post(browser, f"/keys/{key_id}/edit", _key_form(csrf, **changes))
        assert status == 422, (changes, page[:500])
        assert 'role="alert"' in page
    person = await sign_up(console_stack.stack.gateway)
    await _page(browser, "/admin/users?q=" + "%00", status=422)
    await _page(browser, "/admin/users?cursor=nope", status=422)
    assert "No account matches" in await _page(browser, "/admin/users?q=" + "x" * 5000)
    await _page(browser, f"/admin/users/{person.id}/role?role=root", status=404)
    await _page(browser, "/admin/groups/%00", status=404)
    await _page(browser, "/admin/users/not-a-uuid", status=404)
    status, _, page = await _post(
        browser, f"/admin/users/{person.id}/suspend", {"csrf_token": csrf, "reason": "x\x00"}
    )
    assert status == 422 and 'id="suspend-reason-problem"' in page, page
    group = {"csrf_token": csrf, "name": "g" * 41, "price_multiplier": "1"}
    status, _, page = await _post(browser, "/admin/groups", group)
    assert status == 422 and "A group’s name is 1 to 40" in page
