"""`tollgate admin add-channel` and `tollgate admin reseal`, run as real processes."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from tests.accounts import Account, create_key, log_in, sign_up
from tests.conftest import INTERNAL_TOKEN, KEY_PEPPER, REDIS_URL, SECRET_KEYS, Stack
from tests.relay import add_prices, credit

ROOT = Path(__file__).resolve().parents[2]
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}]}


def _environment(database_url: str, secret_keys: str = ",".join(SECRET_KEYS)) -> dict[str, str]:
    return {
        "TOLLGATE_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "TOLLGATE_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "TOLLGATE_KEY_PEPPER": KEY_PEPPER,
        "TOLLGATE_SECRET_KEYS": secret_keys,
    }


async def _tollgate(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command in a thread, so the loop keeps serving the stack meanwhile."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli.main", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _add_channel(name: str, *options: str, models: str = "gpt-4o-mini") -> tuple[str, ...]:
    return (
        "admin",
        "add-channel",
        "--name",
        name,
        "--kind",
        "openai",
        "--models",
        models,
        *options,
    )


async def _added(
    database_url: str, name: str, base_url: str, secret: str, secret_keys: str | None = None
) -> uuid.UUID:
    """Add a channel with the command; its id."""
    env = _environment(database_url, secret_keys or ",".join(SECRET_KEYS))
    result = await _tollgate(
        *_add_channel(name, "--base-url", base_url, "--api-key-stdin"),
        env=env,
        stdin=secret + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "key stored encrypted" in result.stdout
    assert secret not in result.stdout + result.stderr
    return uuid.UUID(result.stdout.split("id=")[1].split(";")[0])


async def _admin(stack: Stack, db: Any) -> Account:
    account = await sign_up(stack.gateway)
    await db.execute("UPDATE auth.users SET role = 'admin' WHERE id = $1", uuid.UUID(account.id))
    return replace(account, token=await log_in(stack.gateway, account.username))


async def test_add_channel_stores_a_sealed_key_and_running_gateways_relay_to_it(
    stack: Stack, db: Any, database_url: str
) -> None:
    user = await sign_up(stack.gateway)
    await add_prices(stack)
    await credit(stack, user.id, Decimal(10))
    key = {"Authorization": f"Bearer {(await create_key(stack.gateway, user))['key']}"}
    chat = await stack.gateway.post("/v1/chat/completions", json=CHAT, headers=key)
    assert chat.status == 404, "no channel yet"

    secret = f"sk-cli-{secrets.token_hex(16)}"
    result = await _tollgate(
        *_add_channel(
            "cli-openai", "--priority", "7", "--weight", "2", models="gpt-4o-mini, o4-mini"
        ),
        "--base-url",
        str(stack.mock.make_url("/v1")),
        "--allow-private-network",
        "--api-key-stdin",
        env=_environment(database_url),
        stdin=secret + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "key stored encrypted" in result.stdout
    channel_id = result.stdout.split("id=")[1].split(";")[0]
    assert secret not in result.stdout + result.stderr

    # The running gateway heard the notice: no restart, no admin API call.
    started = time.perf_counter()
    while (
        chat := await stack.gateway.post("/v1/chat/completions", json=CHAT, headers=key)
    ).status == 404:
        assert time.perf_counter() - started < 2, "the gateway never loaded the channel"
        await asyncio.sleep(0.02)
    assert chat.status == 200, await chat.text()

    admin = await _admin(stack, db)
    listed = await stack.gateway.get("/api/admin/channels", headers=admin.headers)
    assert secret not in await listed.text()
    (shown,) = (await listed.json())["data"]
    assert shown.pop("health")["requests"] == 1  # the chat above went through it
    assert [shown] == [
        {
            "id": channel_id,
            "name": "cli-openai",
            "kind": "openai",
            "base_url": str(stack.mock.make_url("")).rstrip("/"),
            "models": ["gpt-4o-mini", "o4-mini"],
            "model_map": {},
            "priority": 7,
            "weight": 2,
            "enabled": True,
            "disabled_reason": None,
            "allow_private_network": True,
            "connect_timeout_ms": None,
            "first_byte_timeout_ms": None,
            "idle_timeout_ms": None,
        }
    ]
    sealed = bytes(await db.fetchval("SELECT api_key_encrypted FROM gateway.channels"))
    assert secret.encode() not in sealed
    assert Fernet(SECRET_KEYS[0]).decrypt(sealed).decode() == secret


async def test_add_channel_refuses_bad_input_naming_every_problem(
    db: Any, database_url: str
) -> None:
    env = _environment(database_url)
    good = ("--kind", "openai", "--base-url", "https://api.example.com", "--models", "gpt-4o")
    cases: list[tuple[tuple[str, ...], str, list[str]]] = [
        (
            (
                "--name",
                "bad",
                "--kind",
                "azure",
                "--base-url",
                "ftp://api.example.com",
                "--models",
                "gpt-4o,,",
                "--weight",
                "0",
                "--api-key-stdin",
            ),
            "sk-x\n",
            [
                "kind: one of openai, anthropic, gemini",
                "base_url: an http:// or https:// URL",
                "models: a non-empty list of model names",
                "weight: must be between 1 and 10000",
            ],
        ),
        (("--name", "empty-key", *good, "--api-key-stdin"), "\n", ["api_key: must not be blank"]),
        (
            (
                "--name",
                "metadata",
                *good[:2],
                "--base-url",
                "http://169.254.169.254",
                *good[4:],
                "--api-key-stdin",
            ),
            "sk-x\n",
            ["base_url: 169.254.169.254 is a link-local address", "allow_private_network"],
        ),
        (
            (
                "--name",
                "loopback",
                *good[:2],
                "--base-url",
                "http://127.0.0.1:9",
                *good[4:],
                "--api-key-stdin",
            ),
            "sk-x\n",
            ["base_url: 127.0.0.1 is a loopback address"],
        ),
        (("--name", " ", *good, "--api-key-stdin"), "sk-x\n", ["name: must not be blank"]),
        (("--name", "no-stdin-flag", *good), "sk-x\n", ["--api-key-stdin"]),
        (("--name", "n", *good, "--priority", "high", "--api-key-stdin"), "sk-x\n", ["--priority"]),
        (
            ("--name", "n", *good, "--api-key", "sk-x", "--api-key-stdin"),
            "sk-x\n",
            ["unrecognized arguments"],
        ),
    ]
    results = await asyncio.gather(
        *(
            _tollgate("admin", "add-channel", *args, env=env, stdin=stdin)
            for args, stdin, _ in cases
        )
    )
    for (args, _, problems), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        for problem in problems:
            assert problem in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert await db.fetchval("SELECT count(*) FROM gateway.channels") == 0


async def test_add_channel_refuses_a_taken_name(db: Any, database_url: str) -> None:
    await _added(database_url, "taken", "https://api.example.com", "sk-first")
    again = await _tollgate(
        *_add_channel("TAKEN", "--base-url", "https://api.example.com", "--api-key-stdin"),
        env=_environment(database_url),
        stdin="sk-second\n",
    )
    assert again.returncode == 1
    assert "a channel with this name already exists" in again.stderr
    assert await db.fetchval("SELECT count(*) FROM gateway.channels") == 1


async def _sealed(db: Any) -> dict[str, bytes]:
    rows = await db.fetch(
        "SELECT id::text AS id, api_key_encrypted AS token FROM gateway.channels "
        "UNION ALL SELECT kid, private_key_encrypted FROM auth.signing_keys"
    )
    return {row["id"]: bytes(row["token"]) for row in rows}


async def test_reseal_moves_every_secret_to_the_first_key(
    stack: Stack, db: Any, database_url: str
) -> None:
    old, new = SECRET_KEYS[0], Fernet.generate_key().decode()
    secrets_by_channel = {}
    for name in ("first", "second"):
        secret = f"sk-{name}-{secrets.token_hex(8)}"
        channel_id = await _added(database_url, name, "https://api.example.com", secret)
        secrets_by_channel[channel_id] = secret
    signing_keys = await db.fetchval("SELECT count(*) FROM auth.signing_keys")
    assert signing_keys >= 1, "the stack's auth service makes one at start-up"
    before = await _sealed(db)
    try:
        result = await _tollgate("admin", "reseal", env=_environment(database_url, f"{new},{old}"))
        assert result.returncode == 0, result.stderr
        assert f"resealed 2 channel key(s) and {signing_keys} signing key(s)" in result.stdout
        for channel_id, secret in secrets_by_channel.items():
            token = bytes(
                await db.fetchval(
                    "SELECT api_key_encrypted FROM gateway.channels WHERE id = $1", channel_id
                )
            )
            assert Fernet(new).decrypt(token).decode() == secret
        after = await _sealed(db)
        assert after.keys() == before.keys()
        for row_id, token in after.items():
            assert Fernet(new).decrypt(token) == Fernet(old).decrypt(before[row_id])
    finally:
        # Put the run's signing keys back under the run's key set, for every
        # later test that starts auth.
        back = await _tollgate("admin", "reseal", env=_environment(database_url, f"{old},{new}"))
        assert back.returncode == 0, back.stderr
    for row_id, token in (await _sealed(db)).items():
        assert Fernet(old).decrypt(token) == Fernet(old).decrypt(before[row_id]), row_id


async def test_reseal_changes_nothing_when_a_secret_cannot_be_opened(
    db: Any, database_url: str
) -> None:
    for name in ("first", "second"):
        await _added(database_url, name, "https://api.example.com", f"sk-{name}")
    # Channels are resealed first, so a stranger among the signing keys shows
    # that their rewrite is rolled back with the rest.
    kid = f"test-foreign-{secrets.token_hex(4)}"
    await db.execute(
        "INSERT INTO auth.signing_keys (kid, algorithm, private_key_encrypted, public_jwk, "
        "retired_at) VALUES ($1, 'EdDSA', $2, '{}'::jsonb, now() - interval '1 day')",
        kid,
        Fernet(Fernet.generate_key()).encrypt(b"not ours"),
    )
    try:
        before = await _sealed(db)
        new = Fernet.generate_key().decode()
        result = await _tollgate(
            "admin", "reseal", env=_environment(database_url, f"{new},{SECRET_KEYS[0]}")
        )
        assert result.returncode == 1
        assert "nothing was changed" in result.stderr
        assert f"auth.signing_keys kid={kid}" in result.stderr
        assert "Traceback" not in result.stderr
        assert await _sealed(db) == before
    finally:
        await db.execute("DELETE FROM auth.signing_keys WHERE kid = $1", kid)
