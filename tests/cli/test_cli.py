"""The `tollgate` command, run as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from shared.settings import fernet_secret, token_secret
from tests.accounts import log_in
from tests.conftest import REDIS_URL, SECRET_KEYS, Stack
from tests.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]


def _tollgate(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_twice_is_safe(tmp_path: Path, database_url: str) -> None:
    fresh = database_url.rsplit("/", 1)[0] + f"/{Path(database_url).name}_cli"
    env = {"DATABASE_URL": fresh}
    try:
        first = _tollgate("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert "applied auth/0001_init" in first.stdout
        second = _tollgate("migrate", env=env)
        assert second.returncode == 0
        assert "0 migration(s) applied" in second.stdout
    finally:
        subprocess.run(
            [
                "psql",
                database_url.rsplit("/", 1)[0] + "/postgres",
                "-qc",
                f'DROP DATABASE IF EXISTS "{Path(fresh).name}" WITH (FORCE)',
            ],
            check=False,
            capture_output=True,
        )


async def test_admin_create_user_makes_an_admin_who_can_log_in(stack: Stack) -> None:
    settings = stack.auth_settings
    env = {
        "TOLLGATE_ENV": "production",
        "DATABASE_URL": settings.common.database_url,
        "TOLLGATE_INTERNAL_TOKEN": settings.common.internal_token,
        "TOLLGATE_KEY_PEPPER": settings.key_pepper,
        "TOLLGATE_SECRET_KEYS": ",".join(settings.secret_keys),
    }
    args = ("admin", "create-user", "--email", "root@example.com", "--username", "root", "--admin")
    created = await asyncio.to_thread(
        _tollgate, *args, "--password-stdin", env=env, stdin="a long admin passphrase\n"
    )
    assert created.returncode == 0, created.stderr
    assert "created admin root <root@example.com>" in created.stdout
    token = await log_in(stack.gateway, "root", "a long admin passphrase")
    me = await (
        await stack.gateway.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert me["role"] == "admin"
    again = await asyncio.to_thread(
        _tollgate, *args, "--password-stdin", env=env, stdin="a long admin passphrase\n"
    )
    assert again.returncode == 1 and "already" in again.stderr
    weak = await asyncio.to_thread(
        _tollgate,
        "admin",
        "create-user",
        "--email",
        "w@example.com",
        "--username",
        "weak",
        "--password-stdin",
        env=env,
        stdin="password123\n",
    )
    assert weak.returncode == 2 and "most common passwords" in weak.stderr


def test_a_missing_secret_outside_dev_stops_with_a_clear_message() -> None:
    result = _tollgate(
        "admin",
        "rotate-signing-key",
        env={"TOLLGATE_ENV": "production", "TOLLGATE_INTERNAL_TOKEN": token_secret()},
    )
    assert result.returncode != 0
    assert "TOLLGATE_KEY_PEPPER is required outside dev mode" in result.stderr
    assert "Traceback" not in result.stderr


async def test_dev_starts_the_stack_and_stops_it_on_sigterm(
    tmp_path: Path, database_url: str, db: Any
) -> None:
    """`db`: what dev seeds (channels, prices, the demo account) is removed afterwards."""
    gateway, auth, billing, usage, mock = free_ports(5)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "TOLLGATE_DATA_DIR": str(tmp_path),
        "GATEWAY_PORT": str(gateway),
        "AUTH_PORT": str(auth),
        "BILLING_PORT": str(billing),
        "USAGE_PORT": str(usage),
        "MOCK_PROVIDER_PORT": str(mock),
        # The run's database already holds signing keys sealed with the test key set.
        "TOLLGATE_SECRET_KEYS": ",".join(SECRET_KEYS),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli.main",
        "dev",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        while not any("ready." in line for line in output):
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            assert line, "".join(output)
            output.append(line.decode())
        async with aiohttp.ClientSession() as session:
            for port in (gateway, auth, billing, usage):
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    assert response.status == 200
            body: Any = {
                "email": "dev@example.com",
                "username": "devuser",
                "password": "a fine dev password",
            }
            async with session.post(
                f"http://127.0.0.1:{gateway}/api/auth/signup", json=body
            ) as signup:
                assert signup.status in {201, 409}
            # More log lines than the pipe and its reader's buffer hold (about
            # 200 KiB; 2,000 lines here): a child whose output nobody reads
            # blocks on its next line and stops answering.
            rest = asyncio.ensure_future(process.stdout.read())
            for _ in range(2000):
                async with session.get(
                    f"http://127.0.0.1:{gateway}/healthz", timeout=aiohttp.ClientTimeout(total=5)
                ) as health:
                    assert health.status == 200
        assert (tmp_path / "secrets" / "TOLLGATE_INTERNAL_TOKEN").exists()
        process.send_signal(signal.SIGTERM)
        output.append((await asyncio.wait_for(rest, timeout=30)).decode())
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
        assert "".join(output).count('"path":"/healthz"') >= 2000
        assert "tollgate | stopped" in "".join(output)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_auth_with_the_wrong_key_set_stops_with_a_clear_message(
    database_url: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.auth"],
        cwd=ROOT,
        env={
            **os.environ,
            "TOLLGATE_ENV": "dev",
            "TOLLGATE_DATA_DIR": str(tmp_path),
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "AUTH_PORT": str(free_ports(1)[0]),
            "TOLLGATE_SECRET_KEYS": fernet_secret(),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "cannot be decrypted with TOLLGATE_SECRET_KEYS" in result.stderr
    assert "Traceback" not in result.stderr
