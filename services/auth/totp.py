"""TOTP and recovery codes without IO: secrets, codes, the otpauth URI, the QR code.

Rules:
- A secret is 160 random bits (RFC 4226's length), base32 without padding,
  with what every authenticator app supports: SHA-1, 6 digits, 30-second steps.
- A code matches a time step within one step either side of now (clock
  drift). This module only says which step; the store accepts the step only
  when it is later than the last one accepted, so each code works once.
- Recovery codes: ten, each 10 characters of Crockford's base32 (50 bits),
  shown as `xxxxx-xxxxx`; read back forgivingly (case, hyphens and spaces,
  `o` for `0`, `i`/`l` for `1`); kept only as HMAC-SHA256 digests under a key
  derived from the key pepper and bound to the user id, so a digest is useless
  without the pepper and cannot be moved to another account.
- What a user types is a TOTP code when it is six digits (spaces allowed),
  else a recovery code when it reads as one, else nothing: no lookup is made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import pyotp
import segno

ISSUER = "Tollgate"
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_LENGTH = 10
CODE_MAX_LENGTH = 64  # what a code field may hold before it is even read

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_CROCKFORD_READS = str.maketrans({"o": "0", "i": "1", "l": "1"})


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def otpauth_uri(secret: str, account: str) -> str:
    """The Key URI an authenticator app reads: `otpauth://totp/Tollgate:<account>?...`."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as a standalone SVG QR code (medium error correction)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        buffer, kind="svg", scale=4, border=4, xmldecl=False, title="TOTP QR code"
    )
    return buffer.getvalue().decode("utf-8")


def current_step(now: float | None = None) -> int:
    return int(time.time() if now is None else now) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return _totp(secret).generate_otp(step)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The step within the drift window whose code is `code`, the latest if several."""
    step = current_step(now)
    found: int | None = None
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(secret, candidate).encode(), code.encode()):
            found = candidate
    return found


@dataclass(frozen=True, slots=True)
class TypedCode:
    """What a user typed, read: a TOTP code or a recovery code, normalised."""

    kind: Literal["totp", "recovery_code"]
    value: str


def read_code(text: str) -> TypedCode | None:
    compact = "".join(text.split())
    if len(compact) == DIGITS and compact.isascii() and compact.isdigit():
        return TypedCode("totp", compact)
    recovery = normalise_recovery_code(compact)
    return None if recovery is None else TypedCode("recovery_code", recovery)


def normalise_recovery_code(text: str) -> str | None:
    compact = "".join(text.split()).replace("-", "").lower().translate(_CROCKFORD_READS)
    if len(compact) != RECOVERY_CODE_LENGTH or any(ch not in _CROCKFORD for ch in compact):
        return None
    return compact


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Fresh codes as shown to the user, distinct from one another."""
    codes: set[str] = set()
    while len(codes) < count:
        body = "".join(secrets.choice(_CROCKFORD) for _ in range(RECOVERY_CODE_LENGTH))
        codes.add(f"{body[:5]}-{body[5:]}")
    return sorted(codes)


class RecoveryCodeHasher:
    """HMAC-SHA256 digests of recovery codes, under a key of their own."""

    def __init__(self, pepper: str) -> None:
        self._key = hmac.new(
            pepper.encode(), b"tollgate/recovery-codes/v1", hashlib.sha256
        ).digest()

    def digest(self, user_id: uuid.UUID, normalised_code: str) -> bytes:
        message = user_id.bytes + normalised_code.encode("ascii")
        return hmac.new(self._key, message, hashlib.sha256).digest()
