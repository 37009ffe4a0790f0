"""Helpers of the usage HTTP tests: record events, read pages through the gateway."""

from __future__ import annotations

from typing import Any

from services.usage.recording import record_batch
from shared.service import DB
from shared.usage_event import read
from tests.accounts import Account, Client
from tests.conftest import Stack


async def record(stack: Stack, events: list[dict[str, Any]]) -> None:
    """Record events with the usage service's own pool, as its consumer does."""
    await record_batch(stack.usage.app[DB], [read(event) for event in events])


async def get_json(client: Client, path: str, account: Account, **query: str) -> Any:
    """The JSON body of a 200 answer to `GET path?query`."""
    return await get_answer(client, path, account, 200, query)


async def get_answer(
    client: Client, path: str, account: Account, status: int, query: dict[str, str]
) -> Any:
    """The JSON body of `GET path?query`, which must answer `status`."""
    response = await client.get(path, params=query, headers=account.headers)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def every_page(client: Client, account: Account, **query: str) -> list[list[str]]:
    """The event ids of every page, following next_cursor to the end."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        asked = {**query, **({"cursor": cursor} if cursor else {})}
        body = await get_json(client, "/api/usage", account, **asked)
        pages.append([record["event_id"] for record in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 1000, "pagination does not end"
