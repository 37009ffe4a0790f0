"""The overview: who is signed in, the balance, held and available amounts."""

from __future__ import annotations

from aiohttp import web

from services.console.api_client import call
from services.console.render import render, signed_in


async def overview(request: web.Request) -> web.StreamResponse:
    visitor = await signed_in(request)
    balance = await call(request, "GET", "/api/billing/balance")
    return render(
        request,
        "overview.html",
        {**visitor.context(), "balance": balance.body if balance.ok else None},
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", overview)
