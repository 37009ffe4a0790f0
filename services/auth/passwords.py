"""Passwords: strength rules and Argon2id hashing.

Hashing and verifying are CPU-bound (tens of milliseconds by design), so they
run in a worker thread, never on the event loop. An unknown login is verified
against a dummy hash so that it costs the same time as a wrong password.
"""

from __future__ import annotations

import asyncio
import secrets
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 1024
_COMMON_FILE = Path(__file__).with_name("common_passwords.txt")


@cache
def common_passwords() -> frozenset[str]:
    lines = _COMMON_FILE.read_text().splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def weaknesses(password: str, *, username: str | None, email: str | None) -> list[str]:
    """Every reason the password is refused; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"password: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"password: at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in common_passwords():
        problems.append("password: among the most common passwords")
    if len(set(password)) < 4:
        problems.append("password: uses fewer than 4 different characters")
    personal = {p.lower() for p in (username, (email or "").split("@")[0]) if p}
    if any(lowered == p or (len(p) >= 4 and p in lowered) for p in personal):
        problems.append("password: must not contain the username or email")
    return problems


class Passwords:
    """Argon2id hashing with a dummy hash for unknown accounts."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; a None hash burns the same time and fails."""
        target = password_hash or self._dummy_hash
        try:
            matched = await asyncio.to_thread(self._hasher.verify, target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None
