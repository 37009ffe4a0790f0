"""The GitHub-like OAuth 2 server, at `/github`: the web application flow as
GitHub documents it ("Authorizing OAuth apps") and the two REST calls a sign-in
needs.

- `GET /github/login/oauth/authorize` (`client_id, redirect_uri, scope, state,
  code_challenge, code_challenge_method=S256`): a page where a person says who
  they are; back to `redirect_uri?code=...&state=...`, or `error=access_denied`.
- `POST /github/login/oauth/access_token` (`client_id, client_secret, code,
  redirect_uri, code_verifier`, form or query): the answer is form-encoded
  (`access_token=...&scope=...&token_type=bearer`) unless `Accept` asks for
  JSON; failures are HTTP 200 with `error` (`bad_verification_code`,
  `incorrect_client_credentials`, `redirect_uri_mismatch`), as GitHub does.
- `GET /github/api/user` and `/github/api/user/emails` with `Authorization:
  Bearer <token>` (or `token <token>`): the REST API's user object (`id` is
  the stable identity, `login` can change, `email` is the public one or null)
  and the email list `[{email, primary, verified, visibility}]`, which needs the
  `user:email` (or `user`) scope. 401 `{"message": "Bad credentials"}` otherwise.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from yarl import URL

from services.mockoidc import page
from services.mockoidc.google import bearer
from services.mockoidc.grants import Grant, GrantError, Grants, Person
from services.mockoidc.settings import Client

PREFIX = "/github"
GRANTS = web.AppKey("github_grants", Grants)
CLIENT = web.AppKey("github_client", Client)
_DOCS = "https://docs.github.com/rest"
_GRANT_ERRORS = {"invalid_grant": "bad_verification_code"}


def setup(app: web.Application, client: Client) -> None:
    app[GRANTS] = Grants()
    app[CLIENT] = client
    router = app.router
    router.add_get(f"{PREFIX}/login/oauth/authorize", authorize_page)
    router.add_post(f"{PREFIX}/login/oauth/authorize", authorize)
    router.add_post(f"{PREFIX}/login/oauth/access_token", access_token)
    router.add_get(f"{PREFIX}/api/user", user)
    router.add_get(f"{PREFIX}/api/user/emails", emails)


def _problem(params: Any, client: Client) -> str | None:
    if params.get("client_id") != client.client_id:
        return "The client_id is not one of a registered OAuth app."
    redirect = URL(params.get("redirect_uri", ""))
    if redirect.scheme not in {"http", "https"} or not redirect.host:
        return "The redirect_uri is missing or not an http(s) URL."
    method = params.get("code_challenge_method")
    if params.get("code_challenge") and method not in {None, "S256"}:
        return "Only the S256 code_challenge_method is supported."
    return None


def _back(params: Any, **values: str) -> web.Response:
    query = dict(values)
    if params.get("state") is not None:
        query["state"] = params["state"]
    location = URL(params["redirect_uri"]).update_query(query)
    return web.Response(status=302, headers={"Location": str(location)})


async def authorize_page(request: web.Request) -> web.Response:
    params = request.query
    if problem := _problem(params, request.app[CLIENT]):
        return page.error_page(problem)
    names = (
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    )
    return page.sign_in_form(
        title="Sign in to GitHub (mock)",
        client_id=params["client_id"],
        hidden={name: params[name] for name in names if name in params},
        fields=[
            page.Field(name="id", label="User id (stays the same for this person)", value="583231"),
            page.Field(name="login", label="Username (login)", value="octocat"),
            page.Field(name="name", label="Name", value="The Octocat"),
            page.Field(name="email", label="Primary email", value="octocat@example.com"),
            page.Field(
                name="email_verified", label="Primary email verified", value="true", checkbox=True
            ),
            page.Field(
                name="avatar_url",
                label="Avatar URL",
                value="https://avatars.githubusercontent.com/u/583231?v=4",
            ),
        ],
    )


async def authorize(request: web.Request) -> web.Response:
    params = {k: str(v) for k, v in (await request.post()).items()}
    if problem := _problem(params, request.app[CLIENT]):
        return page.error_page(problem)
    if params.get("action") != "allow":
        return _back(
            params,
            error="access_denied",
            error_description="The user has denied your application access.",
        )
    user_id = params.get("id", "").strip()
    if not user_id.isdigit() or len(user_id) > 18:
        return page.error_page("id: a number")
    person = Person(
        subject=user_id,
        login=params.get("login", "").strip(),
        email=params.get("email", "").strip(),
        email_verified=params.get("email_verified") == "true",
        name=params.get("name", "").strip(),
        picture=params.get("avatar_url", "").strip(),
    )
    grant = Grant(
        client_id=params["client_id"],
        redirect_uri=params["redirect_uri"],
        scope=params.get("scope", ""),
        person=person,
        code_challenge=params.get("code_challenge") or None,
        code_challenge_method="S256" if params.get("code_challenge") else None,
        issued_at=time.time(),
    )
    return _back(params, code=request.app[GRANTS].issue_code(grant))


def _answer(request: web.Request, values: dict[str, str]) -> web.Response:
    if "json" in request.headers.get("Accept", ""):
        return web.json_response(values)
    return web.Response(text=urlencode(values), content_type="application/x-www-form-urlencoded")


async def access_token(request: web.Request) -> web.Response:
    params: dict[str, str] = dict(request.query)
    params.update({k: str(v) for k, v in (await request.post()).items()})
    client = request.app[CLIENT]
    if params.get("client_id") != client.client_id or not secrets.compare_digest(
        params.get("client_secret", "").encode(), client.client_secret.encode()
    ):
        return _answer(
            request,
            {
                "error": "incorrect_client_credentials",
                "error_description": "The client_id and/or client_secret passed are incorrect.",
            },
        )
    try:
        grant = request.app[GRANTS].redeem(
            params.get("code", ""),
            client_id=client.client_id,
            redirect_uri=params.get("redirect_uri"),
            verifier=params.get("code_verifier"),
        )
    except GrantError as exc:
        error = _GRANT_ERRORS.get(exc.error, exc.error)
        if "redirect_uri" in exc.description:
            error = "redirect_uri_mismatch"
        return _answer(request, {"error": error, "error_description": exc.description})
    token = request.app[GRANTS].issue_token(grant)
    return _answer(request, {"access_token": token, "scope": grant.scope, "token_type": "bearer"})


def _holder(request: web.Request) -> Grant | None:
    token = bearer(request)
    return request.app[GRANTS].holder(token) if token else None


def _unauthorised() -> web.Response:
    return web.json_response(
        {"message": "Bad credentials", "documentation_url": _DOCS, "status": "401"}, status=401
    )


async def user(request: web.Request) -> web.Response:
    grant = _holder(request)
    if grant is None:
        return _unauthorised()
    person = grant.person
    return web.json_response(
        {
            "login": person.login,
            "id": int(person.subject),
            "node_id": f"MDQ6VXNlcj{person.subject}",
            "avatar_url": person.picture,
            "html_url": f"https://github.com/{person.login}",
            "type": "User",
            "site_admin": False,
            "name": person.name or None,
            "email": None,  # the public email; most people keep theirs private
        }
    )


async def emails(request: web.Request) -> web.Response:
    grant = _holder(request)
    if grant is None:
        return _unauthorised()
    if not {"user", "user:email"} & set(grant.scope.replace(",", " ").split()):
        return web.json_response({"message": "Not Found", "documentation_url": _DOCS}, status=404)
    person = grant.person
    listed = [
        {
            "email": f"{person.subject}+{person.login}@users.noreply.github.com",
            "primary": False,
            "verified": True,
            "visibility": None,
        }
    ]
    if person.email:
        listed.insert(
            0,
            {
                "email": person.email,
                "primary": True,
                "verified": person.email_verified,
                "visibility": "private",
            },
        )
    return web.json_response(listed)
