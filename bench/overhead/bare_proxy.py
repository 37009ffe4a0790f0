"""The floor: the least an aiohttp pass-through proxy can do.

    python -m bench.overhead.bare_proxy --port P

`/{upstream port}/{path}` is relayed to `http://127.0.0.1:{upstream port}/{path}`
(one instance serves both mock upstreams). One shared `ClientSession`; the
request's headers are copied minus the hop-by-hop ones, the body forwarded
as read, the answer's status and headers copied (minus hop-by-hop and
framing) and its body streamed back chunk by chunk through a
`StreamResponse`. No authentication, no metering, no logging, no metrics:
whatever the gateway costs above this is the price of its features. Served
the way the gateway is (`web.AppRunner`, `web.TCPSite`, uvloop where
installed), with no access log.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator, Mapping

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from shared.service import event_loop_factory

SESSION = web.AppKey("session", aiohttp.ClientSession)
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def _kept(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict(
        (name, value) for name, value in headers.items() if name.lower() not in HOP_BY_HOP
    )


async def relay(request: web.Request) -> web.StreamResponse:
    url = f"http://127.0.0.1:{request.match_info['port']}/{request.match_info['tail']}"
    body = await request.read()
    async with request.app[SESSION].request(
        request.method, url, data=body, headers=_kept(request.headers), allow_redirects=False
    ) as upstream:
        response = web.StreamResponse(status=upstream.status, headers=_kept(upstream.headers))
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client hung up mid-answer (a load generator stopping)
        return response


async def _session(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        app[SESSION] = session
        yield


def create_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(_session)
    app.router.add_route("*", r"/{port:\d+}/{tail:.*}", relay)
    return app


async def serve(host: str, port: int) -> None:
    runner = web.AppRunner(create_app(), access_log=None, handler_cancellation=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="a bare aiohttp pass-through proxy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve(arguments.host, arguments.port))


if __name__ == "__main__":
    main()
