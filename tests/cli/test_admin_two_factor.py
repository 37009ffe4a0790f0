"""`tollgate admin reset-two-factor`, run as a real process against the test stack."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import INTERNAL_TOKEN, KEY_PEPPER, REDIS_URL, SECRET_KEYS, Stack
from tests.two_factor import login, profile, turn_on

ROOT = Path(__file__).resolve().parents[2]


async def _reset(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "TOLLGATE_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "TOLLGATE_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "TOLLGATE_KEY_PEPPER": KEY_PEPPER,
        "TOLLGATE_SECRET_KEYS": ",".join(SECRET_KEYS),
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli.main", "admin", "reset-two-factor", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_operator_turns_two_factor_off_for_a_locked_out_owner(
    stack: Stack, db: Any, database_url: str
) -> None:
    client = stack.gateway
    on = await turn_on(client)
    other = await turn_on(client)
    note = "lost phone and codes; identity checked by video call"
    done = await _reset(database_url, "--user", on.account.email.upper(), "--note", note)
    assert done.returncode == 0, done.stderr
    assert f"turned off for {on.account.username}" in done.stdout
    assert (await profile(client, on.account))["totp_enabled"] is False
    assert "access_token" in await (await login(client, on.account.username)).json()
    user_id = uuid.UUID(on.account.id)
    assert await db.fetchval("SELECT count(*) FROM auth.totp WHERE user_id = $1", user_id) == 0
    left = await db.fetchval("SELECT count(*) FROM auth.recovery_codes WHERE user_id = $1", user_id)
    assert left == 0
    event = await db.fetchrow(
        "SELECT detail FROM auth.security_events WHERE user_id = $1 AND kind = 'totp_disabled'",
        user_id,
    )
    detail = orjson.loads(event["detail"])
    assert detail["by"] == "operator" and detail["note"] == note
    mailed = await db.fetch(
        "SELECT recipient FROM auth.outbox WHERE template = 'totp_disabled'",
    )
    assert [row["recipient"] for row in mailed] == [on.account.email]
    # Nobody else's two-factor changed.
    assert (await profile(client, other.account))["totp_enabled"] is True
    # By id it works too; a second reset has nothing to do; an unknown account is an error.
    again = await _reset(database_url, "--user", on.account.id, "--note", note)
    assert again.returncode == 0 and "has no two-factor sign-in on" in again.stdout
    unknown = await _reset(database_url, "--user", "nobody_here", "--note", note)
    assert unknown.returncode == 1 and "no such account" in unknown.stderr
    missing_note = await _reset(database_url, "--user", on.account.username)
    assert missing_note.returncode == 2
