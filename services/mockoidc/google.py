"""The Google-like OpenID Connect issuer, at `/google` (the issuer is
`http://<host>/google`; discovery at `/google/.well-known/openid-configuration`).

It speaks what Google documents (OpenID Connect Core 1.0 and Discovery 1.0,
Google's "OpenID Connect" guide and reference): the authorization code flow
with PKCE (S256 or plain), `state` and `nonce` returned as given, a token
endpoint taking `client_secret_post` or `client_secret_basic` and answering
`{access_token, expires_in, scope, token_type, id_token}`, an RS256 ID token
with `iss, aud, sub, email, email_verified, name, picture, nonce, iat, exp`
(and `azp`), a JWKS and a UserInfo endpoint. Errors at the token endpoint are
OAuth's JSON `{error, error_description}` with 400 or 401.

The page's test controls (`mock_forge`, `mock_nonce`) make the ID token bad
in the ways `signing` lists; the relying party only ever sees the token.
`POST /google/mock/rotate-key` rotates the signing key.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from yarl import URL

from services.mockoidc import page
from services.mockoidc.grants import Grant, GrantError, Grants, Person
from services.mockoidc.settings import Client
from services.mockoidc.signing import FORGERIES, ID_TOKEN_SECONDS, IssuerKeys

PREFIX = "/google"
GRANTS = web.AppKey("google_grants", Grants)
KEYS = web.AppKey("google_keys", IssuerKeys)
CLIENT = web.AppKey("google_client", Client)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_REQUEST_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


def issuer(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{PREFIX}"


def setup(app: web.Application, client: Client) -> None:
    app[GRANTS] = Grants()
    app[KEYS] = IssuerKeys()
    app[CLIENT] = client
    router = app.router
    router.add_get(f"{PREFIX}/.well-known/openid-configuration", discovery)
    router.add_get(f"{PREFIX}/o/oauth2/v2/auth", authorize_page)
    router.add_post(f"{PREFIX}/o/oauth2/v2/auth", authorize)
    router.add_post(f"{PREFIX}/token", token)
    router.add_get(f"{PREFIX}/oauth2/v3/certs", jwks)
    router.add_get(f"{PREFIX}/v1/userinfo", userinfo)
    router.add_post(f"{PREFIX}/mock/rotate-key", rotate_key)  # a test control


async def discovery(request: web.Request) -> web.Response:
    base = issuer(request)
    return web.json_response(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": [
                "aud",
                "email",
                "email_verified",
                "exp",
                "iat",
                "iss",
                "name",
                "picture",
                "sub",
            ],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code"],
        }
    )


def _request_problem(params: Any, client: Client) -> str | None:
    """A problem that must not be redirected back (RFC 6749 4.1.2.1): shown instead."""
    if params.get("client_id") != client.client_id:
        return "The OAuth client was not found (invalid_client)."
    redirect = params.get("redirect_uri", "")
    if URL(redirect).scheme not in {"http", "https"} or not URL(redirect).host:
        return "Missing or invalid redirect_uri (redirect_uri_mismatch)."
    return None


def _redirect_error(params: Any) -> str | None:
    """A problem reported back to the client as `?error=`."""
    if params.get("response_type") != "code":
        return "unsupported_response_type"
    if "openid" not in params.get("scope", "").split():
        return "invalid_scope"
    method = params.get("code_challenge_method")
    if params.get("code_challenge") and method not in {None, "plain", "S256"}:
        return "invalid_request"
    return None


def _back(params: Any, **values: str) -> web.Response:
    query = {**values}
    if params.get("state") is not None:
        query["state"] = params["state"]
    location = URL(params["redirect_uri"]).update_query(query)
    return web.Response(status=302, headers={"Location": str(location), **_NO_STORE})


async def authorize_page(request: web.Request) -> web.Response:
    params = request.query
    problem = _request_problem(params, request.app[CLIENT])
    if problem:
        return page.error_page(problem)
    if error := _redirect_error(params):
        return _back(params, error=error)
    hidden = {name: params[name] for name in _REQUEST_PARAMS if name in params}
    return page.sign_in_form(
        title="Sign in with Google (mock)",
        client_id=params["client_id"],
        hidden=hidden,
        fields=[
            page.Field(
                name="sub",
                label="Subject (sub): stays the same for this person",
                value="1000000000000000001",
            ),
            page.Field(name="email", label="Email", value="alice@example.com"),
            page.Field(name="email_verified", label="Email verified", value="true", checkbox=True),
            page.Field(name="name", label="Name", value="Alice Example"),
            page.Field(name="picture", label="Picture URL", value="https://example.com/alice.png"),
        ],
        forgeries=FORGERIES,
    )


async def authorize(request: web.Request) -> web.Response:
    form = await request.post()
    params = {k: str(v) for k, v in form.items()}
    problem = _request_problem(params, request.app[CLIENT])
    if problem:
        return page.error_page(problem)
    if error := _redirect_error(params):
        return _back(params, error=error)
    if params.get("action") != "allow":
        return _back(params, error="access_denied")
    subject = params.get("sub", "").strip()
    if not subject or len(subject) > 255:
        return page.error_page("sub: 1 to 255 characters")
    person = Person(
        subject=subject,
        email=params.get("email", "").strip(),
        email_verified=params.get("email_verified") == "true",
        name=params.get("name", "").strip(),
        picture=params.get("picture", "").strip(),
    )
    forge = params.get("mock_forge", "")
    grant = Grant(
        client_id=params["client_id"],
        redirect_uri=params["redirect_uri"],
        scope=params.get("scope", ""),
        person=person,
        code_challenge=params.get("code_challenge") or None,
        code_challenge_method=(params.get("code_challenge_method") or "plain")
        if params.get("code_challenge")
        else None,
        nonce=params.get("nonce"),
        forge=forge if forge in FORGERIES else "",
        nonce_override=params.get("mock_nonce") or None,
        issued_at=time.time(),
    )
    code = request.app[GRANTS].issue_code(grant)
    return _back(params, code=code, iss=issuer(request))


def _token_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description}, status=status, headers=_NO_STORE
    )


def _client_credentials(request: web.Request, form: Any) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


async def token(request: web.Request) -> web.Response:
    form = await request.post()
    client = request.app[CLIENT]
    client_id, secret = _client_credentials(request, form)
    if client_id != client.client_id or not secrets.compare_digest(
        secret.encode(), client.client_secret.encode()
    ):
        return _token_error("invalid_client", "The OAuth client was not found.", 401)
    if form.get("grant_type") != "authorization_code":
        return _token_error("unsupported_grant_type", "Invalid grant_type.")
    try:
        grant = request.app[GRANTS].redeem(
            str(form.get("code", "")),
            client_id=client_id,
            redirect_uri=str(form["redirect_uri"]) if "redirect_uri" in form else None,
            verifier=str(form["code_verifier"]) if "code_verifier" in form else None,
        )
    except GrantError as exc:
        return _token_error(exc.error, exc.description)
    access_token = request.app[GRANTS].issue_token(grant)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer(request),
        "azp": grant.client_id,
        "aud": grant.client_id,
        "sub": grant.person.subject,
        "email": grant.person.email,
        "email_verified": grant.person.email_verified,
        "name": grant.person.name,
        "picture": grant.person.picture,
        "iat": now,
        "exp": now + ID_TOKEN_SECONDS,
    }
    nonce = grant.nonce_override or grant.nonce
    if nonce is not None:
        claims["nonce"] = nonce
    id_token = request.app[KEYS].id_token(
        claims, forge=grant.forge, client_secret=client.client_secret
    )
    return web.json_response(
        {
            "access_token": access_token,
            "expires_in": 3599,
            "scope": grant.scope,
            "token_type": "Bearer",
            "id_token": id_token,
        },
        headers=_NO_STORE,
    )


async def jwks(request: web.Request) -> web.Response:
    return web.json_response(request.app[KEYS].jwks(), headers={"Cache-Control": "max-age=300"})


def bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() in {"bearer", "token"} and value.strip() else None


async def userinfo(request: web.Request) -> web.Response:
    access_token = bearer(request)
    grant = request.app[GRANTS].holder(access_token) if access_token else None
    if grant is None:
        return web.json_response(
            {"error": "invalid_token", "error_description": "Invalid Credentials"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    person = grant.person
    return web.json_response(
        {
            "sub": person.subject,
            "email": person.email,
            "email_verified": person.email_verified,
            "name": person.name,
            "picture": person.picture,
        }
    )


async def rotate_key(request: web.Request) -> web.Response:
    request.app[KEYS].rotate()
    return web.Response(status=204)
