"""The mock OpenID/OAuth provider's application: the Google-like issuer at
`/google`, the GitHub-like server at `/github`, an index page and `/healthz`."""

from __future__ import annotations

from aiohttp import web

from services.mockoidc import github, google
from services.mockoidc.settings import Settings

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Mock OpenID provider · Tollgate dev</title></head>
<body><h1>Mock OpenID provider</h1>
<p>Sign-in buttons of the console land here in development: you sign in as
whoever you type. Nothing is kept but in memory.</p>
<ul><li>Google-like OpenID Connect issuer: <a href="/google/.well-known/openid-configuration">
/google/.well-known/openid-configuration</a></li>
<li>GitHub-like OAuth 2 server: /github/login/oauth/authorize, /github/api/user</li></ul>
</body></html>"""


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    google.setup(app, settings.google)
    github.setup(app, settings.github)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    return app


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text=_INDEX,
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'none'"},
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
