"""Fault-injection controls: headers, model suffixes, and their errors."""

from __future__ import annotations

import pytest

from services.mockprovider.behaviour import DEFAULT_CHUNKS, Behaviour, parse, split_model
from services.mockprovider.errors import BadRequest


def test_defaults_without_controls() -> None:
    assert parse({}, None) == Behaviour(chunks=DEFAULT_CHUNKS)


def test_headers_set_every_control() -> None:
    headers = {
        "x-mock-chunks": "5",
        "x-mock-delay-ms": "20",
        "x-mock-status": "429",
        "x-mock-reset-after": "2",
        "x-mock-stall": "1",
        "x-mock-fixture": "openai_chat/stream_tool_call.sse",
        "x-mock-cache": "READ",
    }
    assert parse(headers, None) == Behaviour(
        chunks=5,
        delay_ms=20,
        status=429,
        reset_after=2,
        stall_after=1,
        fixture="openai_chat/stream_tool_call.sse",
        cache="read",
    )


def test_model_suffix_is_split_and_parsed() -> None:
    base, suffix = split_model("gpt-4o-mini@chunks=5,delay=20,status=500")
    assert base == "gpt-4o-mini"
    assert parse({}, suffix) == Behaviour(chunks=5, delay_ms=20, status=500)


def test_suffix_aliases_and_precedence_over_headers() -> None:
    behaviour = parse({"x-mock-chunks": "9"}, "chunks=3,reset-after=1,delay-ms=7,stall=0")
    assert behaviour == Behaviour(chunks=3, reset_after=1, delay_ms=7, stall_after=0)


def test_an_at_sign_without_controls_is_part_of_the_name() -> None:
    assert split_model("claude-sonnet-4-5@20250929") == ("claude-sonnet-4-5@20250929", None)
    assert split_model("gpt-4o-mini") == ("gpt-4o-mini", None)


@pytest.mark.parametrize(
    ("headers", "suffix", "named"),
    [
        ({"x-mock-chunks": "0"}, None, "x-mock-chunks"),
        ({"x-mock-status": "200"}, None, "x-mock-status"),
        ({"x-mock-delay-ms": "-1"}, None, "x-mock-delay-ms"),
        ({"x-mock-cache": "maybe"}, None, "x-mock-cache"),
        ({}, "chunks=five", "chunks"),
        ({}, "speed=9", "speed=9"),
        ({}, "status", "status"),
        ({}, "fixture=", "fixture"),
    ],
)
def test_bad_controls_are_400s_naming_the_control(
    headers: dict[str, str], suffix: str | None, named: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(headers, suffix)
    assert caught.value.status == 400
    assert named in caught.value.message
