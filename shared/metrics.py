"""Prometheus metrics: a registry per application, HTTP server metrics, `/metrics`.

A registry per application (not the global one) lets tests build many apps in
one process. The route label is the matched route's template, never the raw
path, so label cardinality stays bounded. `/metrics` is served by an
application of its own (`metrics_app`), listening on the metrics port only
(see `shared/service.py`), never among a service's routes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.exposition import generate_latest

from shared.loop_metrics import LoopCounter, LoopHistogram
from shared.response_headers import stamp


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = LoopCounter(
            "http_server_requests",
            "HTTP requests served, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = LoopHistogram(
            "http_server_request_duration_seconds",
            "Time to produce the response head, by route template.",
            ["route", "method"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # Run before every scrape: work that counts what was already answered
        # (the gateway records a request's result just after its answer).
        self.before_scrape: list[Callable[[], None]] = []


METRICS = web.AppKey("metrics", HttpMetrics)


def route_label(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response: web.StreamResponse = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics = request.app[METRICS]
        route = route_label(request)
        metrics.requests.labels(route, request.method, str(status)).inc()
        metrics.duration.labels(route, request.method).observe(time.perf_counter() - started)


async def metrics_handler(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    for catch_up in metrics.before_scrape:
        catch_up()
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_app(served: web.Application) -> web.Application:
    """The application the metrics port serves: `GET /metrics` of `served`, nothing else."""
    app = web.Application()
    app[METRICS] = served[METRICS]
    app.on_response_prepare.append(stamp)
    app.router.add_get("/metrics", metrics_handler)
    return app
