"""Reading a service's `/metrics` as Prometheus does: from its metrics listener.

`/metrics` is not among a service's routes (its public port answers 404);
`shared.metrics.metrics_app` is what the metrics port serves.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared.metrics import metrics_app


async def scrape(app: web.Application | None) -> str:
    """The Prometheus text of the application `app` (a test client's `.app`)."""
    assert app is not None
    async with TestClient(TestServer(metrics_app(app))) as client:
        response = await client.get("/metrics")
        assert response.status == 200, await response.text()
        return await response.text()
