"""What every Tollgate service has: middlewares, health, metrics, stores.

`base_app` builds the application shell a service adds its routes to. The
PostgreSQL pool and the Redis client are each one cleanup context, kept under
typed app keys. `/healthz` says the process is up; `/readyz` says its
PostgreSQL and Redis answer; every answer carries the headers of
`response_headers`. `run` serves one process; with `TOLLGATE_REUSE_PORT`
several processes of a service share its port (and its metrics port).

`/metrics` is not on the service's port: `serving` opens a second listener,
`metrics_host:metrics_port` (127.0.0.1 and 9180 to 9183 by default, none in
dev mode unless set; compose binds it inside the stack's network,
unpublished), that serves only `/metrics`, where Prometheus scrapes it.
Channel names, breaker states and per-model counts are the operator's, not
the public's: the gateway's public port, which any client reaches, answers
`/metrics` with 404. Both listeners run `http_server`'s protocol (a
head-read timeout, malformed HTTP answered in JSON).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from shared import db, http_server, logs, redis_conn
from shared.errors import ServiceUnavailable, error_middleware
from shared.internal import INTERNAL_TOKEN, internal_token_middleware
from shared.metrics import METRICS, HttpMetrics, metrics_app, metrics_middleware
from shared.request_id import request_id_middleware
from shared.response_headers import stamp
from shared.settings import Common, SettingsError

DB = web.AppKey("db", Any)  # an asyncpg.Pool; asyncpg ships no type information
REDIS = web.AppKey("redis", redis_conn.Redis)
SERVICE_NAME = web.AppKey("service_name", str)


def base_app(
    name: str,
    common: Common,
    *,
    internal: bool,
    middlewares: tuple[Any, ...] = (),
    client_max_size: int = 1024 * 1024,
) -> web.Application:
    # Internal services take the gateway's request id; the public edge makes its own.
    request_ids = request_id_middleware(trust_caller=internal)
    stack: list[Any] = [metrics_middleware, request_ids, error_middleware]
    if internal:
        stack.append(internal_token_middleware)
    stack.extend(middlewares)
    app = web.Application(middlewares=stack, client_max_size=client_max_size)
    app[SERVICE_NAME] = name
    app[INTERNAL_TOKEN] = common.internal_token
    app[METRICS] = HttpMetrics(CollectorRegistry())
    app.cleanup_ctx.append(_stores(common))
    app.on_response_prepare.append(stamp)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def _stores(
    common: Common,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def stores(app: web.Application) -> AsyncIterator[None]:
        async with db.pool(common.database_url) as pool, redis_conn.client(common.redis_url) as r:
            app[DB] = pool
            app[REDIS] = r
            yield

    return stores


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE_NAME]})


async def readyz(request: web.Request) -> web.Response:
    postgres, redis_ok = await asyncio.gather(
        db.ping(request.app[DB]), redis_conn.ping(request.app[REDIS])
    )
    ready = postgres and redis_ok
    return web.json_response(
        {
            "status": "ready" if ready else "not ready",
            "postgres": "ok" if postgres else "down",
            "redis": "ok" if redis_ok else "down",
        },
        status=200 if ready else 503,
    )


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (Linux, macOS), else asyncio's own.

    uvloop serves the same aiohttp code with markedly less CPU per request.
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(app: web.Application, common: Common, service: str) -> None:
    """Serve until SIGINT or SIGTERM, with JSON access logs."""
    logs.configure(service, common.log_level)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(_serve(app, common))
    except (SettingsError, ServiceUnavailable, OSError) as exc:
        # Found at start-up (a key that does not decrypt, a store that does
        # not answer, a port already taken): one clear line, not a traceback.
        sys.exit(f"{service}: cannot start: {exc}")


async def _serve(app: web.Application, common: Common) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serving(app, common):
        logging.getLogger(__name__).info(
            "serving",
            extra={"host": common.host, "port": common.port, "metrics_port": common.metrics_port},
        )
        # What start-up made (modules, tables, pools) lives as long as the
        # process: out of the collector's sight, full collections under load
        # scan only what requests allocate.
        gc.freeze()
        await stop.wait()


@asynccontextmanager
async def serving(app: web.Application, common: Common) -> AsyncIterator[None]:
    """`app` on `common.host:port`, its `/metrics` on `metrics_host:metrics_port`.

    Not web.run_app: when start-up fails half-way, it leaves the contexts
    already entered (pools, clients) to the garbage collector.
    handler_cancellation: a client that hangs up cancels its handler, so the
    relay closes the upstream request at once instead of streaming to no one.
    """
    runner = http_server.Runner(
        app,
        head_timeout=common.head_timeout,
        access_log_class=logs.AccessLogger,
        shutdown_timeout=10,
        handler_cancellation=True,
    )
    # Scrapes are not logged: one line per service every 15 s says nothing.
    scrapes = http_server.Runner(
        metrics_app(app), head_timeout=common.head_timeout, access_log=None
    )
    try:
        await runner.setup()
        await web.TCPSite(runner, common.host, common.port, reuse_port=common.reuse_port).start()
        if common.metrics_port:
            await scrapes.setup()
            await web.TCPSite(
                scrapes, common.metrics_host, common.metrics_port, reuse_port=common.reuse_port
            ).start()
        yield
    finally:
        if scrapes.server is not None:
            await scrapes.cleanup()
        await runner.cleanup()
