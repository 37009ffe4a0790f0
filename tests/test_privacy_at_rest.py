"""No table holds a password or an API key in the clear.

The scan reads every text-like column of every table in the database (all
schemas), so a column added later is covered without changing this test.
"""

from __future__ import annotations

import base64
from typing import Any

from services.mockoidc import google
from tests.accounts import PASSWORD, create_key, sign_up
from tests.auth.oauth_stack import GOOGLE_PERSON, Browser, OAuthStack
from tests.auth.oauth_stack import oauth as oauth  # the fixture
from tests.browsers import sign_in
from tests.conftest import Stack
from tests.two_factor import mfa_token, second_step, turn_on

_TEXTUAL = ("text", "character varying", "character", "json", "jsonb", "bytea", "ARRAY")


async def _every_stored_value(db: Any) -> list[tuple[str, str]]:
    columns = await db.fetch(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND data_type = ANY($1)",
        list(_TEXTUAL),
    )
    assert columns, "no text columns found: the scan would prove nothing"
    found: list[tuple[str, str]] = []
    for column in columns:
        name = f'"{column["table_schema"]}"."{column["table_name"]}"'
        rows = await db.fetch(f'SELECT "{column["column_name"]}"::text AS v FROM {name}')
        found.extend((f"{name}.{column['column_name']}", row["v"]) for row in rows if row["v"])
    return found


async def test_no_plaintext_password_or_key_in_any_table(stack: Stack, db: Any) -> None:
    account = await sign_up(stack.gateway)
    key = await create_key(stack.gateway, account)
    rotated = await stack.gateway.post(f"/api/keys/{key['id']}/rotate", headers=account.headers)
    new_key = (await rotated.json())["key"]
    browser, _ = await sign_in(stack.gateway, account.username)
    assert (await stack.gateway.get("/api/me", headers=browser.reads)).status == 200
    secrets = {
        "password": PASSWORD,
        "key": key["key"],
        "key body": key["key"][3:],
        "rotated key": new_key,
        "token": account.token,
        "session cookie": browser.cookie,
        "session CSRF token": browser.csrf,
    }
    values = await _every_stored_value(db)
    assert any(column.endswith(".password_hash") for column, _ in values)
    for column, value in values:
        assert "PRIVATE KEY" not in value, f"a private key stored in clear in {column}"
        for what, secret in secrets.items():
            assert secret not in value, f"{what} stored in clear in {column}"
            hex_secret = secret.encode().hex()
            assert hex_secret not in value, f"{what} stored hex-encoded in {column}"


async def test_no_totp_secret_or_recovery_code_in_any_table(stack: Stack, db: Any) -> None:
    on = await turn_on(stack.gateway)
    token = await mfa_token(stack.gateway, on.account.username)
    assert (await second_step(stack.gateway, token, on.recovery_codes[0])).status == 200
    secrets = {
        "TOTP secret": on.secret,
        "TOTP secret, lower case": on.secret.lower(),
        "TOTP key bytes": base64.b32decode(on.secret).hex(),
        "mfa_token": token,
    }
    for number, code in enumerate(on.recovery_codes):
        secrets[f"recovery code {number}"] = code
        secrets[f"recovery code {number}, compact"] = code.replace("-", "")
    values = await _every_stored_value(db)
    assert any(column.endswith(".secret_encrypted") for column, _ in values)
    assert any(column.endswith(".code_hash") for column, _ in values)
    for column, value in values:
        for what, secret in secrets.items():
            assert secret not in value, f"{what} stored in clear in {column}"
            assert secret.encode().hex() not in value, f"{what} stored hex-encoded in {column}"


async def test_no_mailed_token_or_queued_mail_in_clear(stack: Stack, db: Any) -> None:
    from tests.auth.account_mail import queued_token

    account = await sign_up(stack.gateway)
    verify = await queued_token(db, "verify_email")
    asked = await stack.gateway.post("/api/auth/password-reset", json={"email": account.email})
    assert asked.status == 202
    reset = await queued_token(db, "reset_password")
    changed = await stack.gateway.post(
        "/api/me/email",
        json={"email": f"moved.{account.username}@example.org", "password": PASSWORD},
        headers=account.headers,
    )
    assert changed.status == 202
    email_change = await queued_token(db, "email_change_confirm")
    secrets = {
        "verification token": verify,
        "reset token": reset,
        "email change token": email_change,
        "a queued mail's subject": "Reset your Tollgate password",
        "a queued mail's text": "Someone asked to reset the password",
    }
    values = await _every_stored_value(db)
    assert any(column.endswith(".token_hash") for column, _ in values)
    for column, value in values:
        for what, secret in secrets.items():
            assert secret not in value, f"{what} stored in clear in {column}"
            assert secret.encode().hex() not in value, f"{what} stored hex-encoded in {column}"


async def test_no_provider_token_state_or_link_token_is_stored(
    oauth: OAuthStack, stack: Stack, db: Any, redis: Any
) -> None:
    """A provider sign-in keeps only email, name and avatar: the code, the
    provider's access and ID tokens, the state, nonce, PKCE verifier and a link
    token are in no table, and in Redis only under digests and sealed (the
    verifier and nonce inside)."""
    browser = Browser(oauth)
    try:
        page = await browser.start("google")
        callback = await browser.consent(page, GOOGLE_PERSON)
        flow_keys = [key async for key in redis.scan_iter("tg:oauth:*")]
        flow_values = [await redis.get(key) for key in flow_keys]
        await browser.back(callback)
        await sign_up(stack.gateway, "other")
        claim = {**GOOGLE_PERSON, "sub": "2", "email": "other@example.com"}
        linking = await browser.sign_in("google", claim)
        link_keys = [key async for key in redis.scan_iter("tg:oauth:link:*")]
        link_values = [await redis.get(key) for key in link_keys]
    finally:
        await browser.close()
    grants = oauth.mock.app[google.GRANTS]
    keys = oauth.mock.app[google.KEYS]
    secrets = {
        "state": page.query["state"],
        "nonce": page.query["nonce"],
        "code": callback.query["code"],
        "link token": linking.query["link_token"],
        "ID token": keys.last_id_token(oauth.auth_settings.oauth_providers[0].client_id) or "-",
        **{f"access token {i}": token for i, token in enumerate(grants.access_tokens())},
    }
    assert len(secrets) >= 6
    for column, value in await _every_stored_value(db):
        for what, secret in secrets.items():
            assert secret not in value, f"{what} stored in clear in {column}"
    stored = b" ".join(flow_keys + flow_values + link_keys + link_values)
    assert flow_keys and link_keys
    for what, secret in secrets.items():
        assert secret.encode() not in stored, f"{what} in clear in Redis"
    assert b"alice@example.com" not in stored and b"other@example.com" not in stored
