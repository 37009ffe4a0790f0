"""Prompts and completions are relayed, never stored or logged."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest

from tests.conftest import Stack
from tests.relay import relay_for, usage_results
from tests.test_privacy_at_rest import _every_stored_value


async def test_a_prompt_marker_is_in_no_table_and_no_log_line(
    stack: Stack, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    relay = await relay_for(stack)
    marker = f"PRIVATE-MARKER-{secrets.token_hex(8)}"
    headers = {"Authorization": f"Bearer {relay.key}"}
    requests = [
        (
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": marker}]},
        ),
        (
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": marker}],
            },
        ),
        (
            "/v1/messages",
            {
                "model": "claude-haiku-4-5",
                "max_tokens": 20,
                "messages": [{"role": "user", "content": marker}],
            },
        ),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            {"contents": [{"parts": [{"text": marker}]}]},
        ),
        (
            "/v1/chat/completions",
            {"model": "no-such-model", "messages": [{"role": "user", "content": marker}]},
        ),
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": marker}),
    ]
    for path, body in requests:
        response = await stack.gateway.post(path, json=body, headers=headers)
        await response.read()
    assert len(await usage_results(caplog)) == len(requests)
    for record in caplog.records:
        assert marker not in record.getMessage()
        assert marker not in str(record.__dict__), record.name
    for column, value in await _every_stored_value(db):
        assert marker not in value, column
