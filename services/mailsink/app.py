"""The mail sink application: the page on its port, the SMTP server beside it.

Both run on the application's event loop: the SMTP server is started in a
cleanup context (aiosmtpd's protocol on `loop.create_server`), so the inbox is
touched by one thread only. `SMTP_PORT` holds the bound port (0 picks one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiosmtpd.smtp import SMTP

from services.mailsink import page
from services.mailsink.inbox import Handler, Inbox
from services.mailsink.settings import Settings

SMTP_PORT = web.AppKey("smtp_port", int)


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[page.INBOX] = Inbox(settings.max_messages)
    app.router.add_get("/", page.index)
    app.router.add_get("/messages/{id}/html", page.message_html)
    app.router.add_get("/api/messages", page.messages)
    app.router.add_delete("/api/messages", page.clear)
    app.router.add_get("/healthz", page.healthz)
    app.cleanup_ctx.append(_smtp_server(settings))
    return app


def _smtp_server(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def serve(app: web.Application) -> AsyncIterator[None]:
        handler = Handler(app[page.INBOX])
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="mailsink", ident="Tollgate mail sink"),
            host=settings.host,
            port=settings.smtp_port,
        )
        app[SMTP_PORT] = server.sockets[0].getsockname()[1]
        yield
        server.close()
        await server.wait_closed()

    return serve
