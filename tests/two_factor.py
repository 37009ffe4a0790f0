"""Two-factor sign-in played as a person does, through the public gateway:
enrol, confirm with a first code, log in and answer the second step.

TOTP codes depend on the clock: `turn_on` starts at a time step with several
seconds left (`steady_step`) and confirms with the previous step's code, so a
test can use the codes of that step and the next while they are all accepted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from services.auth import totp
from tests.accounts import PASSWORD, Account, sign_up

Client = TestClient[web.Request, web.Application]
MARGIN_SECONDS = 8


async def steady_step() -> int:
    """The current time step, once at least MARGIN_SECONDS remain in it, so the
    codes of the step before, this one and the next are all accepted meanwhile."""
    left = totp.STEP_SECONDS - time.time() % totp.STEP_SECONDS
    if left < MARGIN_SECONDS:
        await asyncio.sleep(left + 0.2)
    return totp.current_step()


@dataclass(frozen=True, kw_only=True)
class TwoFactor:
    account: Account
    secret: str
    recovery_codes: list[str]
    step: int  # codes of step - 1 (used to confirm), step and step + 1 are usable

    def code(self, offset: int) -> str:
        return totp.code_at(self.secret, self.step + offset)


async def enrol(client: Client, account: Account) -> dict[str, Any]:
    response = await client.post("/api/me/totp", headers=account.headers)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = await response.json()
    return body


async def turn_on(client: Client, account: Account | None = None) -> TwoFactor:
    """Sign up (unless given an account), enrol and confirm with the previous step's code."""
    account = account or await sign_up(client)
    secret = (await enrol(client, account))["secret"]
    step = await steady_step()
    response = await client.post(
        "/api/me/totp/confirm",
        json={"code": totp.code_at(secret, step - 1)},
        headers=account.headers,
    )
    assert response.status == 200, await response.text()
    codes = (await response.json())["recovery_codes"]
    return TwoFactor(account=account, secret=secret, recovery_codes=codes, step=step)


async def login(
    client: Client, login_name: str, password: str = PASSWORD, ip: str | None = None
) -> ClientResponse:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return await client.post(
        "/api/auth/login", json={"login": login_name, "password": password}, headers=headers
    )


async def mfa_token(
    client: Client, login_name: str, password: str = PASSWORD, ip: str | None = None
) -> str:
    response = await login(client, login_name, password, ip=ip)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["mfa_required"] is True and "access_token" not in body
    token: str = body["mfa_token"]
    return token


async def second_step(
    client: Client, token: str, code: str, ip: str | None = None
) -> ClientResponse:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return await client.post(
        "/api/auth/login/mfa", json={"mfa_token": token, "code": code}, headers=headers
    )


async def profile(client: Client, account: Account) -> dict[str, Any]:
    response = await client.get("/api/me", headers=account.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def event_kinds(client: Client, account: Account) -> list[str]:
    response = await client.get("/api/me/security-events", headers=account.headers)
    return [event["kind"] for event in (await response.json())["data"]]
