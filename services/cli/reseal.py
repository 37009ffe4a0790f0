"""`tollgate admin reseal`: re-encrypt every stored secret with the newest key.

This is how an operator finishes a rotation of `TOLLGATE_SECRET_KEYS`:

1. prepend a new key (`new,old`) and restart every service, so new secrets are
   sealed with it and old ones still open;
2. reseal, which re-encrypts every sealed column with the first key;
3. drop the old key (`new`) and restart again.

Rules it keeps: the whole reseal is one transaction, so a secret that no key
of the set opens leaves every row as it was; rows are locked while they are
rewritten; `MultiFernet.rotate` keeps each token's original timestamp. The
plaintext never leaves this function, and the gateways need no notice: what
they hold in memory has not changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet


@dataclass(frozen=True, slots=True)
class Sealed:
    """A column holding Fernet tokens, and the column that names its rows."""

    table: str
    row_id: str
    column: str
    noun: str


SEALED = (
    Sealed("gateway.channels", "id", "api_key_encrypted", "channel key"),
    Sealed("auth.signing_keys", "kid", "private_key_encrypted", "signing key"),
    Sealed("auth.totp", "user_id", "secret_encrypted", "TOTP secret"),
)


class ResealError(Exception):
    """A stored secret cannot be opened with the key set; nothing was changed."""


async def reseal(connection: Any, fernet: MultiFernet) -> dict[Sealed, int]:
    """Re-encrypt every secret of `SEALED` with `fernet`'s first key; the count per column."""
    counts: dict[Sealed, int] = {}
    async with connection.transaction():
        for sealed in SEALED:
            counts[sealed] = await _reseal_column(connection, fernet, sealed)
    return counts


async def _reseal_column(connection: Any, fernet: MultiFernet, sealed: Sealed) -> int:
    # Names come from SEALED above, never from input.
    rows = await connection.fetch(
        f"SELECT {sealed.row_id}, {sealed.column} FROM {sealed.table} "
        f"ORDER BY {sealed.row_id} FOR UPDATE"
    )
    resealed = []
    for row in rows:
        try:
            token = fernet.rotate(bytes(row[sealed.column]))
        except InvalidToken:
            raise ResealError(
                f"{sealed.table} {sealed.row_id}={row[sealed.row_id]}: "
                "no key of TOLLGATE_SECRET_KEYS opens it"
            ) from None
        resealed.append((row[sealed.row_id], token))
    await connection.executemany(
        f"UPDATE {sealed.table} SET {sealed.column} = $2 WHERE {sealed.row_id} = $1", resealed
    )
    return len(resealed)
