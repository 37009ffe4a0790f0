"""`tollgate dev`: the whole stack on one machine, on local defaults.

It finds (or starts) PostgreSQL and Redis, migrates, starts every service as
a child process with its log lines prefixed and coloured, waits until each is
ready, prints where things are and what to do next, and on Ctrl-C or SIGTERM
stops every child (and any private store it started) cleanly.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from services.cli import local_stores, seed
from shared import migrations, tasks
from shared import settings as read

COLOURS = {"gateway": "36", "auth": "35", "billing": "33", "usage": "32", "mockprovider": "34"}
PORTS = {"gateway": 8080, "auth": 8081, "billing": 8082, "usage": 8083, "mockprovider": 8090}
_PORT_VARIABLE = {"mockprovider": "MOCK_PROVIDER_PORT"}


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process


def run() -> int:
    env = read.environ()
    data_dir = Path(env.get("TOLLGATE_DATA_DIR", ".data")).resolve()
    try:
        return asyncio.run(_main(env, data_dir))
    except KeyboardInterrupt:
        return 130


def _environment(database_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(read.environ())
    env.update(
        TOLLGATE_ENV="dev",
        TOLLGATE_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )
    for name, port in PORTS.items():
        variable = _PORT_VARIABLE.get(name, f"{name.upper()}_PORT")
        env.setdefault(variable, str(port))
        env.setdefault(f"{name.upper()}_URL", f"http://127.0.0.1:{env[variable]}")
    return env


async def _main(env: read.Environ, data_dir: Path) -> int:
    database_url = env.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tollgate")
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        postgres, redis_store = await local_stores.ensure(database_url, redis_url, data_dir)
    except local_stores.StoreError as exc:
        print(f"tollgate dev: {exc}", file=sys.stderr)
        return 1
    try:
        await migrations.ensure_database(postgres.url)
        applied = await migrations.apply(postgres.url)
        _say(f"database {postgres.url} migrated ({len(applied)} new migration(s))")
        env = _environment(postgres.url, redis_store.url, data_dir)
        demo_key = await _seed(env)
        return await _supervise(env, demo_key)
    except migrations.MigrationError as exc:
        print(f"tollgate dev: {exc}", file=sys.stderr)
        return 1
    finally:
        redis_store.stop()
        postgres.stop()


async def _seed(env: dict[str, str]) -> str | None:
    """Channels, prices and a demo account for the mock provider; the demo key."""
    mode = read.mode(env)
    keys = read.fernet_keys(
        read.secret(env, "TOLLGATE_SECRET_KEYS", mode, read.fernet_secret), "TOLLGATE_SECRET_KEYS"
    )
    pepper = read.secret(env, "TOLLGATE_KEY_PEPPER", mode, read.token_secret)
    channels, prices, key = await seed.dev_stack(
        env["DATABASE_URL"], keys, pepper, env["MOCKPROVIDER_URL"]
    )
    if channels:
        _say(f"added {channels} channels for the mock provider at {env['MOCKPROVIDER_URL']}")
    if prices:
        _say(f"added prices for {prices} mock models")
    # Dev mode only: the demo key is kept beside the dev secrets so the curl
    # line printed at every start keeps working.
    demo_file = mode.data_dir / "demo-key"
    if key is not None:
        demo_file.write_text(key + "\n")
        demo_file.chmod(0o600)
        _say(f"created the demo account {seed.DEMO_EMAIL} with {seed.DEMO_CREDIT} USD of credit")
    return demo_file.read_text().strip() if demo_file.exists() else None


async def _supervise(env: dict[str, str], demo_key: str | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    children = [await _start(name, env) for name in PORTS]
    # Read every child's output from the start: a pipe nobody reads fills up,
    # and a service blocked writing a log line stops serving.
    pumps = [tasks.spawn(_pump(child), name=f"pump-{child.name}") for child in children]
    exits = [asyncio.ensure_future(child.process.wait()) for child in children]
    try:
        if await _ready(env, stop):
            _print_next_steps(env, demo_key)
        stopped = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait([stopped, *exits], return_when=asyncio.FIRST_COMPLETED)
        failed = [c.name for c, e in zip(children, exits, strict=True) if e in done]
        if failed:
            _say(f"{', '.join(failed)} exited; stopping the stack")
        stopped.cancel()
        return 1 if failed else 0
    finally:
        await _stop_all(children)
        await asyncio.gather(*pumps, return_exceptions=True)


async def _start(name: str, env: dict[str, str]) -> Child:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{name}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
    )
    return Child(name, process)


async def _pump(child: Child) -> None:
    colour = COLOURS.get(child.name, "0")
    prefix = (
        f"\033[{colour}m{child.name:>8} |\033[0m " if sys.stdout.isatty() else f"{child.name:>8} | "
    )
    assert child.process.stdout is not None
    async for line in child.process.stdout:
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


async def _ready(env: dict[str, str], stop: asyncio.Event, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    pending = set(PORTS)
    async with aiohttp.ClientSession() as session:
        while pending and time.monotonic() < deadline and not stop.is_set():
            for name in sorted(pending):
                try:
                    probe = "/healthz" if name == "mockprovider" else "/readyz"
                    async with session.get(f"{env[f'{name.upper()}_URL']}{probe}") as response:
                        if response.status == 200:
                            pending.discard(name)
                except aiohttp.ClientError:
                    pass
            await asyncio.sleep(0.2)
    if pending:
        _say(f"not ready after {seconds:.0f} s: {', '.join(sorted(pending))}")
    return not pending


async def _stop_all(children: list[Child]) -> None:
    for child in children:
        if child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
    for child in children:
        try:
            await asyncio.wait_for(child.process.wait(), timeout=15)
        except TimeoutError:
            child.process.kill()
            await child.process.wait()
    _say("stopped")


def _say(message: str) -> None:
    print(f"tollgate | {message}", flush=True)


def _print_next_steps(env: dict[str, str], demo_key: str | None) -> None:
    gateway = env["GATEWAY_URL"]
    key = demo_key or "<a tg-... key>"
    _say(
        f"""ready.
  gateway  {gateway}   (the public edge: /api/*, /v1/*, /v1beta/*)
  auth     {env["AUTH_URL"]}   billing {env["BILLING_URL"]}   usage {env["USAGE_URL"]}   (internal)
  mock     {env["MOCKPROVIDER_URL"]}   (the mock provider: the default channels' upstream)
  metrics  {gateway}/metrics and /metrics on every service

try it (the demo account's key, {seed.DEMO_CREDIT} USD of credit):
  curl -s {gateway}/v1/chat/completions -H "authorization: Bearer {key}" \\
       -H 'content-type: application/json' \\
       -d '{{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": "Hello"}}]}}'
  curl -s {gateway}/api/billing/balance -H "authorization: Bearer {key}"

your own admin and keys, in another shell:
  tollgate admin create-user --email admin@example.com --username admin --admin
  curl -s {gateway}/api/auth/login -H 'content-type: application/json' \\
       -d '{{"login": "admin", "password": "<the password>"}}'
  curl -s {gateway}/api/keys -H "authorization: Bearer <the access_token>" \\
       -H 'content-type: application/json' -d '{{"name": "my laptop"}}'

Ctrl-C stops everything."""
    )
