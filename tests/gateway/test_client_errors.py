"""Errors in each client's own format, and upstream messages made safe to pass on.

Whole error bodies are decoded and checked for each provider's shape. Stream
error events are parsed with the gateway's own SSE parser, and then fed to
the official SDKs (openai, anthropic, google-genai) through an in-memory
transport, to prove each SDK raises on them rather than ending quietly. No
sockets, no event loop.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import openai
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from services.gateway.relay.apis import Api, Family
from services.gateway.relay.client_errors import (
    MAX_MESSAGE_LENGTH,
    error_body,
    safe_message,
    stream_error_event,
)
from services.gateway.relay.sse import SseEvent, SseParser

STATUSES = [400, 401, 402, 403, 404, 405, 409, 413, 422, 429, 499, 500, 502, 503, 504, 529]


def decode(body: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = orjson.loads(body)
    return decoded


def one_event(raw: bytes) -> SseEvent:
    parser = SseParser()
    events = parser.feed(raw) + parser.close()
    assert len(events) == 1
    assert events[0].raw == raw
    return events[0]


# ---- whole bodies --------------------------------------------------------------


@pytest.mark.parametrize("status", STATUSES)
def test_openai_bodies(status: int) -> None:
    body = decode(error_body(Family.OPENAI, status, "Something failed."))
    assert list(body) == ["error"]
    error = body["error"]
    assert list(error) == ["message", "type", "param", "code"]
    assert error["message"] == "Something failed."
    assert error["param"] is None
    assert isinstance(error["type"], str)
    if status >= 500:
        assert error["type"] == "server_error"


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (400, "invalid_request_error", None),
        (401, "authentication_error", None),
        (402, "insufficient_quota", "insufficient_quota"),
        (403, "permission_error", None),
        (404, "not_found_error", None),
        (413, "invalid_request_error", None),
        (422, "invalid_request_error", None),
        (429, "rate_limit_error", "rate_limit_exceeded"),
        (500, "server_error", None),
        (502, "server_error", None),
        (503, "server_error", None),
        (504, "server_error", None),
    ],
)
def test_openai_types_and_default_codes(status: int, kind: str, code: str | None) -> None:
    error = decode(error_body(Family.OPENAI, status, "m"))["error"]
    assert (error["type"], error["code"]) == (kind, code)


def test_openai_code_is_the_callers() -> None:
    body = error_body(Family.OPENAI, 404, "The model `x` does not exist.", code="model_not_found")
    assert decode(body)["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("status", STATUSES)
def test_anthropic_bodies(status: int) -> None:
    body = decode(error_body(Family.ANTHROPIC, status, "Something failed."))
    assert body["type"] == "error"
    assert body["error"]["message"] == "Something failed."
    assert set(body["error"]) == {"type", "message"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
        (418, "invalid_request_error"),
        (507, "api_error"),
    ],
)
def test_anthropic_types(status: int, kind: str) -> None:
    assert decode(error_body(Family.ANTHROPIC, status, "m"))["error"]["type"] == kind


@pytest.mark.parametrize("status", STATUSES)
def test_gemini_bodies(status: int) -> None:
    body = decode(error_body(Family.GEMINI, status, "Something failed."))
    assert list(body) == ["error"]
    error = body["error"]
    assert (error["code"], error["message"]) == (status, "Something failed.")
    assert error["status"].isupper()


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (402, "FAILED_PRECONDITION"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (413, "INVALID_ARGUMENT"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (502, "UNAVAILABLE"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
        (418, "INVALID_ARGUMENT"),
        (507, "INTERNAL"),
    ],
)
def test_gemini_statuses(status: int, name: str) -> None:
    assert decode(error_body(Family.GEMINI, status, "m"))["error"]["status"] == name


def test_messages_are_json_escaped_not_interpreted() -> None:
    message = 'quote " backslash \\ newline \n </script> ünïcode'
    for family in Family:
        body = error_body(family, 400, message)
        error = decode(body)["error"]
        assert error["message"] == message


# ---- stream error events -------------------------------------------------------


def test_openai_chat_stream_error_event() -> None:
    raw = stream_error_event(Api.OPENAI_CHAT, "The upstream failed.")
    assert raw.startswith(b"data: ") and raw.endswith(b"\n\n")
    event = one_event(raw)
    assert event.event is None
    assert decode(event.data) == {
        "error": {
            "message": "The upstream failed.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


def test_openai_responses_stream_error_event_has_flat_and_nested_fields() -> None:
    raw = stream_error_event(
        Api.OPENAI_RESPONSES, "Too many requests.", status=429, sequence_number=17
    )
    event = one_event(raw)
    assert event.event == "error"
    payload = decode(event.data)
    assert payload == {
        "type": "error",
        "code": "rate_limit_exceeded",
        "message": "Too many requests.",
        "param": None,
        "sequence_number": 17,
        "error": {
            "message": "Too many requests.",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        },
    }


def test_openai_responses_sequence_number_defaults_to_zero_and_code_to_the_type() -> None:
    payload = decode(one_event(stream_error_event(Api.OPENAI_RESPONSES, "x")).data)
    assert (payload["sequence_number"], payload["code"]) == (0, "server_error")


@pytest.mark.parametrize(
    ("status", "kind"), [(502, "api_error"), (503, "overloaded_error"), (529, "overloaded_error")]
)
def test_anthropic_stream_error_event(status: int, kind: str) -> None:
    raw = stream_error_event(Api.ANTHROPIC_MESSAGES, "Overloaded", status=status)
    assert raw.startswith(b"event: error\ndata: ")
    event = one_event(raw)
    assert event.event == "error"
    assert decode(event.data) == {"type": "error", "error": {"type": kind, "message": "Overloaded"}}


@pytest.mark.parametrize("api", [Api.GEMINI_STREAM, Api.GEMINI_GENERATE])
def test_gemini_stream_error_event_uses_crlf_and_error_first(api: Api) -> None:
    raw = stream_error_event(api, "Deadline exceeded.", status=504)
    assert raw.startswith(b'data: {"error":') and raw.endswith(b"\r\n\r\n")
    assert b"\n\n" not in raw
    event = one_event(raw)
    assert decode(event.data) == {
        "error": {"code": 504, "message": "Deadline exceeded.", "status": "DEADLINE_EXCEEDED"}
    }


def test_apis_that_never_stream_still_get_their_familys_event() -> None:
    openai_event = one_event(stream_error_event(Api.OPENAI_EMBEDDINGS, "x"))
    assert decode(openai_event.data)["error"]["message"] == "x"
    anthropic_event = one_event(stream_error_event(Api.ANTHROPIC_COUNT_TOKENS, "x"))
    assert anthropic_event.event == "error"
    gemini_event = one_event(stream_error_event(Api.GEMINI_COUNT_TOKENS, "x"))
    assert decode(gemini_event.data)["error"]["code"] == 502


def test_an_error_event_after_relayed_events_parses_as_its_own_event() -> None:
    relayed = b'event: message_start\ndata: {"type":"message_start"}\n\n'
    parser = SseParser()
    events = parser.feed(relayed + stream_error_event(Api.ANTHROPIC_MESSAGES, "x"))
    assert [event.event for event in events + parser.close()] == ["message_start", "error"]


# ---- the official SDKs raise on them -------------------------------------------


def sse_client(body: bytes) -> httpx2.Client:
    """An HTTP client whose every request is answered 200 with `body` as SSE."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx2.Client(transport=httpx2.MockTransport(answer))


CHAT_CHUNK = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
    }
)
GEMINI_CHUNK = orjson.dumps(
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}]}
)


def test_the_openai_sdk_raises_on_the_chat_error_event() -> None:
    body = b"data: " + CHAT_CHUNK + b"\n\n" + stream_error_event(Api.OPENAI_CHAT, "Cut short.")
    received: list[str | None] = []
    with sse_client(body) as http:
        client = openai.OpenAI(api_key="tg-x", base_url="http://gw/v1", http_client=http)
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        with pytest.raises(openai.APIError, match="Cut short.") as raised:
            for chunk in stream:
                received.append(chunk.choices[0].delta.content)
    assert received == ["Hel"]
    assert raised.value.body == {
        "message": "Cut short.",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_the_openai_sdk_raises_on_the_responses_error_event() -> None:
    body = stream_error_event(Api.OPENAI_RESPONSES, "Cut short.", sequence_number=4)
    with sse_client(body) as http:
        client = openai.OpenAI(api_key="tg-x", base_url="http://gw/v1", http_client=http)
        with pytest.raises(openai.APIError, match="Cut short."):
            for _ in client.responses.create(model="gpt-5", input="Hi", stream=True):
                pass
        with pytest.raises(openai.APIError, match="Cut short."):
            with client.responses.stream(model="gpt-5", input="Hi") as events:
                events.until_done()


def test_the_anthropic_sdk_raises_on_the_error_event() -> None:
    body = stream_error_event(Api.ANTHROPIC_MESSAGES, "Overloaded", status=529)
    with sse_client(body) as http:
        client = anthropic.Anthropic(api_key="tg-x", base_url="http://gw", http_client=http)
        stream = client.messages.create(
            model="claude-mock",  # a name the SDK does not warn about
            max_tokens=10,
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
        )
        with pytest.raises(anthropic.APIStatusError) as raised:
            for _ in stream:
                pass
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


@pytest.mark.parametrize(
    ("status", "raised_type"), [(503, genai_errors.ServerError), (429, genai_errors.ClientError)]
)
def test_the_google_genai_sdk_raises_on_the_error_event(
    status: int, raised_type: type[genai_errors.APIError]
) -> None:
    first = b"data: " + GEMINI_CHUNK + b"\r\n\r\n"
    body = first + stream_error_event(Api.GEMINI_STREAM, "Try later.", status=status)
    received: list[str | None] = []
    with sse_client(body) as http:
        options = genai_types.HttpOptions(base_url="http://gw", httpx_client=http)
        client = genai.Client(api_key="tg-x", http_options=options)
        with pytest.raises(raised_type) as raised:
            for response in client.models.generate_content_stream(
                model="gemini-2.5-flash", contents="Hi"
            ):
                received.append(response.text)
    assert received == ["Hel"]
    assert (raised.value.code, raised.value.message) == (status, "Try later.")


# ---- safe_message --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Incorrect API key provided: sk-proj-abc***wxyz. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "Incorrect API key provided: [key]. You can find your API key at [url].",
        ),
        ("see http://10.0.0.7:9000/v1/chat (internal)", "see [url] (internal)"),
        (
            "Cannot connect to host mock:9000 ssl:default",
            "Cannot connect to host [address] ssl:default",
        ),
        ("connect to 192.168.1.20:8443 failed", "connect to [address] failed"),
        ("from 172.17.0.1 refused", "from [address] refused"),
        ("via [fd00::1]:8080 down", "via [address] down"),
        ("api.openai.com:443 timed out", "[address] timed out"),
        ("localhost:8082 refused", "[address] refused"),
        (
            "header Authorization: Bearer abc.def-ghi was rejected",
            "header Authorization: [key] was rejected",
        ),
        ("key tg-AbCdEf0123456789xyz revoked", "key [key] revoked"),
        ("API key not valid: AIzaSyD-abcdefghijklmnopqrstuvwxyz01234", "API key not valid: [key]"),
        ("sk-ant-api03-AAAA_bbbb-CCCC", "[key]"),
        ("Overloaded", "Overloaded"),
        ("a risk-free task-force at 12:30", "a risk-free task-force at 12:30"),
        ("line one\n\tline two  ", "line one line two"),
    ],
)
def test_safe_message_redacts(text: str, expected: str) -> None:
    assert safe_message(text) == expected


def test_safe_message_truncates_after_redacting() -> None:
    text = "x" * 490 + " sk-" + "k" * 40 + " " + "y" * 600
    cleaned = safe_message(text)
    assert len(cleaned) == MAX_MESSAGE_LENGTH
    assert cleaned.endswith("…")
    assert "[key]" in cleaned and "kkkk" not in cleaned
    assert safe_message("short") == "short"
    assert len(safe_message("z" * MAX_MESSAGE_LENGTH)) == MAX_MESSAGE_LENGTH


def test_safe_message_is_fast_on_hostile_input() -> None:
    for text in ("a-" * 100_000, "[" + ":" * 100_000, "http://" * 20_000, "1." * 100_000):
        assert len(safe_message(text)) <= MAX_MESSAGE_LENGTH
