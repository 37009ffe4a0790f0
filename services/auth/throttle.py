"""Login and sign-up throttling in Redis, built so it cannot be turned against the owner.

Login rules:
- The subject of a login is the account it resolves to (by username or email,
  in any spelling: `login_names.login_key`), so every spelling counts against
  one account; a login that names no account is its own subject, keyed by a
  digest of its login key, and is throttled the same way (no enumeration).
- Only failures count, in fixed windows: per (subject, source), per source,
  and per subject over all sources. A source is an IPv4 address or an IPv6
  /64 (one host's usual allocation).
- A source at its per-(subject, source) or per-source limit gets 429 with
  Retry-After, whatever the password. Another source is not affected: the owner
  with the right password still gets in from elsewhere.
- Past the per-subject limit over all sources (a distributed attack), the right
  password alone is accepted only from a source the account signed up or
  logged in from in the last `known_source_days`. Any other source is asked for
  more proof, and every attempt from it gets the same answer whatever the
  password, so that answer tells a botnet nothing about the password: an
  account with TOTP on answers `mfa_required`, and only the right password with
  a right code gets in (`totp_handlers.blind_challenge`); any other login gets
  403 `additional_verification_required`, and only the right password gets a
  one-time sign-in link mailed to the account's address (`sign_in_link`). So
  the owner is never locked out, and a per-account delay (a lock the attacker
  would hold) is not needed.

Sign-up rules: every sign-up attempt counts, per source (IPv4 address or IPv6
/64) and per network (IPv4 /24, IPv6 /56); past either limit, 429 with
Retry-After until the window ends.

Redis failing closes login and sign-up with 503 rather than opening them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from dataclasses import dataclass
from typing import ClassVar

from redis.exceptions import RedisError

from shared.errors import ApiError, ServiceUnavailable, TooManyRequests
from shared.redis_conn import Redis


class AdditionalVerificationRequired(ApiError):
    """The account is under attack from many sources and this source is not a known one."""

    status: ClassVar[int] = 403
    code: ClassVar[str] = "additional_verification_required"


@dataclass(frozen=True, kw_only=True)
class LoginLimits:
    per_account: int
    per_ip: int
    window_seconds: int
    per_account_all_sources: int = 50
    known_source_days: int = 90
    signups_per_ip: int = 20
    signups_per_network: int = 100
    signup_window_seconds: int = 3600


def _address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def source_of(ip: str | None) -> str:
    """One client: an IPv4 address, or the IPv6 /64 it is in."""
    address = _address(ip)
    if address is None:
        return "unknown"
    if address.version == 4:
        return str(address)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def network_of(ip: str | None) -> str:
    """One network: the IPv4 /24 or the IPv6 /56 an address is in."""
    address = _address(ip)
    if address is None:
        return "unknown"
    prefix = 24 if address.version == 4 else 56
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def login_subject(user_id: uuid.UUID | None, key: str) -> str:
    """What failures count against: the account, else a digest of the login key."""
    if user_id is not None:
        return f"user:{user_id}"
    return "name:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _login_keys(subject: str, ip: str | None) -> tuple[str, str, str]:
    source = source_of(ip)
    return (
        f"tg:login-fail:pair:{subject}:{source}",
        f"tg:login-fail:ip:{source}",
        f"tg:login-fail:acct:{subject}",
    )


def _unavailable(exc: RedisError) -> ServiceUnavailable:
    return ServiceUnavailable("throttling is unavailable; try again")


class LoginThrottle:
    def __init__(self, redis: Redis, limits: LoginLimits) -> None:
        self._redis = redis
        self._limits = limits

    @property
    def limits(self) -> LoginLimits:
        return self._limits

    async def check(self, subject: str, ip: str | None) -> bool:
        """Raise 429 when this source may not try this subject now.

        Returns whether the subject is past its limit over all sources, when
        only a known source may go on (the caller decides which ones are).
        """
        keys = _login_keys(subject, ip)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                for key in keys:
                    pipe.ttl(key)
                pair, per_ip, everyone, pair_ttl, ip_ttl, everyone_ttl = await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from exc
        limits = self._limits
        waits = []
        if pair is not None and int(pair) >= limits.per_account:
            waits.append(int(pair_ttl))
        if per_ip is not None and int(per_ip) >= limits.per_ip:
            waits.append(int(ip_ttl))
        if waits:
            raise TooManyRequests(
                "too many failed logins; try again later", retry_after=max(max(waits), 1)
            )
        return everyone is not None and int(everyone) >= limits.per_account_all_sources

    async def record_failure(self, subject: str, ip: str | None) -> None:
        window = self._limits.window_seconds
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in _login_keys(subject, ip):
                    pipe.incr(key)
                    pipe.expire(key, window, nx=True)
                await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def retry_after(self, subject: str) -> int:
        """Seconds until the subject's all-sources window ends (at least 1)."""
        try:
            ttl = int(await self._redis.ttl(_login_keys(subject, None)[2]))
        except RedisError as exc:
            raise _unavailable(exc) from exc
        return max(ttl, 1)

    async def admit_signup(self, ip: str | None) -> None:
        """Count one sign-up attempt; raise 429 past the per-source or per-network limit."""
        limits = self._limits
        window = limits.signup_window_seconds
        keys = (f"tg:signup:ip:{source_of(ip)}", f"tg:signup:net:{network_of(ip)}")
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.incr(key)
                    pipe.expire(key, window, nx=True)
                for key in keys:
                    pipe.ttl(key)
                per_ip, _, per_network, _, ip_ttl, network_ttl = await pipe.execute()
        except RedisError as exc:
            raise _unavailable(exc) from exc
        waits = []
        if int(per_ip) > limits.signups_per_ip:
            waits.append(int(ip_ttl))
        if int(per_network) > limits.signups_per_network:
            waits.append(int(network_ttl))
        if waits:
            raise TooManyRequests(
                "too many sign-ups from this network; try again later",
                retry_after=max(max(waits), 1),
            )
