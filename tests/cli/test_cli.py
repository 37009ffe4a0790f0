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
from yarl import URL

from services.cli.child_output import MAX_LINE_BYTES
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
    assert me["email_verified"] is True  # made by the operator: nothing to prove by mail
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


def _dev_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment of a dev run on free ports: GATEWAY_PORT and the others."""
    services = ("GATEWAY", "AUTH", "BILLING", "USAGE", "CONSOLE")
    ports = iter(free_ports(15))  # at once: fifteen distinct ports
    return {
        **os.environ,
        **{f"{name}_PORT": str(next(ports)) for name in services},
        **{f"{name}_METRICS_PORT": str(next(ports)) for name in services},
        "MOCK_PROVIDER_PORT": str(next(ports)),
        "MAILSINK_PORT": str(next(ports)),
        "MAILSINK_SMTP_PORT": str(next(ports)),
        "MOCKOIDC_PORT": str(next(ports)),
        "MOCKPAYMENTS_PORT": str(next(ports)),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "TOLLGATE_DATA_DIR": str(tmp_path),
        # The run's database already holds signing keys sealed with the test key set.
        "TOLLGATE_SECRET_KEYS": ",".join(SECRET_KEYS),
    }


def _pasted(lines: list[str], stdin: str = "") -> str:
    """`lines` pasted into a fresh shell that knows nothing of the dev run."""
    result = subprocess.run(
        ["bash", "-c", "set -e\n" + "\n".join(lines)],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")},
        cwd="/",
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _block(printed: list[str], header: str) -> list[str]:
    """The indented lines under the line starting with `header`, up to a blank one."""
    start = next(n for n, line in enumerate(printed) if line.startswith(header)) + 1
    end = printed.index("", start)
    return [line.strip() for line in printed[start:end]]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _kill_dev(process: asyncio.subprocess.Process) -> None:
    """After a failure: dev and its services (each in a process group of its own,
    which dev's SIGKILL would leave running), all with SIGKILL."""
    if process.returncode is not None:
        return
    for pid in _children_of(process.pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.kill()
    await process.wait()


def _children_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


# Loaded by every Python that has its folder on PYTHONPATH: each service dev
# starts writes, before anything else, a 100,000-byte line that is not UTF-8
# and holds a terminal escape (a long client string in a log line did this).
_LONG_LINE_AT_START = """
import sys
if sys.orig_argv[1:2] == ["-m"] and sys.orig_argv[2] != "services.cli.main":
    sys.stdout.buffer.write(b"\\xff\\x1b[2J" + b"m" * 100_000 + b"\\n")
    sys.stdout.flush()
"""


async def test_dev_starts_the_stack_and_stops_it_on_sigterm(
    tmp_path: Path, database_url: str, db: Any
) -> None:
    """Every service writes a 100,000-byte line first: its copy goes on, so the
    2,000 requests after it are all answered (at 0c207e1 the copy stopped there,
    the pipes filled and the services hung). `db`: what dev seeds (channels,
    prices, the demo account) is removed afterwards."""
    env = _dev_env(tmp_path, database_url)
    (tmp_path / "long_line").mkdir()
    (tmp_path / "long_line" / "sitecustomize.py").write_text(_LONG_LINE_AT_START)
    env["PYTHONPATH"] = str(tmp_path / "long_line")
    gateway, auth, billing, usage = (
        env[f"{n}_PORT"] for n in ("GATEWAY", "AUTH", "BILLING", "USAGE")
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli.main",
        "dev",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        limit=1 << 20,  # the test's own reader: lines of any length dev might print
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
        cut = f"{'m' * (MAX_LINE_BYTES - 5)} [... {100_000 + 5 - MAX_LINE_BYTES:,} more bytes cut]"
        for name in ("gateway", "auth", "billing", "usage", "mockprovider"):
            assert f"{name:>8} | \ufffd\\x1b[2J{cut}\n" in "".join(output)
        assert "tollgate | stopped" in "".join(output)
    finally:
        await _kill_dev(process)


async def test_dev_prints_lines_that_work_when_pasted_and_stops_with_frozen_children(
    tmp_path: Path, database_url: str, db: Any
) -> None:
    """What dev prints to paste works pasted as printed (the admin lines in a
    shell with none of dev's settings; the one placeholder, the password,
    filled in); then, with every service frozen by SIGSTOP, one SIGINT stops
    dev and every child."""
    env = _dev_env(tmp_path, database_url)
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
    printed: list[str] = []
    try:
        assert process.stdout is not None
        while "Ctrl-C stops everything." not in printed:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            assert line, "\n".join(printed)
            printed.append(line.decode().rstrip("\n"))
        rest = asyncio.ensure_future(process.stdout.read())

        metrics = next(line for line in printed if line.strip().startswith("metrics"))
        for url in metrics.split()[1:6]:
            async with aiohttp.ClientSession() as session, session.get(url) as scraped:
                assert scraped.status == 200
                assert "http_server_requests_total" in await scraped.text()

        console = _printed_url(printed, "console")
        assert console == f"http://127.0.0.1:{env['GATEWAY_PORT']}/"  # the gateway's own URL
        async with aiohttp.ClientSession() as session, session.get(console) as page:
            assert page.status == 200 and page.url.path == "/login"  # a stranger signs in first
            assert 'action="/login"' in await page.text()
        sink = next(line for line in printed if line.strip().startswith("mail "))
        async with aiohttp.ClientSession() as session, session.get(sink.split()[1]) as page:
            assert page.status == 200 and "Mails sent" in await page.text()
        payments = next(line for line in printed if line.strip().startswith("payments"))
        assert "top-ups with Stripe and Creem pay there" in payments
        async with aiohttp.ClientSession() as session, session.get(payments.split()[1]) as page:
            assert page.status == 200 and "Mock payment provider" in await page.text()
        await _sign_in_with_google(printed)

        try_it = _block(printed, "try it")
        chat, balance = try_it[:3], try_it[3:]
        assert '"object":"chat.completion"' in await asyncio.to_thread(_pasted, chat)
        assert '"available"' in await asyncio.to_thread(_pasted, balance)

        admin = _block(printed, "your own admin")
        settings, create_user, login, keys = admin[:1], admin[1:2], admin[2:4], admin[4:]
        created = await asyncio.to_thread(_pasted, settings + create_user)  # stdin: no terminal
        assert "created admin admin <admin@example.com>" in created
        password = created.split("password (shown once): ")[1].split()[0]
        login = [line.replace("<the password>", password) for line in login]
        made = await asyncio.to_thread(_pasted, settings + login + keys)
        assert '"key": "tg-' in made

        services = _children_of(process.pid)
        # The five services, the mock model, OpenID and payment providers, the mail sink.
        assert len(services) == 9
        for pid in services:
            os.kill(pid, signal.SIGSTOP)
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), timeout=60) == 0
        output = (await asyncio.wait_for(rest, timeout=10)).decode()
        assert "tollgate | stopped" in output
        assert [pid for pid in services if _alive(pid)] == []
    finally:
        await _kill_dev(process)


def _printed_url(printed: list[str], name: str) -> str:
    """The URL of dev's `name` line (not a child's log line, `name | ...`)."""
    for line in printed:
        words = line.split()
        if len(words) > 1 and words[0] == name and words[1].startswith("http"):
            return words[1]
    raise AssertionError(f"no {name} line in {printed}")


async def _sign_in_with_google(printed: list[str]) -> None:
    """Sign in with Google through the dev stack: its mock OpenID provider is
    the one the printed sign-in line names, and the button works."""
    gateway, mock = _printed_url(printed, "gateway"), _printed_url(printed, "sign-in")
    jar = aiohttp.CookieJar(unsafe=True)  # cookies of 127.0.0.1, as a browser keeps them
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        async with browser.get(f"{gateway}/api/auth/methods") as methods:
            listed = [p["id"] for p in (await methods.json())["providers"]]
            assert listed == ["google", "github"]
        async with browser.get(
            f"{gateway}/api/auth/oauth/google/start", allow_redirects=False
        ) as start:
            page = URL(start.headers["Location"])
        assert str(page).startswith(f"{mock}/google/")
        person = {"sub": "dev-1", "email": "dev-oidc@example.com", "email_verified": "true"}
        async with browser.post(
            page.with_query(None),
            data={**page.query, **person, "action": "allow"},
            allow_redirects=False,
        ) as consent:
            callback = consent.headers["Location"]
        async with browser.get(callback, allow_redirects=False) as back:
            assert back.headers["Location"] == f"{gateway}/"
        async with browser.get(f"{gateway}/api/me") as me:
            assert (await me.json())["email"] == "dev-oidc@example.com"


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
