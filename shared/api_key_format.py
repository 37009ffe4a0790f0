"""The shape of a Tollgate API key, with no IO and no secrets.

A key is `tg-` + 32 base62 characters of randomness (about 190 bits) + a
6-character base62 CRC-32 of those 32. The checksum lets the gateway and auth
turn away typos and garbage without a lookup; it adds no security. The
display prefix (`tg-` and the first 8 random characters) identifies a key in
lists without revealing it.
"""

from __future__ import annotations

import secrets
import zlib

PREFIX = "tg-"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BODY_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH = len(PREFIX) + 8
_ALLOWED = frozenset(ALPHABET)


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return PREFIX + body + checksum(body)


def is_well_formed(key: str) -> bool:
    """True when `key` has the prefix, the length, the alphabet and a valid checksum."""
    if len(key) != KEY_LENGTH or not key.startswith(PREFIX):
        return False
    rest = key[len(PREFIX) :]
    if not _ALLOWED.issuperset(rest):
        return False
    body, check = rest[:BODY_LENGTH], rest[BODY_LENGTH:]
    return secrets.compare_digest(checksum(body), check)


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]
