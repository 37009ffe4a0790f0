"""The mock issuer's keys and its ID tokens, genuine or forged on request.

The genuine key signs RS256 and is the only key published at the JWKS. The
forgeries are what a relying party must refuse; a test picks one on the
sign-in page (the relying party never sees the choice, only the token):

- `wrong_key`: signed by a key of the same `kid` that is not in the JWKS
- `unknown_kid`: signed by that key under a `kid` the JWKS does not have
- `wrong_aud`, `wrong_iss`: another client's or another issuer's token
- `expired`: `exp` an hour ago
- `alg_none`: unsigned; `hs256`: HMAC-signed with the client secret as key
- `replay`: the last ID token issued to this client, byte for byte
- `no_nonce`: the nonce left out

`rotate` (`POST /google/mock/rotate-key`) starts signing with a new key, as a
provider rotates its keys; relying parties holding the old JWKS must fetch it again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

FORGERIES = (
    "wrong_key",
    "unknown_kid",
    "wrong_aud",
    "wrong_iss",
    "expired",
    "alg_none",
    "hs256",
    "replay",
    "no_nonce",
)
ID_TOKEN_SECONDS = 3600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return _b64(json.dumps(value, separators=(",", ":")).encode())

    return f"{part(header)}.{part(claims)}"


class IssuerKeys:
    """The published RS256 key and a second one that signs forgeries."""

    def __init__(self) -> None:
        self.kid = "mock-" + secrets.token_hex(6)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._last: dict[str, str] = {}  # client id -> the last ID token issued to it
        self._retired: list[tuple[str, rsa.RSAPrivateKey]] = []

    def jwks(self) -> dict[str, Any]:
        published = [(self.kid, self._key), *self._retired]
        return {
            "keys": [
                {
                    **RSAAlgorithm.to_jwk(key.public_key(), as_dict=True),
                    "kid": kid,
                    "use": "sig",
                    "alg": "RS256",
                }
                for kid, key in published
            ]
        }

    def rotate(self) -> None:
        """Sign with a new key from now on; the old one stays published (as
        Google's JWKS keeps the previous key for a while)."""
        self._retired = [(self.kid, self._key)]
        self.kid = "mock-" + secrets.token_hex(6)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def last_id_token(self, client_id: str) -> str | None:
        return self._last.get(client_id)

    def id_token(self, claims: dict[str, Any], *, forge: str, client_secret: str) -> str:
        client_id = str(claims["aud"])
        if forge == "replay" and client_id in self._last:
            return self._last[client_id]
        claims = dict(claims)
        if forge == "wrong_aud":
            claims["aud"] = "another-client.apps.example"
        elif forge == "wrong_iss":
            claims["iss"] = "https://issuer.example"
        elif forge == "expired":
            claims["iat"] = int(time.time()) - 2 * ID_TOKEN_SECONDS
            claims["exp"] = int(time.time()) - ID_TOKEN_SECONDS
        elif forge == "no_nonce":
            claims.pop("nonce", None)
        if forge == "alg_none":
            return _unsigned({"alg": "none", "typ": "JWT"}, claims) + "."
        if forge == "hs256":
            signing_input = _unsigned({"alg": "HS256", "kid": self.kid, "typ": "JWT"}, claims)
            mac = hmac.new(client_secret.encode(), signing_input.encode(), hashlib.sha256)
            return f"{signing_input}.{_b64(mac.digest())}"
        key, kid = self._key, self.kid
        if forge == "wrong_key":
            key = self._rogue
        elif forge == "unknown_kid":
            key, kid = self._rogue, "mock-unknown"
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        if not forge:
            self._last[client_id] = token
        return token
