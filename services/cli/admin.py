"""`tollgate admin ...`: operator commands that work on the database directly."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from typing import Any

import asyncpg
from cryptography.fernet import Fernet, MultiFernet

from services.auth import accounts, store
from services.auth.passwords import Passwords, weaknesses
from services.auth.settings import Settings as AuthSettings
from services.auth.signing import SigningKeys
from shared import db
from shared.errors import Conflict
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


def run(arguments: argparse.Namespace) -> int:
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
    return 0
