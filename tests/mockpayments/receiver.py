"""A webhook receiver for the mock payment provider's tests: it records every
post (headers and raw body) and answers the statuses it is told to, in turn."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        return app

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        async with self.arrived:
            self.received.append(Received(dict(request.headers), body))
            self.arrived.notify_all()
        return web.Response(status=status, text="ok" if status < 300 else "no")

    async def wait_for(self, count: int, seconds: float = 10) -> list[Received]:
        async with asyncio.timeout(seconds), self.arrived:
            await self.arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)
