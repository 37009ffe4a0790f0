"""The mock's GitHub-like server speaks GitHub's documented web flow: the
authorize page, the access token answer (form-encoded, or JSON on request;
failures as HTTP 200 with `error`), and `/user`, `/user/emails` with a bearer token."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from services.mockoidc.app import create_app
from services.mockoidc.settings import DEV_GITHUB_CLIENT_ID, DEV_GITHUB_CLIENT_SECRET, Settings
from tests.conftest import AiohttpClient

Client = TestClient[web.Request, web.Application]
REDIRECT = "http://127.0.0.1:9/api/auth/oauth/github/callback"
VERIFIER = "v" * 50
PERSON = {
    "id": "42",
    "login": "octo",
    "name": "Octo",
    "email": "octo@example.com",
    "email_verified": "true",
    "avatar_url": "https://example.com/a.png",
}


@pytest.fixture
async def mock(aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(create_app(Settings()))


async def code_for(mock: Client, scope: str = "read:user user:email", **person: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest())
    response = await mock.post(
        "/github/login/oauth/authorize",
        data={
            "client_id": DEV_GITHUB_CLIENT_ID,
            "redirect_uri": REDIRECT,
            "scope": scope,
            "state": "s",
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            **PERSON,
            **person,
            "action": "allow",
        },
        allow_redirects=False,
    )
    assert response.status == 302, await response.text()
    location = URL(response.headers["Location"])
    assert location.query["state"] == "s"
    return location.query["code"]


def exchange_form(issued: str, **overrides: str) -> dict[str, str]:
    return {
        "client_id": DEV_GITHUB_CLIENT_ID,
        "client_secret": DEV_GITHUB_CLIENT_SECRET,
        "code": issued,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        **overrides,
    }


async def test_the_token_answer_is_form_encoded_unless_json_is_asked(mock: Client) -> None:
    response = await mock.post(
        "/github/login/oauth/access_token", data=exchange_form(await code_for(mock))
    )
    assert response.content_type == "application/x-www-form-urlencoded"
    answer = parse_qs(await response.text())
    assert answer["token_type"] == ["bearer"] and answer["access_token"][0]
    response = await mock.post(
        "/github/login/oauth/access_token",
        data=exchange_form(await code_for(mock)),
        headers={"Accept": "application/json"},
    )
    assert (await response.json())["scope"] == "read:user user:email"


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"client_secret": "nope"}, "incorrect_client_credentials"),
        ({"code_verifier": "w" * 50}, "bad_verification_code"),
        ({"redirect_uri": "http://elsewhere/cb"}, "redirect_uri_mismatch"),
        ({"code": "made-up"}, "bad_verification_code"),
    ],
)
async def test_a_refused_exchange_is_http_200_with_an_error(
    mock: Client, override: dict[str, str], error: str
) -> None:
    response = await mock.post(
        "/github/login/oauth/access_token",
        data=exchange_form(await code_for(mock), **override),
        headers={"Accept": "application/json"},
    )
    assert response.status == 200
    assert (await response.json())["error"] == error


async def test_user_and_emails_need_the_token_and_the_scope(mock: Client) -> None:
    response = await mock.post(
        "/github/login/oauth/access_token",
        data=exchange_form(await code_for(mock)),
        headers={"Accept": "application/json"},
    )
    headers = {"Authorization": f"Bearer {(await response.json())['access_token']}"}
    user = await (await mock.get("/github/api/user", headers=headers)).json()
    assert user["id"] == 42 and user["login"] == "octo" and user["email"] is None
    emails = await (await mock.get("/github/api/user/emails", headers=headers)).json()
    assert emails[0] == {
        "email": "octo@example.com",
        "primary": True,
        "verified": True,
        "visibility": "private",
    }
    assert (await mock.get("/github/api/user")).status == 401
    narrow = await mock.post(
        "/github/login/oauth/access_token",
        data=exchange_form(await code_for(mock, scope="read:user")),
        headers={"Accept": "application/json"},
    )
    token = (await narrow.json())["access_token"]
    response = await mock.get(
        "/github/api/user/emails", headers={"Authorization": f"token {token}"}
    )
    assert response.status == 404
