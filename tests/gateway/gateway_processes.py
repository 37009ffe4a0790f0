"""Real gateway processes (`python -m services.gateway`), as an operator runs
them, sharing the test run's PostgreSQL and Redis: for what must hold across
replicas (limits, suspension, propagation of changes)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from tests.conftest import INTERNAL_TOKEN, SECRET_KEYS, Stack
from tests.ports import free_ports
from tests.processes import ServiceProcess


def gateway_environment(stack: Stack, port: int, data_dir: Path, **extra: str) -> dict[str, str]:
    """A gateway process's environment, as an operator gives it, sharing the stack's stores."""
    settings = stack.gateway_settings
    return {
        **os.environ,
        "TOLLGATE_ENV": "production",
        "TOLLGATE_DATA_DIR": str(data_dir),
        "DATABASE_URL": settings.common.database_url,
        "REDIS_URL": settings.common.redis_url,
        "TOLLGATE_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "TOLLGATE_SECRET_KEYS": ",".join(SECRET_KEYS),
        "TOLLGATE_JWT_ISSUER": settings.jwt_issuer,
        "AUTH_URL": settings.auth_url,
        "BILLING_URL": settings.billing_url,
        "USAGE_URL": settings.usage_url,
        "GATEWAY_PORT": str(port),
        "GATEWAY_METRICS_PORT": "0",  # not scraped; two gateways would share the default
        "GATEWAY_SPOOL_DIR": str(data_dir / f"spool-{port}"),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@asynccontextmanager
async def gateway_processes(
    stack: Stack, data_dir: Path, count: int, **extra_env: str
) -> AsyncIterator[list[ServiceProcess]]:
    """`count` real gateway processes (`python -m services.gateway`), started; killed after."""
    async with AsyncExitStack() as exits:
        started = []
        for port in free_ports(count):
            process = ServiceProcess(
                "gateway",
                port,
                env=gateway_environment(stack, port, data_dir, **extra_env),
                log=data_dir / f"gateway-{port}.log",
            )
            exits.push_async_callback(process.kill)
            started.append(process)
        await asyncio.gather(*(process.start() for process in started))
        yield started
