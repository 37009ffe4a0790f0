"""A double of Cloudflare Turnstile's siteverify, over real HTTP, for tests.

`POST /turnstile/v0/siteverify` takes the documented form fields (`secret`,
`response`, `remoteip`, `idempotency_key`) as application/x-www-form-urlencoded
or JSON and answers JSON (`siteverify.answer`). Every request's fields but the
secret are kept in `SEEN`, so a test can see what auth sent. `answer_status`
other than 200 makes it answer that status with an HTML page, as an outage
in front of Cloudflare would.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.mockturnstile.siteverify import Widget, answer

PATH = "/turnstile/v0/siteverify"
SEEN = web.AppKey("seen", list)


def create_app(widget: Widget | None = None, *, answer_status: int = 200) -> web.Application:
    app = web.Application()
    app[SEEN] = []
    chosen = widget or Widget()

    async def siteverify(request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            raw: Any = await request.json()
            form = {k: str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        else:
            form = {k: str(v) for k, v in (await request.post()).items()}
        app[SEEN].append({k: v for k, v in form.items() if k != "secret"})
        if answer_status != 200:
            return web.Response(
                status=answer_status, text="<html>bad gateway</html>", content_type="text/html"
            )
        return web.json_response(answer(chosen, form))

    app.router.add_post(PATH, siteverify)
    return app
