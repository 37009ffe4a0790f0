"""services/auth/totp.py without IO: secrets, the drift window, reading what a
user types, recovery codes and their digests, the URI and the QR code."""

from __future__ import annotations

import base64
import uuid
from xml.etree import ElementTree

import pyotp
import pytest

from services.auth import totp

NOW = 1_765_000_000.0  # a fixed instant, so these tests never depend on the clock


def test_a_secret_is_160_random_bits_in_base32() -> None:
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(base64.b32decode(secret)) == 20


def test_codes_match_their_step_within_one_step_of_drift() -> None:
    secret = totp.new_secret()
    step = totp.current_step(NOW)
    assert totp.code_at(secret, step) == pyotp.TOTP(secret).at(NOW)  # RFC 6238 as pyotp does
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, totp.code_at(secret, step + offset), NOW) == step + offset
    for offset in (-3, -2, 2, 3):
        code = totp.code_at(secret, step + offset)
        near = {totp.code_at(secret, step + near) for near in (-1, 0, 1)}
        if code not in near:  # a 1-in-a-million collision is not a refusal to test
            assert totp.matching_step(secret, code, NOW) is None


def test_the_rfc_6238_vector() -> None:
    # RFC 6238, appendix B: SHA-1 secret "12345678901234567890", T = 59 s -> 94287082 (8 digits).
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp.code_at(secret, totp.current_step(59)) == "287082"


@pytest.mark.parametrize(
    ("typed", "kind", "value"),
    [
        ("123456", "totp", "123456"),
        (" 123 456 ", "totp", "123456"),
        ("abcde-fghjk", "recovery_code", "abcdefghjk"),
        ("ABCDE FGHJK", "recovery_code", "abcdefghjk"),
        ("oiL00-11111", "recovery_code", "0110011111"),
    ],
)
def test_what_a_user_types_is_read_forgivingly(typed: str, kind: str, value: str) -> None:
    read = totp.read_code(typed)
    assert read is not None and (read.kind, read.value) == (kind, value)


@pytest.mark.parametrize(
    "typed",
    ["", "12345", "1234567", "١٢٣٤٥٦", "abcde-fghj", "abcde-fghjkm", "abcde-fghju", "x" * 64],
)
def test_anything_else_is_no_code(typed: str) -> None:
    assert totp.read_code(typed) is None


def test_recovery_codes_are_ten_distinct_50_bit_codes() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert len(code) == 11 and code[5] == "-"
        assert totp.normalise_recovery_code(code) == code.replace("-", "")


def test_recovery_code_digests_are_keyed_and_bound_to_the_user() -> None:
    hasher = totp.RecoveryCodeHasher("p" * 32)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    digest = hasher.digest(alice, "abcdefghjk")
    assert digest == hasher.digest(alice, "abcdefghjk")
    assert digest != hasher.digest(bob, "abcdefghjk")
    assert digest != totp.RecoveryCodeHasher("q" * 32).digest(alice, "abcdefghjk")
    assert b"abcdefghjk" not in digest and len(digest) == 32


def test_the_uri_names_tollgate_and_the_account_and_the_qr_code_is_svg() -> None:
    secret = totp.new_secret()
    uri = totp.otpauth_uri(secret, "ada+x@example.com")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.secret, parsed.issuer, parsed.name) == (secret, "Tollgate", "ada+x@example.com")
    svg = ElementTree.fromstring(totp.qr_svg(uri))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
