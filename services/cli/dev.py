"""`tollgate dev`: the whole stack on one machine, on local defaults.

It finds (or starts) PostgreSQL and Redis, migrates, starts every service as
a child process with its log lines prefixed and coloured, waits until each is
ready, prints where things are and what to do next, and on Ctrl-C or SIGTERM
stops every child (and any private store it started).

The rules it keeps, whatever the children do:

- Every child's output is copied for as long as the child runs, whatever its
  line lengths or bytes, and whether or not dev's own output keeps up
  (`child_output`): a child blocked on a full pipe stops serving.
- One Ctrl-C or SIGTERM stops everything within a few seconds (`children`:
  SIGTERM, then SIGKILL after a grace time, SIGSTOPped and hung children
  included); another while stopping kills at once. Services stop before the
  stores they use.
- What it prints to paste in another shell works when pasted as printed: the
  admin commands carry the settings this run uses (its data directory, where
  the dev secrets are, and its stores).
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from services.cli import child_output, children, dev_environment, local_stores, seed
from shared import migrations, tasks
from shared import settings as read

COLOURS = {
    "mailsink": "31",
    "gateway": "36",
    "auth": "35",
    "billing": "33",
    "usage": "32",
    "mockprovider": "34",
    "mockoidc": "94",
    "mockpayments": "93",
    "console": "96",
}
# Probed at /healthz (no stores behind them); the services at /readyz.
_DOUBLES = ("mockprovider", "mailsink", "mockoidc", "mockpayments")
ROOT = Path(__file__).resolve().parents[2]
COPY_END_SECONDS = 2.0  # after the children are gone, for the copies to reach their end


class Shutdown:
    """Ctrl-C and SIGTERM: the first cancels the run (whose `finally` blocks stop
    the children and the stores); one that comes while stopping kills at once."""

    def __init__(self, run: asyncio.Task[int], terminal: child_output.Terminal) -> None:
        self.requested = False
        self.stopping = False
        self.kill_now = asyncio.Event()
        self._run = run
        self._terminal = terminal

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._signalled)

    def _signalled(self) -> None:
        if self.requested or self.stopping:
            if not self.kill_now.is_set():
                _say(self._terminal, "stopping now (SIGKILL)")
            self.kill_now.set()
            return
        self.requested = True
        _say(self._terminal, "stopping (again to kill at once)")
        self._run.cancel()


def run() -> int:
    env = read.environ()
    data_dir = Path(env.get("TOLLGATE_DATA_DIR", ".data")).resolve()
    terminal = child_output.Terminal()
    try:
        return asyncio.run(_main(env, data_dir, terminal))
    except KeyboardInterrupt:
        return 130
    finally:
        terminal.close()


async def _main(env: read.Environ, data_dir: Path, terminal: child_output.Terminal) -> int:
    task = asyncio.current_task()
    assert task is not None
    shutdown = Shutdown(task, terminal)
    shutdown.install()
    try:
        return await _run(env, data_dir, terminal, shutdown)
    except asyncio.CancelledError:
        if not shutdown.requested:
            raise
        task.uncancel()
        return 0


async def _run(
    env: read.Environ, data_dir: Path, terminal: child_output.Terminal, shutdown: Shutdown
) -> int:
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
        _say(terminal, f"database {postgres.url} migrated ({len(applied)} new migration(s))")
        child_env = dev_environment.environment(postgres.url, redis_store.url, data_dir)
        demo_key = await _seed(child_env, terminal)
        return await _supervise(child_env, demo_key, terminal, shutdown)
    except migrations.MigrationError as exc:
        print(f"tollgate dev: {exc}", file=sys.stderr)
        return 1
    finally:
        shutdown.stopping = True
        await redis_store.stop(shutdown.kill_now)
        await postgres.stop(shutdown.kill_now)
        _say(terminal, "stopped")


async def _seed(env: dict[str, str], terminal: child_output.Terminal) -> str | None:
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
        _say(
            terminal,
            f"added {channels} channels for the mock provider at {env['MOCKPROVIDER_URL']}",
        )
    if prices:
        _say(terminal, f"added prices for {prices} mock models")
    # Dev mode only: the demo key is kept beside the dev secrets so the curl
    # line printed at every start keeps working.
    demo_file = mode.data_dir / "demo-key"
    if key is not None:
        demo_file.write_text(key + "\n")
        demo_file.chmod(0o600)
        _say(
            terminal,
            f"created the demo account {seed.DEMO_EMAIL} with {seed.DEMO_CREDIT} USD of credit",
        )
    return demo_file.read_text().strip() if demo_file.exists() else None


async def _supervise(
    env: dict[str, str], demo_key: str | None, terminal: child_output.Terminal, shutdown: Shutdown
) -> int:
    running: list[children.Child] = []
    copies: list[asyncio.Task[None]] = []
    try:
        for name in dev_environment.PORTS:
            child = _start(name, env)
            running.append(child)
            # Read every child's output from the start: a pipe nobody reads
            # fills up, and a service blocked writing a log line stops serving.
            copies.append(tasks.spawn(_copy(child, terminal), name=f"copy-{name}"))
        if await _ready(env, running, terminal):
            _print_next_steps(env, demo_key, terminal)
        gone = await children.first_exit(running)
        _say(terminal, f"{', '.join(c.name for c in gone)} exited; stopping the stack")
        return 1
    finally:
        shutdown.stopping = True
        for child in await children.stop(running, kill_now=shutdown.kill_now):
            _say(terminal, f"{child.name} (pid {child.process.pid}) did not exit after SIGKILL")
        if copies:
            _, late = await asyncio.wait(copies, timeout=COPY_END_SECONDS)
            for copy in late:  # a pipe a grandchild still holds open
                copy.cancel()
            await asyncio.gather(*copies, return_exceptions=True)


def _start(name: str, env: dict[str, str]) -> children.Child:
    return children.start(
        name,
        [sys.executable, "-m", f"services.{name}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def _copy(child: children.Child, terminal: child_output.Terminal) -> None:
    colour = COLOURS.get(child.name, "0")
    label = f"{child.name:>8} |"
    prefix = f"\033[{colour}m{label}\033[0m " if _is_terminal() else f"{label} "
    assert child.process.stdout is not None
    await child_output.copy_pipe(child.process.stdout, prefix, terminal)


def _is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except ValueError:  # closed
        return False


async def _ready(
    env: dict[str, str],
    running: list[children.Child],
    terminal: child_output.Terminal,
    seconds: float = 30,
) -> bool:
    """Wait until every service answers its probe; False after `seconds` or when one exited."""
    deadline = time.monotonic() + seconds
    pending = set(dev_environment.PORTS)
    probe_timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=probe_timeout) as session:
        while pending and time.monotonic() < deadline:
            if any(not child.running for child in running):
                return False
            for name in sorted(pending):
                try:
                    probe = "/healthz" if name in _DOUBLES else "/readyz"
                    async with session.get(f"{env[f'{name.upper()}_URL']}{probe}") as response:
                        if response.status == 200:
                            pending.discard(name)
                except (aiohttp.ClientError, TimeoutError):
                    pass
            await asyncio.sleep(0.2)
    if pending:
        _say(terminal, f"not ready after {seconds:.0f} s: {', '.join(sorted(pending))}")
    return not pending


def _say(terminal: child_output.Terminal, message: str) -> None:
    terminal.write(f"tollgate | {message}\n")


def _metrics_urls(env: dict[str, str]) -> str:
    ports = [env[f"{name.upper()}_METRICS_PORT"] for name in dev_environment.METRICS_PORTS]
    return "   ".join(f"http://127.0.0.1:{port}/metrics" for port in ports if port != "0")


def _admin_command() -> str:
    """How to run `tollgate` from any directory: the script beside this Python, if any."""
    script = Path(sys.executable).with_name("tollgate")
    if script.exists():
        return shlex.quote(str(script))
    return f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m services.cli.main"


def _admin_environment(env: dict[str, str]) -> str:
    """The settings an admin command needs to reach this run's stores and secrets."""
    names = ("TOLLGATE_ENV", "TOLLGATE_DATA_DIR", "DATABASE_URL", "REDIS_URL")
    return " ".join(f"{name}={shlex.quote(env[name])}" for name in names)


def _print_next_steps(
    env: dict[str, str], demo_key: str | None, terminal: child_output.Terminal
) -> None:
    gateway = env["GATEWAY_URL"]
    key = demo_key or "<a tg-... key>"
    token = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
    _say(
        terminal,
        f"""ready.
  console  {gateway}/   (the web console, {env["CONSOLE_URL"]} behind the gateway)
  gateway  {gateway}   (the public edge: /api/*, /v1/*, /v1beta/*)
  auth     {env["AUTH_URL"]}   billing {env["BILLING_URL"]}   usage {env["USAGE_URL"]}   (internal)
  mock     {env["MOCKPROVIDER_URL"]}   (the mock provider: the default channels' upstream)
  mail     {env["MAILSINK_URL"]}   (the mail sink: every mail sent, links clickable)
{dev_environment.sign_in_line(env)}
{dev_environment.payments_line(env)}
  metrics  {_metrics_urls(env)}   (Prometheus's, not on the public edge)

try it (the demo account's key, {seed.DEMO_CREDIT} USD of credit):
  curl -s {gateway}/v1/chat/completions -H "authorization: Bearer {key}" \\
       -H 'content-type: application/json' \\
       -d '{{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": "Hello"}}]}}'
  curl -s {gateway}/api/billing/balance -H "authorization: Bearer {key}"

your own admin and keys, in another shell (the first line: this run's settings):
  export {_admin_environment(env)}
  {_admin_command()} admin create-user --email admin@example.com --username admin --admin
  TOKEN=$(curl -s {gateway}/api/auth/login -H 'content-type: application/json' \\
       -d '{{"login": "admin", "password": "<the password>"}}' | {token})
  curl -s {gateway}/api/keys -H "authorization: Bearer $TOKEN" \\
       -H 'content-type: application/json' -d '{{"name": "my laptop"}}'

Ctrl-C stops everything.""",
    )
