"""`tollgate admin reset-two-factor --user LOGIN`: turn two-factor sign-in off for
someone who lost both their authenticator and their recovery codes.

The operator proves the person out of band first (this command cannot); then,
in one transaction, the TOTP secret and every recovery code of the account are
deleted, a `totp_disabled` security event records that the operator did it
(`--by`, default the login name) and why (`--note`, required), and the
account is mailed the same notice as when its owner turns it off (the auth
service's sender delivers it). The account then signs in with its password
alone until its owner turns two-factor on again. `--user` is a username, an
email (any spelling, as at login) or an account id.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import uuid
from typing import Any

from aiohttp import web
from cryptography.fernet import Fernet, MultiFernet

from services.auth import mail, store, totp_store
from services.auth.keys import OUTBOX, SETTINGS
from services.auth.settings import Settings as AuthSettings
from shared import db
from shared.errors import ServiceUnavailable
from shared.mail.outbox import Outbox
from shared.settings import load_or_exit


def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "reset-two-factor",
        help="turn a user's two-factor sign-in off (lost authenticator and recovery codes)",
    )
    parser.add_argument("--user", required=True, help="username, email or account id")
    parser.add_argument("--note", required=True, help="why, and how the person was verified")
    parser.add_argument("--by", default=None, help="who (default: your login name)")


def run(arguments: argparse.Namespace) -> int:
    settings = load_or_exit(AuthSettings.from_env)
    by = arguments.by or getpass.getuser()
    try:
        return asyncio.run(_reset(settings, arguments.user, note=arguments.note, by=by))
    except ServiceUnavailable as exc:
        print(f"reset-two-factor refused: {exc.message}", file=sys.stderr)
        return 1


def _mail_context(settings: AuthSettings) -> web.Application:
    """What `mail.queue_to_user` reads of the auth app: its settings and outbox."""
    app = web.Application()
    app[SETTINGS] = settings
    app[OUTBOX] = Outbox("auth.outbox", MultiFernet([Fernet(k) for k in settings.secret_keys]))
    return app


async def _account(connection: Any, user: str) -> store.User | None:
    try:
        return await store.user_by_id(connection, uuid.UUID(user))
    except ValueError:
        return await store.user_by_login(connection, user)


async def _reset(settings: AuthSettings, user: str, *, note: str, by: str) -> int:
    async with (
        db.pool(settings.common.database_url, max_size=1) as pool,
        pool.acquire() as connection,
    ):
        account = await _account(connection, user)
        if account is None:
            print("reset-two-factor: no such account", file=sys.stderr)
            return 1
        async with connection.transaction():
            if not await totp_store.remove(connection, account.id):
                print(f"reset-two-factor: {account.username} has no two-factor sign-in on")
                return 0
            await store.record_event(
                connection,
                "totp_disabled",
                user_id=account.id,
                ip=None,
                user_agent=None,
                detail={"by": "operator", "operator": by, "note": note},
            )
            await mail.queue_to_user(
                _mail_context(settings), connection, account.id, "totp_disabled", {}
            )
    print(f"reset-two-factor: turned off for {account.username} <{account.email}>; notice mailed")
    return 0
