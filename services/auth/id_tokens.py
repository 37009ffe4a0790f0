"""Verifying an OpenID Connect ID token (OpenID Connect Core 1.0, 3.1.3.7). Pure: no IO.

Rules:
- The algorithm comes from a fixed list (RS256, ES256) narrowed to what the
  issuer's discovery document lists; `none` and the HMAC algorithms are never
  accepted, whatever the token's header says.
- The key is the issuer's JWKS entry with the token's `kid` (or its only key
  when the token names none), used with the algorithm the list allows.
- `iss` is the discovered issuer (Google's legacy `accounts.google.com` too),
  `aud` contains our client id (and `azp` is ours when there are several),
  `exp` is in the future and `iat` not in it (one minute of leeway for clocks),
  `sub` is present, and `nonce` equals the one stored for this sign-in:
  a token minted for another sign-in, even a genuine one, is refused.
"""

from __future__ import annotations

import hmac
from typing import Any

import jwt

ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 60
GOOGLE_ISSUER = "https://accounts.google.com"


class InvalidIdToken(Exception):
    """The ID token must be refused; the message says why (for logs, not users)."""


class UnknownKey(InvalidIdToken):
    """No key of the JWKS has the token's `kid` (the JWKS may be worth fetching again)."""


def allowed_algorithms(discovered: object) -> tuple[str, ...]:
    """The discovery document's signing algorithms that we accept (RS256 when it lists none)."""
    if not isinstance(discovered, list) or not discovered:
        return ("RS256",)
    return tuple(alg for alg in ALGORITHMS if alg in discovered)


def accepted_issuers(issuer: str) -> frozenset[str]:
    if issuer == GOOGLE_ISSUER:
        return frozenset({issuer, "accounts.google.com"})
    return frozenset({issuer})


def _key_for(header: dict[str, Any], jwks: dict[str, Any], algorithm: str) -> jwt.PyJWK:
    keys = [key for key in jwks.get("keys", []) if isinstance(key, dict)]
    kid = header.get("kid")
    if kid is None:
        chosen = keys if len(keys) == 1 else []
    else:
        chosen = [key for key in keys if key.get("kid") == kid]
    if not chosen:
        raise UnknownKey(f"no key in the JWKS for kid {str(kid)[:64]!r}")
    try:
        return jwt.PyJWK(chosen[0], algorithm=algorithm)
    except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
        raise InvalidIdToken(f"the JWKS key is unusable: {exc}") from exc


def verify(
    token: str,
    *,
    jwks: dict[str, Any],
    algorithms: tuple[str, ...],
    issuer: str,
    client_id: str,
    nonce: str,
) -> dict[str, Any]:
    """The token's claims when every rule holds; else `InvalidIdToken`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidIdToken(f"not a JWT: {exc}") from exc
    algorithm = header.get("alg")
    if algorithm not in algorithms or algorithm not in ALGORITHMS:
        raise InvalidIdToken(f"algorithm {str(algorithm)[:16]!r} is not accepted")
    key = _key_for(header, jwks, algorithm)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=client_id,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidIdToken(f"{type(exc).__name__}: {exc}") from exc
    if claims["iss"] not in accepted_issuers(issuer):
        raise InvalidIdToken("iss is not the issuer's")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise InvalidIdToken("azp is not our client")
    presented = claims.get("nonce")
    if not isinstance(presented, str) or not hmac.compare_digest(
        presented.encode(), nonce.encode()
    ):
        raise InvalidIdToken("nonce is not this sign-in's")
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise InvalidIdToken("sub is not a string of 1 to 255 characters")
    return claims
