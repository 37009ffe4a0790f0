"""The `tollgate` command.

tollgate dev                    the whole stack locally, on local defaults
tollgate migrate                apply pending database migrations
tollgate serve SERVICE          run one service (gateway, auth, billing, usage, console)
tollgate secrets                print fresh secrets for a production environment
tollgate admin create-user      create a user (--admin for an administrator)
tollgate admin rotate-signing-key
                                start signing JWTs with a new key
tollgate admin add-channel      add an upstream channel (its key on standard input)
tollgate admin reseal           re-encrypt stored secrets with the first secret key
tollgate admin credit           credit a user's balance, once per idempotency key
tollgate admin reset-two-factor turn a user's two-factor sign-in off (lost authenticator)
tollgate admin dead-letters list|retry|resolve
                                usage events a consumer set aside; reconcile fails until resolved
tollgate reconcile              check the money invariants; non-zero exit on a violation
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

from services.billing.settings import Settings as BillingSettings
from services.cli import admin, dev, reconcile
from shared import migrations
from shared import settings as read

SERVICES = ("gateway", "auth", "billing", "usage", "console")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tollgate", description="Tollgate, a paid AI API relay.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="run the whole stack locally")
    commands.add_parser("migrate", help="apply pending database migrations")
    serve = commands.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=SERVICES)
    commands.add_parser("secrets", help="print fresh secrets for a production environment")
    commands.add_parser("reconcile", help="check the money invariants (exit 1 on a violation)")
    admin.add_commands(commands.add_parser("admin", help="administration"))
    return parser


def _migrate() -> int:
    env = read.environ()
    try:
        dsn = read.url(
            env,
            "DATABASE_URL",
            "postgresql://postgres@127.0.0.1:5432/tollgate",
            schemes=("postgresql", "postgres"),
        )
    except read.SettingsError as exc:
        sys.exit(f"configuration error: {exc}")

    async def run() -> list[migrations.Migration]:
        await migrations.ensure_database(dsn)
        return await migrations.apply(dsn)

    try:
        applied = asyncio.run(run())
    except migrations.MigrationError as exc:
        sys.exit(f"migrate: {exc}")
    for migration in applied:
        print(f"applied {migration.service}/{migration.version:04d}_{migration.name}")
    print(f"{len(applied)} migration(s) applied; the schema is up to date")
    return 0


def _serve(service: str) -> int:
    module = importlib.import_module(f"services.{service}.__main__")
    module.main()
    return 0


def _secrets() -> int:
    print(f"TOLLGATE_INTERNAL_TOKEN={read.token_secret()}")
    print(f"TOLLGATE_KEY_PEPPER={read.token_secret()}")
    print(f"TOLLGATE_SECRET_KEYS={read.fernet_secret()}")
    return 0


def _reconcile() -> int:
    settings = read.load_or_exit(BillingSettings.from_env)
    common = settings.common
    violations, notes = asyncio.run(reconcile.reconcile(common.database_url, common.redis_url))
    for note in notes:
        print(f"note: {note}")
    for violation in violations:
        print(f"VIOLATION: {violation}")
    if violations:
        return 1
    print("reconcile: every invariant holds")
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "dev":
        return dev.run()
    if arguments.command == "migrate":
        return _migrate()
    if arguments.command == "serve":
        return _serve(arguments.service)
    if arguments.command == "secrets":
        return _secrets()
    if arguments.command == "reconcile":
        return _reconcile()
    return admin.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
