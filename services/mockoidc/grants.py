"""What the mock provider has handed out: authorization codes and access tokens.

Rules, as a real provider keeps them (RFC 6749 4.1, RFC 7636):
- A code is single use and short-lived (`CODE_SECONDS`); it is redeemed only
  by the client it was issued to, with the same `redirect_uri`, and, when the
  authorization request carried a `code_challenge`, with the `code_verifier`
  that hashes to it (S256, or plain when the request said plain).
- An access token names the person who signed in and the scopes granted.
- Everything is in memory and bounded: the mock is one process for dev and tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

CODE_SECONDS = 120
TOKEN_SECONDS = 3600
_KEPT = 10_000


@dataclass(frozen=True, kw_only=True)
class Person:
    """Who signs in at the mock's page: what a provider knows about them."""

    subject: str
    email: str
    email_verified: bool
    name: str
    picture: str
    login: str = ""  # GitHub's username


@dataclass(frozen=True, kw_only=True)
class Grant:
    """One authorization: what the code stands for."""

    client_id: str
    redirect_uri: str
    scope: str
    person: Person
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
    forge: str = ""  # the test controls of the Google-like page (see `google.FORGERIES`)
    nonce_override: str | None = None
    issued_at: float = 0.0


class GrantError(Exception):
    """A code or token that may not be used; `error` is the OAuth error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verifier_matches(grant: Grant, verifier: str | None) -> bool:
    if grant.code_challenge is None:
        return True  # PKCE was not asked for in the authorization request
    if not verifier:
        return False
    expected = s256(verifier) if grant.code_challenge_method == "S256" else verifier
    return hmac.compare_digest(expected.encode(), grant.code_challenge.encode())


class Grants:
    def __init__(self) -> None:
        self._codes: OrderedDict[str, Grant] = OrderedDict()
        self._tokens: OrderedDict[str, tuple[Grant, float]] = OrderedDict()

    def issue_code(self, grant: Grant) -> str:
        code = "mc_" + secrets.token_urlsafe(24)
        self._codes[code] = grant
        while len(self._codes) > _KEPT:
            self._codes.popitem(last=False)
        return code

    def redeem(
        self, code: str, *, client_id: str, redirect_uri: str | None, verifier: str | None
    ) -> Grant:
        """The grant a code stands for; the code is gone after the first try, right or wrong."""
        grant = self._codes.pop(code, None)
        if grant is None or time.time() - grant.issued_at > CODE_SECONDS:
            raise GrantError("invalid_grant", "the code is unknown, used or expired")
        if grant.client_id != client_id:
            raise GrantError("invalid_grant", "the code was issued to another client")
        if redirect_uri != grant.redirect_uri:
            raise GrantError("invalid_grant", "redirect_uri differs from the authorization's")
        if not verifier_matches(grant, verifier):
            raise GrantError("invalid_grant", "code_verifier does not match the code_challenge")
        return grant

    def issue_token(self, grant: Grant) -> str:
        token = "mat_" + secrets.token_urlsafe(24)
        self._tokens[token] = (grant, time.time() + TOKEN_SECONDS)
        while len(self._tokens) > _KEPT:
            self._tokens.popitem(last=False)
        return token

    def access_tokens(self) -> list[str]:
        """Every access token still known (tests check none is stored elsewhere)."""
        return list(self._tokens)

    def holder(self, token: str) -> Grant | None:
        found = self._tokens.get(token)
        if found is None or found[1] < time.time():
            return None
        return found[0]
