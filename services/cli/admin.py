"""`tollgate admin ...`: operator commands that work on the database directly.

Secrets never arrive as arguments, which any user can read in `ps`: passwords
and provider keys are read from standard input. A channel added here is checked
by the admin API's own rules and announced on Redis like one added through the
API, so running gateways relay to it at once.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
import uuid
from typing import Any

import asyncpg
import orjson
from cryptography.fernet import Fernet, MultiFernet

from services.auth import accounts, store
from services.auth.passwords import Passwords, weaknesses
from services.auth.settings import Settings as AuthSettings
from services.auth.signing import SigningKeys
from services.billing import snapshots
from services.billing.settings import Settings as BillingSettings
from services.cli import credit, dead_letters, reseal, two_factor_reset
from services.gateway.channels.base_url_check import base_url_problems
from services.gateway.channels.fields import channel_problems
from services.gateway.channels.fields import read_fields as read_channel_fields
from services.gateway.channels.store import ChannelStore
from services.gateway.relay.apis import Family
from services.gateway.settings import Settings as GatewaySettings
from services.gateway.upstream.client import UpstreamClient
from shared import db, invalidation, redis_conn
from shared.errors import ApiError, Conflict, ServiceUnavailable, Unprocessable
from shared.settings import load_or_exit


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="admin_command", required=True)
    create = commands.add_parser("create-user", help="create a user")
    create.add_argument("--email", required=True)
    create.add_argument("--username", required=True)
    create.add_argument("--admin", action="store_true", help="give the user the admin role")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (default: prompt, or generate one)",
    )
    commands.add_parser("rotate-signing-key", help="sign new JWTs with a new key")
    _add_channel_command(commands)
    commands.add_parser(
        "reseal",
        help="re-encrypt every stored secret with the first key of TOLLGATE_SECRET_KEYS",
    )
    credit = commands.add_parser("credit", help="credit a user's balance (a top-up)")
    credit.add_argument("--user-id", required=True)
    credit.add_argument("--amount", required=True, help="USD, a decimal such as 10.00")
    credit.add_argument("--reason", required=True)
    credit.add_argument("--idempotency-key", required=True, help="the same key never credits twice")
    dead_letters.add_command(commands)
    two_factor_reset.add_command(commands)


def _add_channel_command(commands: Any) -> None:
    channel = commands.add_parser(
        "add-channel", help="add an upstream channel; its key is read from standard input"
    )
    channel.add_argument("--name", required=True)
    channel.add_argument("--kind", required=True, help="openai, anthropic or gemini")
    channel.add_argument("--base-url", required=True)
    channel.add_argument("--models", required=True, help="comma-separated model names")
    channel.add_argument("--priority", type=int, help="higher is preferred (default 0)")
    channel.add_argument("--weight", type=int, help="share among equal priorities (default 1)")
    channel.add_argument(
        "--allow-private-network",
        action="store_true",
        help="let the channel reach loopback, private and link-local addresses (local models)",
    )
    channel.add_argument(
        "--api-key-stdin",
        action="store_true",
        required=True,
        help="read the provider key from standard input (never an argument: `ps` shows those)",
    )


def run(arguments: argparse.Namespace) -> int:
    if arguments.admin_command == "dead-letters":
        return dead_letters.run(arguments)
    if arguments.admin_command == "reset-two-factor":
        return two_factor_reset.run(arguments)
    if arguments.admin_command == "add-channel":
        return asyncio.run(_add_channel(load_or_exit(GatewaySettings.from_env), arguments))
    if arguments.admin_command == "reseal":
        return asyncio.run(_reseal(load_or_exit(GatewaySettings.from_env)))
    if arguments.admin_command == "credit":
        return asyncio.run(_credit(load_or_exit(BillingSettings.from_env), arguments))
    settings = load_or_exit(AuthSettings.from_env)
    if arguments.admin_command == "create-user":
        return asyncio.run(_create_user(settings, arguments))
    return asyncio.run(_rotate_signing_key(settings))


def _read_password(arguments: argparse.Namespace) -> tuple[str, bool]:
    if arguments.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        entered = getpass.getpass("password (empty to generate one): ")
        if entered:
            return entered, False
    return secrets.token_urlsafe(18), True


async def _create_user(settings: AuthSettings, arguments: argparse.Namespace) -> int:
    email = accounts.normalise_email(arguments.email)
    username = arguments.username
    password, generated = _read_password(arguments)
    problems = accounts.email_problems(email) + accounts.username_problems(username)
    problems += weaknesses(password, username=username, email=email)
    if problems:
        print("create-user refused:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    connection: Any = await asyncpg.connect(settings.common.database_url)
    try:
        password_hash = await Passwords().hash(password)
        user = await store.create_user(
            connection,
            email=email,
            username=username,
            password_hash=password_hash,
            role="admin" if arguments.admin else "user",
            verified=True,  # made by the operator: no mail to prove the address
        )
    except Conflict as exc:
        print(f"create-user refused: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await connection.close()
    print(f"created {user.role} {user.username} <{user.email}> id={user.id}")
    if generated:
        print(f"password (shown once): {password}")
    return 0


async def _rotate_signing_key(settings: AuthSettings) -> int:
    fernet = MultiFernet([Fernet(key) for key in settings.secret_keys])
    async with db.pool(settings.common.database_url, max_size=2) as pool:
        key = await SigningKeys(pool, fernet, settings.token_ttl_seconds).rotate()
    print(f"new signing key {key.kid}; tokens signed by older keys stay valid until they expire")
    async with redis_conn.client(settings.common.redis_url) as redis:
        announced = await invalidation.publish(redis, invalidation.SIGNING_KEYS_CHANGED, key.kid)
    if not announced:
        print(
            "warning: Redis did not take the notice; running gateways refuse tokens of the "
            "new key for up to 5 seconds, until their next JWKS refresh",
            file=sys.stderr,
        )
    return 0


def _read_provider_key() -> str:
    if sys.stdin.isatty():  # typed by hand: do not echo it
        return getpass.getpass("provider key: ").strip()
    return sys.stdin.readline().strip()


def _channel_fields(arguments: argparse.Namespace) -> dict[str, Any]:
    """The options as an admin API body, so the API's rules judge them."""
    fields: dict[str, Any] = {
        "name": arguments.name,
        "kind": arguments.kind,
        "base_url": arguments.base_url,
        "models": [model.strip() for model in arguments.models.split(",")],
        "api_key": _read_provider_key(),
    }
    for option in ("priority", "weight"):
        if getattr(arguments, option) is not None:
            fields[option] = getattr(arguments, option)
    if arguments.allow_private_network:
        fields["allow_private_network"] = True
    return fields


async def _add_channel(settings: GatewaySettings, arguments: argparse.Namespace) -> int:
    try:
        fields = read_channel_fields(_channel_fields(arguments), creating=True)
    except Unprocessable as exc:
        print("add-channel refused:\n  " + "\n  ".join(exc.details or []), file=sys.stderr)
        return 2
    client = UpstreamClient(guarded=False)  # the guard is base_url_problems' own check
    try:
        problems = channel_problems(fields) + await base_url_problems(
            client,
            fields["base_url"],
            Family(fields["kind"]),
            allow_private_network=bool(fields.get("allow_private_network")),
        )
    finally:
        await client.close()
    if problems:
        print("add-channel refused:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    fernet = MultiFernet([Fernet(key) for key in settings.secret_keys])
    try:
        async with db.pool(settings.common.database_url, max_size=1) as pool:
            channel = await ChannelStore(pool, fernet).create(fields)
    except (Conflict, ServiceUnavailable) as exc:
        print(f"add-channel refused: {exc.message}", file=sys.stderr)
        return 1
    async with redis_conn.client(settings.common.redis_url) as redis:
        announced = await invalidation.publish(
            redis, invalidation.CHANNELS_CHANGED, str(channel.id)
        )
    print(
        f"added {channel.kind.value} channel {channel.name} id={channel.id}; key stored encrypted"
    )
    if not announced:
        print(
            "warning: Redis did not take the notice; running gateways load this channel "
            "when they next reconnect to Redis or restart",
            file=sys.stderr,
        )
    return 0


async def _reseal(settings: GatewaySettings) -> int:
    fernet = MultiFernet([Fernet(key) for key in settings.secret_keys])
    try:
        async with (
            db.pool(settings.common.database_url, max_size=1) as pool,
            pool.acquire() as connection,
        ):
            counts = await reseal.reseal(connection, fernet)
    except reseal.ResealError as exc:
        print(f"reseal refused, nothing was changed: {exc}", file=sys.stderr)
        return 1
    except ServiceUnavailable as exc:
        print(f"reseal refused: {exc.message}", file=sys.stderr)
        return 1
    done = " and ".join(f"{count} {sealed.noun}(s)" for sealed, count in counts.items())
    print(f"resealed {done} with the first key of TOLLGATE_SECRET_KEYS")
    return 0


async def _credit(settings: BillingSettings, arguments: argparse.Namespace) -> int:
    try:
        answer = await credit.credit(
            settings.common.database_url,
            user=arguments.user_id,
            amount=arguments.amount,
            reason=arguments.reason,
            idempotency_key=arguments.idempotency_key,
        )
        await snapshots.refresh_one(
            settings.common.database_url, settings.common.redis_url, uuid.UUID(arguments.user_id)
        )
    except ApiError as exc:
        details = "".join(f"\n  {d}" for d in exc.details or [])
        print(f"credit refused: {exc.message}{details}", file=sys.stderr)
        return 2 if isinstance(exc, Unprocessable) else 1
    print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    return 0
