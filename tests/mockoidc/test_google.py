"""The mock's Google-like issuer speaks the documented wire format: discovery,
the authorization page and redirect, the token endpoint's checks (client,
redirect_uri, PKCE, single-use code) and ID tokens that verify against its JWKS."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from services.mockoidc.app import create_app
from services.mockoidc.settings import DEV_GOOGLE_CLIENT_ID, DEV_GOOGLE_CLIENT_SECRET, Settings
from tests.conftest import AiohttpClient

Client = TestClient[web.Request, web.Application]
REDIRECT = "http://127.0.0.1:9/api/auth/oauth/google/callback"
VERIFIER = "v" * 50


def challenge(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


@pytest.fixture
async def mock(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_app(Settings()))


def request_params(**overrides: str) -> dict[str, str]:
    return {
        "client_id": DEV_GOOGLE_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid email profile",
        "state": "the-state",
        "nonce": "the-nonce",
        "code_challenge": challenge(VERIFIER),
        "code_challenge_method": "S256",
        **overrides,
    }


async def code_for(mock: Client, **form: str) -> URL:
    person = {"sub": "123", "email": "a@example.com", "email_verified": "true", "name": "A"}
    response = await mock.post(
        "/google/o/oauth2/v2/auth",
        data={**request_params(), **person, "action": "allow", **form},
        allow_redirects=False,
    )
    assert response.status == 302, await response.text()
    return URL(response.headers["Location"])


async def redeem(mock: Client, code: str, **overrides: str) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": DEV_GOOGLE_CLIENT_ID,
        "client_secret": DEV_GOOGLE_CLIENT_SECRET,
        "code_verifier": VERIFIER,
        **overrides,
    }
    response = await mock.post("/google/token", data=form)
    return response.status, await response.json()


async def test_discovery_names_its_own_endpoints(mock: Client) -> None:
    document = await (await mock.get("/google/.well-known/openid-configuration")).json()
    base = str(mock.make_url("/google"))
    assert document["issuer"] == base
    assert document["authorization_endpoint"] == f"{base}/o/oauth2/v2/auth"
    assert document["jwks_uri"] == f"{base}/oauth2/v3/certs"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


async def test_the_page_shows_a_form_and_refuses_unknown_clients(mock: Client) -> None:
    page = await mock.get("/google/o/oauth2/v2/auth", params=request_params())
    assert page.status == 200 and "<form" in await page.text()
    unknown = await mock.get("/google/o/oauth2/v2/auth", params=request_params(client_id="x"))
    assert unknown.status == 400
    no_openid = await mock.get(
        "/google/o/oauth2/v2/auth", params=request_params(scope="email"), allow_redirects=False
    )
    assert URL(no_openid.headers["Location"]).query["error"] == "invalid_scope"


async def test_a_code_becomes_a_verifiable_id_token_once(mock: Client) -> None:
    back = await code_for(mock)
    assert back.query["state"] == "the-state"
    status, answer = await redeem(mock, back.query["code"])
    assert status == 200 and answer["token_type"] == "Bearer"
    jwks = await (await mock.get("/google/oauth2/v3/certs")).json()
    (key,) = jwks["keys"]
    claims = jwt.decode(
        answer["id_token"],
        jwt.PyJWK(key, algorithm="RS256"),
        algorithms=["RS256"],
        audience=DEV_GOOGLE_CLIENT_ID,
        issuer=str(mock.make_url("/google")),
    )
    assert claims["sub"] == "123" and claims["nonce"] == "the-nonce"
    assert claims["email_verified"] is True
    assert (await redeem(mock, back.query["code"])) == (
        400,
        {"error": "invalid_grant", "error_description": "the code is unknown, used or expired"},
    )
    userinfo = await mock.get(
        "/google/v1/userinfo", headers={"Authorization": f"Bearer {answer['access_token']}"}
    )
    assert (await userinfo.json())["sub"] == "123"


async def test_the_token_endpoint_checks_client_redirect_and_verifier(mock: Client) -> None:
    status, answer = await redeem(mock, (await code_for(mock)).query["code"], client_secret="x")
    assert (status, answer["error"]) == (401, "invalid_client")
    status, answer = await redeem(
        mock, (await code_for(mock)).query["code"], redirect_uri="http://elsewhere/cb"
    )
    assert (status, answer["error"]) == (400, "invalid_grant")
    status, answer = await redeem(
        mock, (await code_for(mock)).query["code"], code_verifier="w" * 50
    )
    assert (status, answer["error"]) == (400, "invalid_grant")
    assert "code_verifier" in answer["error_description"]
    basic = base64.b64encode(f"{DEV_GOOGLE_CLIENT_ID}:{DEV_GOOGLE_CLIENT_SECRET}".encode()).decode()
    response = await mock.post(
        "/google/token",
        data={
            "grant_type": "authorization_code",
            "code": (await code_for(mock)).query["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
        },
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status == 200  # client_secret_basic works too


async def test_forgeries_are_what_they_say(mock: Client) -> None:
    jwks = await (await mock.get("/google/oauth2/v3/certs")).json()
    key = jwt.PyJWK(jwks["keys"][0], algorithm="RS256")
    _, wrong_key = await redeem(mock, (await code_for(mock, mock_forge="wrong_key")).query["code"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(wrong_key["id_token"], key, algorithms=["RS256"], audience=DEV_GOOGLE_CLIENT_ID)
    _, none = await redeem(mock, (await code_for(mock, mock_forge="alg_none")).query["code"])
    assert jwt.get_unverified_header(none["id_token"])["alg"] == "none"
    _, nonce = await redeem(mock, (await code_for(mock, mock_nonce="old")).query["code"])
    assert jwt.decode(nonce["id_token"], options={"verify_signature": False})["nonce"] == "old"
    _, genuine = await redeem(mock, (await code_for(mock)).query["code"])
    _, replay = await redeem(mock, (await code_for(mock, mock_forge="replay")).query["code"])
    assert replay["id_token"] == genuine["id_token"]
