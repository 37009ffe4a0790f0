"""The state of a provider sign-in between its start and its callback, and of
an identity waiting to be linked. Kept in Redis, sealed with the service's
MultiFernet; the browser holds only random values whose digests name them.

Rules:
- `start` makes `state` (256 random bits), `nonce` and the PKCE verifier
  (RFC 7636, S256) and a binding value for the browser's cookie. Redis keeps
  the sign-in under sha256(state) for `FLOW_SECONDS`, with sha256(binding).
- `take` consumes a state once, whatever happens next (GETDEL), and refuses it
  unless the browser presents the binding cookie the state was made with: a
  state (with its code) carried to another browser signs nobody in there.
- A link token (256 random bits) names an identity that matched an existing
  account's email; Redis keeps it under sha256(token) for `LINK_SECONDS`.
  Reading it does not consume it (a wrong password may be retried within the
  login throttle); `claim_link` consumes it once.
- Redis failing is `OAuthUnavailable`; nothing here is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import asdict, dataclass

from cryptography.fernet import InvalidToken, MultiFernet
from redis.exceptions import RedisError

from shared.redis_conn import Redis

FLOW_SECONDS = 600
LINK_SECONDS = 600
COOKIE = "tg_oauth"
SECURE_COOKIE = "__Host-tg_oauth"  # the prefix: Secure, Path=/, no Domain, so no sibling can set it
_MAX_TOKEN = 128


class OAuthFailed(Exception):
    """A sign-in through a provider is refused; `reason` is a short code for the
    console and the security log, the message is for the service log."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class OAuthUnavailable(OAuthFailed):
    """A store or the provider could not be reached."""

    def __init__(self, message: str) -> None:
        super().__init__("oauth_unavailable", message)


@dataclass(frozen=True, kw_only=True)
class Flow:
    provider: str
    verifier: str
    nonce: str
    binding_digest: str

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, kw_only=True)
class Started:
    state: str
    binding: str  # the cookie's value
    flow: Flow


@dataclass(frozen=True, kw_only=True)
class PendingLink:
    """An identity whose email matched `user_id`'s account: linked only once
    the account's password is given."""

    user_id: str
    provider: str
    subject: str
    email: str
    name: str | None
    avatar_url: str | None

    @property
    def account(self) -> uuid.UUID:
        return uuid.UUID(self.user_id)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _well_formed(value: str | None) -> bool:
    return value is not None and 0 < len(value) <= _MAX_TOKEN and value.isascii()


class FlowStore:
    def __init__(self, redis: Redis, fernet: MultiFernet) -> None:
        self._redis = redis
        self._fernet = fernet

    def _seal(self, record: object) -> bytes:
        return self._fernet.encrypt(json.dumps(record).encode())

    def _open(self, sealed: bytes | str | None) -> dict[str, str] | None:
        if sealed is None:
            return None
        if isinstance(sealed, str):
            sealed = sealed.encode()
        try:
            opened: dict[str, str] = json.loads(self._fernet.decrypt(sealed))
        except (InvalidToken, ValueError):
            return None
        return opened

    async def start(self, provider: str) -> Started:
        state = secrets.token_urlsafe(32)
        binding = secrets.token_urlsafe(32)
        flow = Flow(
            provider=provider,
            verifier=secrets.token_urlsafe(48),  # 64 characters: RFC 7636 asks 43 to 128
            nonce=secrets.token_urlsafe(32),
            binding_digest=_digest(binding),
        )
        try:
            await self._redis.set(
                f"tg:oauth:flow:{_digest(state)}", self._seal(asdict(flow)), ex=FLOW_SECONDS
            )
        except RedisError as exc:
            raise OAuthUnavailable("redis: the sign-in could not be stored") from exc
        return Started(state=state, binding=binding, flow=flow)

    async def take(self, state: str | None, binding: str | None) -> Flow:
        """The sign-in `state` names, consumed; refused unless `binding` is its cookie."""
        if not _well_formed(state):
            raise OAuthFailed("state_missing", "no state, or a malformed one")
        assert state is not None
        try:
            sealed = await self._redis.getdel(f"tg:oauth:flow:{_digest(state)}")
        except RedisError as exc:
            raise OAuthUnavailable("redis: the sign-in could not be read") from exc
        record = self._open(sealed)
        if record is None:
            raise OAuthFailed("state_unknown", "the state is unknown, used or expired")
        flow = Flow(**record)
        if not _well_formed(binding) or not hmac.compare_digest(
            _digest(binding or ""), flow.binding_digest
        ):
            raise OAuthFailed("state_other_browser", "the state was not started in this browser")
        return flow

    async def offer_link(self, pending: PendingLink) -> str:
        token = secrets.token_urlsafe(32)
        try:
            await self._redis.set(
                f"tg:oauth:link:{_digest(token)}", self._seal(asdict(pending)), ex=LINK_SECONDS
            )
        except RedisError as exc:
            raise OAuthUnavailable("redis: the link could not be stored") from exc
        return token

    async def pending_link(self, token: str) -> PendingLink | None:
        if not _well_formed(token):
            return None
        try:
            record = self._open(await self._redis.get(f"tg:oauth:link:{_digest(token)}"))
        except RedisError as exc:
            raise OAuthUnavailable("redis: the link could not be read") from exc
        return None if record is None else PendingLink(**record)

    async def claim_link(self, token: str) -> bool:
        """Consume the link token; False when another request consumed it first."""
        try:
            return bool(await self._redis.delete(f"tg:oauth:link:{_digest(token)}"))
        except RedisError as exc:
            raise OAuthUnavailable("redis: the link could not be consumed") from exc
