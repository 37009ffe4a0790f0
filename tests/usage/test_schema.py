"""The usage schema holds what DESIGN.md section 8 allows, and nothing else."""

from __future__ import annotations

from typing import Any

RECORD_COLUMNS = {
    "event_id": "text",
    "occurred_at": "timestamp with time zone",
    "user_id": "uuid",
    "key_id": "uuid",
    "model": "text",
    "endpoint": "text",
    "input_tokens": "bigint",
    "output_tokens": "bigint",
    "cache_read_tokens": "bigint",
    "cache_write_tokens": "bigint",
    "reasoning_tokens": "bigint",
    "cost": "numeric",
    "status": "text",
    "http_status": "integer",
    "error_code": "text",
    "latency_ms": "double precision",
    "ttfb_ms": "double precision",
    "client_ip": "inet",
    "user_agent": "text",
    "stream": "boolean",
    "usage_source": "text",
    "channel_id": "uuid",
    "partial": "boolean",
}
DAILY_COLUMNS = {
    "user_id", "day", "model", "requests", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "errors", "cost",
}  # fmt: skip


async def _columns(db: Any, table: str) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'usage' AND table_name = $1",
        table,
    )
    return {row["column_name"]: row["data_type"] for row in rows}


async def test_records_have_exactly_the_allowed_columns(db: Any) -> None:
    assert await _columns(db, "records") == RECORD_COLUMNS


async def test_the_usage_schema_has_only_records_and_daily(db: Any) -> None:
    tables = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'usage'")
    assert {row["tablename"] for row in tables} == {"records", "daily"}
    assert set(await _columns(db, "daily")) == DAILY_COLUMNS


async def test_keys_and_the_pagination_index(db: Any) -> None:
    keys = await db.fetch(
        "SELECT c.conrelid::regclass::text AS tbl, pg_get_constraintdef(c.oid) AS def "
        "FROM pg_constraint c WHERE c.contype = 'p' AND c.connamespace = 'usage'::regnamespace"
    )
    assert {row["tbl"]: row["def"] for row in keys} == {
        "usage.records": "PRIMARY KEY (event_id)",
        "usage.daily": "PRIMARY KEY (user_id, day, model)",
    }
    index = await db.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'usage' "
        "AND indexname = 'records_user_time'"
    )
    assert index.endswith("(user_id, occurred_at DESC, event_id)")
    cost = await db.fetchrow(
        "SELECT numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = 'usage' AND table_name = 'records' AND column_name = 'cost'"
    )
    assert (cost["numeric_precision"], cost["numeric_scale"]) == (30, 12)
