"""ID token verification (services/auth/id_tokens.py), pure: no loop, no IO."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from services.auth import id_tokens
from services.auth.id_tokens import InvalidIdToken, UnknownKey

ISSUER = "https://issuer.example"
CLIENT = "client-1"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
JWKS = {
    "keys": [
        {**RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True), "kid": "r1"},
        {**ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True), "kid": "e1"},
    ]
}


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "s1",
        "iat": now,
        "exp": now + 600,
        "nonce": "n1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(algorithm: str = "RS256", kid: str | None = "r1", **changes: Any) -> str:
    key = RSA_KEY if algorithm == "RS256" else EC_KEY
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims(**changes), key, algorithm=algorithm, headers=headers)


def verify(
    raw: str, algorithms: tuple[str, ...] = ("RS256",), jwks: dict[str, Any] = JWKS
) -> dict[str, Any]:
    return id_tokens.verify(
        raw, jwks=jwks, algorithms=algorithms, issuer=ISSUER, client_id=CLIENT, nonce="n1"
    )


def test_a_good_token_gives_its_claims() -> None:
    assert verify(token())["sub"] == "s1"
    assert verify(token("ES256", kid="e1"), algorithms=("RS256", "ES256"))["sub"] == "s1"


def test_the_algorithm_list_is_the_discovered_one_narrowed_to_ours() -> None:
    assert id_tokens.allowed_algorithms(["RS256", "HS256", "none"]) == ("RS256",)
    assert id_tokens.allowed_algorithms(None) == ("RS256",)
    assert id_tokens.allowed_algorithms(["ES256"]) == ("ES256",)
    with pytest.raises(InvalidIdToken, match="algorithm"):
        verify(token("ES256", kid="e1"))  # ES256 not discovered
    with pytest.raises(InvalidIdToken, match="algorithm"):
        verify(token(), algorithms=("HS256",))  # never HMAC, even if listed


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"aud": "someone-else"}, "Audience"),
        ({"iss": "https://other.example"}, "iss"),
        ({"exp": int(time.time()) - 120}, "Expired"),
        ({"iat": int(time.time()) + 600}, "iat"),
        ({"nonce": "n2"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"sub": None}, "sub"),
        ({"aud": [CLIENT, "other"], "azp": "other"}, "azp"),
    ],
)
def test_each_claim_is_checked(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidIdToken, match=why):
        verify(token(**changes))


def test_several_audiences_need_our_azp() -> None:
    assert verify(token(aud=[CLIENT, "other"], azp=CLIENT))["sub"] == "s1"


def test_keys_are_chosen_by_kid() -> None:
    with pytest.raises(UnknownKey):
        verify(token(kid="r2"))
    with pytest.raises(UnknownKey):
        verify(token(kid=None))  # no kid and more than one key: no guess
    only_rsa = {"keys": JWKS["keys"][:1]}
    assert verify(token(kid=None), jwks=only_rsa)["sub"] == "s1"
    # The right kid on the wrong key type: the signature check fails, never passes.
    with pytest.raises(InvalidIdToken):
        verify(token("ES256", kid="r1"), algorithms=("RS256", "ES256"))


def test_garbage_is_refused() -> None:
    for raw in ("", "a.b.c", "x" * 10_000, token()[:-5] + "AAAAA"):
        with pytest.raises(InvalidIdToken):
            verify(raw)


def test_google_legacy_issuer_is_accepted_for_google_only() -> None:
    assert id_tokens.accepted_issuers("https://accounts.google.com") == {
        "https://accounts.google.com",
        "accounts.google.com",
    }
    assert id_tokens.accepted_issuers(ISSUER) == {ISSUER}
