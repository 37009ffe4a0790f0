"""The login-keys migration backfills the keys login_names computes, for rows stored before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.auth.login_names import login_key

MIGRATION = Path(__file__).parents[2] / "services/auth/migrations/0003_login_keys.sql"


async def test_backfilled_keys_match_the_login_key(db: Any) -> None:
    rows = [
        ("Ada_Lovelace", "ada@example.com"),
        ("TIM.B-L", "stra\u00dfe@example.com"),
        ("x9_", "\u03c3\u03bf\u03c6\u03bf\u03c2@example.com"),
        ("Jill", "ji\u0307ll@example.com"),
    ]
    transaction = db.transaction()
    await transaction.start()
    try:
        await db.execute("ALTER TABLE auth.users DROP COLUMN username_key, DROP COLUMN email_key")
        for username, email in rows:
            await db.execute(
                "INSERT INTO auth.users (email, username, password_hash) VALUES ($1, $2, 'x')",
                email,
                username,
            )
        await db.execute(MIGRATION.read_text())
        stored = await db.fetch("SELECT username, email, username_key, email_key FROM auth.users")
    finally:
        await transaction.rollback()
    assert len(stored) == len(rows)
    for row in stored:
        assert row["username_key"] == login_key(row["username"])
        assert row["email_key"] == login_key(row["email"])
