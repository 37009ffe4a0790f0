"""Two-factor sign-in: enrolment, proof by a code, and the login's pending second step.

Rules:
- The TOTP secret is sealed with the service's key set (`MultiFernet` from
  TOLLGATE_SECRET_KEYS) before it touches the database, and opened only to
  check a code. Recovery codes exist in the clear only in the answer that
  shows them once.
- `prove` accepts a TOTP code once (its time step must be later than the last
  accepted) or an unused recovery code once; both acceptances are single
  conditional statements (see `totp_store`), so of two racing requests with
  the same code exactly one wins. A pending enrolment proves nothing.
- A login whose password was right, for an account with TOTP on, gets a
  challenge instead of a credential: an mfa_token of 256 random bits, kept in
  Redis only as its SHA-256 digest, for `CHALLENGE_SECONDS`, bound to the user
  and to the kind of credential the login asked for (`session`). It is spent
  by the first right code (GETDEL, so once) and void after `CHALLENGE_TRIES`
  codes tried with it, counted before any is checked, so parallel guesses get
  no more tries. Throttling per account and source is the caller's, with the
  login throttle. A blind challenge (`password_ok=False`: see
  `totp_handlers.blind_challenge`) looks the same and refuses every code.
- Redis failing closes the second step with 503, as the login throttle does.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from cryptography.fernet import InvalidToken, MultiFernet
from redis.exceptions import RedisError

from services.auth import totp, totp_store
from shared.errors import Conflict, ServiceUnavailable, Unprocessable
from shared.redis_conn import Redis
from shared.settings import SettingsError

CHALLENGE_SECONDS = 300
CHALLENGE_TRIES = 5
_CHALLENGE_KEY = "tg:mfa:challenge:"
_TRIES_KEY = "tg:mfa:tries:"

Proof = Literal["totp", "recovery_code"]


@dataclass(frozen=True, kw_only=True)
class Enrolment:
    """What the user's authenticator app needs; shown once, at enrolment."""

    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True, kw_only=True)
class Challenge:
    """A login waiting for its second factor."""

    user_id: uuid.UUID
    session: bool
    password_ok: bool  # False only for a blind challenge whose password was wrong


def _digest(mfa_token: str) -> str:
    return hashlib.sha256(mfa_token.encode()).hexdigest()


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("two-factor sign-in is unavailable; try again")


class SecondFactor:
    def __init__(self, db: Any, redis: Redis, fernet: MultiFernet, pepper: str) -> None:
        self._db = db
        self._redis = redis
        self._fernet = fernet
        self._hasher = totp.RecoveryCodeHasher(pepper)

    async def enrol(self, user_id: uuid.UUID, account: str) -> Enrolment:
        """A new pending secret, replacing a pending one; 409 when TOTP is already on."""
        secret = totp.new_secret()
        if not await totp_store.begin(self._db, user_id, self._fernet.encrypt(secret.encode())):
            raise Conflict("two-factor sign-in is already on; turn it off first")
        uri = totp.otpauth_uri(secret, account)
        return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))

    async def confirm(self, connection: Any, user_id: uuid.UUID, code: str) -> list[str]:
        """Turn TOTP on with its first code, on `connection` (the caller's transaction);
        the new recovery codes, to be shown once."""
        stored = await totp_store.load(connection, user_id)
        if stored is None:
            raise Conflict("no two-factor enrolment is pending; start with POST /api/me/totp")
        if stored.confirmed:
            raise Conflict("two-factor sign-in is already on")
        typed = totp.read_code(code)
        step = None
        if typed is not None and typed.kind == "totp":
            step = totp.matching_step(self._open(stored.secret_encrypted), typed.value)
        if step is None or not await totp_store.confirm(
            connection, user_id, stored.secret_encrypted, step
        ):
            raise Unprocessable(
                "the code was not accepted", details=["code: wrong, expired or already used"]
            )
        return await self.replace_recovery_codes(connection, user_id)

    async def replace_recovery_codes(self, connection: Any, user_id: uuid.UUID) -> list[str]:
        """Fresh recovery codes, the old ones void (call in a transaction)."""
        codes = totp.new_recovery_codes()
        digests = [self._recovery_digest(user_id, code) for code in codes]
        await totp_store.replace_recovery_codes(connection, user_id, digests)
        return codes

    async def prove(self, user_id: uuid.UUID, code: str) -> Proof | None:
        """Spend `code` (TOTP or recovery) for an account with TOTP on; None if refused."""
        typed = totp.read_code(code)
        if typed is None:
            return None
        if typed.kind == "recovery_code":
            digest = self._recovery_digest(user_id, typed.value)
            spent = await totp_store.spend_recovery_code(self._db, user_id, digest)
            return "recovery_code" if spent else None
        stored = await totp_store.load(self._db, user_id)
        if stored is None or not stored.confirmed:
            return None
        step = totp.matching_step(self._open(stored.secret_encrypted), typed.value)
        if step is None or not await totp_store.spend_step(self._db, user_id, step):
            return None
        return "totp"

    async def open_challenge(
        self, user_id: uuid.UUID, *, session: bool, password_ok: bool = True
    ) -> str:
        """Start the second step of a login; the mfa_token for the client."""
        mfa_token = secrets.token_urlsafe(32)
        value = orjson.dumps(
            {"user_id": str(user_id), "session": session, "password_ok": password_ok}
        )
        try:
            await self._redis.set(_CHALLENGE_KEY + _digest(mfa_token), value, ex=CHALLENGE_SECONDS)
        except RedisError as exc:
            raise _unavailable() from exc
        return mfa_token

    async def challenge(self, mfa_token: str) -> Challenge | None:
        """The pending login of this token, if it is still open."""
        try:
            value = await self._redis.get(_CHALLENGE_KEY + _digest(mfa_token))
        except RedisError as exc:
            raise _unavailable() from exc
        return None if value is None else _challenge(value)

    async def count_try(self, mfa_token: str) -> bool:
        """Count one code tried with the token; False (and the token void) past the limit."""
        digest = _digest(mfa_token)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(_TRIES_KEY + digest)
                pipe.expire(_TRIES_KEY + digest, CHALLENGE_SECONDS, nx=True)
                tries, _ = await pipe.execute()
            if int(tries) <= CHALLENGE_TRIES:
                return True
            await self._redis.delete(_CHALLENGE_KEY + digest)
        except RedisError as exc:
            raise _unavailable() from exc
        return False

    async def close_challenge(self, mfa_token: str) -> Challenge | None:
        """Spend the token: its challenge for exactly one caller, None for the others."""
        digest = _digest(mfa_token)
        try:
            value = await self._redis.getdel(_CHALLENGE_KEY + digest)
            await self._redis.delete(_TRIES_KEY + digest)
        except RedisError as exc:
            raise _unavailable() from exc
        return None if value is None else _challenge(value)

    def _open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise SettingsError(
                "a TOTP secret cannot be decrypted with TOLLGATE_SECRET_KEYS; "
                "when rotating the key set, keep the old key after the new one"
            ) from None

    def _recovery_digest(self, user_id: uuid.UUID, code: str) -> bytes:
        normalised = totp.normalise_recovery_code(code)
        assert normalised is not None, "only well-formed recovery codes are digested"
        return self._hasher.digest(user_id, normalised)


def _challenge(value: bytes | str) -> Challenge:
    fields = orjson.loads(value)
    return Challenge(
        user_id=uuid.UUID(fields["user_id"]),
        session=bool(fields["session"]),
        password_ok=fields.get("password_ok") is not False,
    )
