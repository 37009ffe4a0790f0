"""Reading client request bodies: each API's happy path, each bad input, the rewrites.

No event loop: `wire` does no IO. Every bad body must raise `WireError` with a
4xx hint and a message a person can act on, never another exception.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.gateway.metering.stream_usage import STREAMING_APIS
from services.gateway.relay.apis import Api, Family
from services.gateway.relay.wire import (
    Inspected,
    WireError,
    inspect,
    upstream_path,
    upstream_query,
    with_model,
)

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
RESPONSES = {"model": "gpt-5", "input": "Hi"}
EMBEDDINGS = {"model": "text-embedding-3-small", "input": ["a", "b"]}
MESSAGES = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Hi"}],
}
GEMINI = {
    "contents": [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello"}]},
        {"role": "user", "parts": [{"text": "Again"}]},
    ],
    "generationConfig": {"maxOutputTokens": 256},
}


def dumps(fields: dict[str, Any]) -> bytes:
    return orjson.dumps(fields)


def bad(api: Api, body: bytes, **options: Any) -> WireError:
    with pytest.raises(WireError) as raised:
        inspect(api, body, **options)
    return raised.value


# ---- Api and Family ------------------------------------------------------------


def test_every_api_has_a_family() -> None:
    assert Api.OPENAI_CHAT.family is Family.OPENAI
    assert Api.OPENAI_RESPONSES.family is Family.OPENAI
    assert Api.OPENAI_EMBEDDINGS.family is Family.OPENAI
    assert Api.ANTHROPIC_MESSAGES.family is Family.ANTHROPIC
    assert Api.ANTHROPIC_COUNT_TOKENS.family is Family.ANTHROPIC
    for api in (Api.GEMINI_GENERATE, Api.GEMINI_STREAM, Api.GEMINI_COUNT_TOKENS):
        assert api.family is Family.GEMINI


def test_tracker_names_are_the_usage_modules_and_none_for_apis_that_never_stream() -> None:
    names = {api: api.tracker_name for api in Api}
    assert {name for name in names.values() if name is not None} == STREAMING_APIS
    assert names[Api.OPENAI_CHAT] == "openai_chat"
    assert names[Api.GEMINI_STREAM] == "gemini"
    for api in (Api.OPENAI_EMBEDDINGS, Api.ANTHROPIC_COUNT_TOKENS, Api.GEMINI_COUNT_TOKENS):
        assert names[api] is None


def test_api_values_are_their_names() -> None:
    assert Api("anthropic_count_tokens") is Api.ANTHROPIC_COUNT_TOKENS
    assert str(Api.GEMINI_STREAM) == "gemini_stream"
    assert str(Family.OPENAI) == "openai"


# ---- happy paths ---------------------------------------------------------------


def test_openai_chat_without_streaming_is_forwarded_as_the_same_bytes() -> None:
    body = dumps({**CHAT, "max_tokens": 50})
    inspected = inspect(Api.OPENAI_CHAT, body)
    assert inspected == Inspected(
        model="gpt-4o-mini",
        stream=False,
        body=body,
        hidden_usage=False,
        max_output_tokens=50,
        prompt_bytes=len(body),
    )
    assert inspected.body is body


def test_openai_chat_prefers_max_completion_tokens() -> None:
    body = dumps({**CHAT, "max_completion_tokens": 70, "max_tokens": 50})
    assert inspect(Api.OPENAI_CHAT, body).max_output_tokens == 70
    assert inspect(Api.OPENAI_CHAT, dumps(CHAT)).max_output_tokens is None
    assert inspect(Api.OPENAI_CHAT, dumps({**CHAT, "max_tokens": None})).max_output_tokens is None


def test_openai_responses() -> None:
    body = dumps({**RESPONSES, "stream": True, "max_output_tokens": 300})
    inspected = inspect(Api.OPENAI_RESPONSES, body)
    assert (inspected.model, inspected.stream, inspected.max_output_tokens) == ("gpt-5", True, 300)
    assert inspected.body is body
    assert not inspected.hidden_usage
    listed = dumps({"model": "gpt-5", "input": [{"role": "user", "content": "Hi"}]})
    assert inspect(Api.OPENAI_RESPONSES, listed).stream is False


def test_openai_responses_may_name_a_stored_prompt_instead_of_input() -> None:
    body = dumps({"model": "gpt-5", "prompt": {"id": "pmpt_1"}})
    assert inspect(Api.OPENAI_RESPONSES, body).model == "gpt-5"


def test_openai_embeddings_never_stream() -> None:
    body = dumps({**EMBEDDINGS, "stream": True})
    inspected = inspect(Api.OPENAI_EMBEDDINGS, body)
    assert (inspected.model, inspected.stream, inspected.max_output_tokens) == (
        "text-embedding-3-small",
        False,
        None,
    )
    assert inspect(Api.OPENAI_EMBEDDINGS, dumps({**EMBEDDINGS, "input": "one"})).body


def test_anthropic_messages() -> None:
    body = dumps({**MESSAGES, "stream": True})
    inspected = inspect(Api.ANTHROPIC_MESSAGES, body)
    assert (inspected.model, inspected.stream, inspected.max_output_tokens) == (
        "claude-sonnet-4-5",
        True,
        1024,
    )
    assert inspected.body is body
    assert not inspected.hidden_usage


def test_anthropic_count_tokens_never_streams_and_has_no_output_cap() -> None:
    body = dumps({"model": "claude-sonnet-4-5", "messages": [], "stream": True})
    inspected = inspect(Api.ANTHROPIC_COUNT_TOKENS, body)
    assert (inspected.stream, inspected.max_output_tokens) == (False, None)


@pytest.mark.parametrize("path_model", ["gemini-2.5-flash", "models/gemini-2.5-flash"])
def test_gemini_takes_the_model_from_the_path(path_model: str) -> None:
    body = dumps(GEMINI)
    inspected = inspect(Api.GEMINI_GENERATE, body, path_model=path_model)
    assert inspected.model == "gemini-2.5-flash"
    assert (inspected.stream, inspected.max_output_tokens) == (False, 256)
    # Turns say "role": "model" many times; that is no reason to re-encode.
    assert inspected.body is body


def test_gemini_stream_always_streams_and_generate_streams_when_the_url_asks() -> None:
    body = dumps({"contents": []})
    assert inspect(Api.GEMINI_STREAM, body, path_model="gemini-2.5-pro").stream is True
    generate = inspect(Api.GEMINI_GENERATE, body, path_model="m", stream_query=True)
    assert generate.stream is True
    assert inspect(Api.GEMINI_COUNT_TOKENS, body, path_model="m", stream_query=True).stream is False


def test_gemini_reads_snake_case_output_caps_too() -> None:
    body = dumps({"contents": [], "generation_config": {"max_output_tokens": 99}})
    assert inspect(Api.GEMINI_GENERATE, body, path_model="m").max_output_tokens == 99


def test_gemini_count_tokens_takes_contents_or_a_whole_request() -> None:
    whole = dumps({"generateContentRequest": {"model": "models/m", "contents": []}})
    assert inspect(Api.GEMINI_COUNT_TOKENS, whole, path_model="m").max_output_tokens is None
    assert inspect(Api.GEMINI_COUNT_TOKENS, dumps({"contents": []}), path_model="m")


def test_prompt_bytes_is_the_client_body_length_even_when_rewritten() -> None:
    body = dumps({**CHAT, "stream": True})
    inspected = inspect(Api.OPENAI_CHAT, body)
    assert inspected.prompt_bytes == len(body)
    assert len(inspected.body) > len(body)


# ---- include_usage -------------------------------------------------------------


def test_a_chat_stream_asks_for_usage_and_hides_it() -> None:
    body = dumps({**CHAT, "stream": True})
    inspected = inspect(Api.OPENAI_CHAT, body)
    assert inspected.stream and inspected.hidden_usage
    sent = orjson.loads(inspected.body)
    assert sent["stream_options"] == {"include_usage": True}
    assert {key: value for key, value in sent.items() if key != "stream_options"} == {
        **CHAT,
        "stream": True,
    }


def test_include_usage_keeps_the_other_stream_options() -> None:
    for include_usage in (False, None):
        options = {"include_obfuscation": False, "include_usage": include_usage}
        body = dumps({**CHAT, "stream": True, "stream_options": options})
        inspected = inspect(Api.OPENAI_CHAT, body)
        assert inspected.hidden_usage
        assert orjson.loads(inspected.body)["stream_options"] == {
            "include_obfuscation": False,
            "include_usage": True,
        }
    body = dumps({**CHAT, "stream": True, "stream_options": None})
    assert orjson.loads(inspect(Api.OPENAI_CHAT, body).body)["stream_options"] == {
        "include_usage": True
    }


def test_a_client_that_asked_for_usage_gets_its_own_bytes_and_sees_the_chunk() -> None:
    body = dumps({**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    inspected = inspect(Api.OPENAI_CHAT, body)
    assert inspected.body is body
    assert not inspected.hidden_usage


def test_only_chat_streams_get_include_usage() -> None:
    for api, fields in (
        (Api.OPENAI_CHAT, CHAT),
        (Api.OPENAI_RESPONSES, {**RESPONSES, "stream": True}),
        (Api.ANTHROPIC_MESSAGES, {**MESSAGES, "stream": True}),
    ):
        body = dumps(fields)
        inspected = inspect(api, body)
        assert inspected.body is body and not inspected.hidden_usage


# ---- answers asked for -----------------------------------------------------------


def test_choices_are_read_where_an_api_has_them() -> None:
    assert inspect(Api.OPENAI_CHAT, dumps(CHAT)).choices == 1
    assert inspect(Api.OPENAI_CHAT, dumps({**CHAT, "n": 4})).choices == 4
    assert inspect(Api.OPENAI_CHAT, dumps({**CHAT, "n": None})).choices == 1
    config = {"candidateCount": 3, "maxOutputTokens": 20}
    gemini = inspect(
        Api.GEMINI_GENERATE, dumps({**GEMINI, "generationConfig": config}), path_model="gemini-x"
    )
    assert (gemini.choices, gemini.max_output_tokens) == (3, 20)
    snake = dumps({**GEMINI, "generation_config": {"candidate_count": 2}})
    assert inspect(Api.GEMINI_STREAM, snake, path_model="gemini-x").choices == 2
    # `n` means nothing to the other APIs: their upstreams give one answer.
    assert inspect(Api.OPENAI_RESPONSES, dumps({**RESPONSES, "n": 5})).choices == 1


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
def test_a_choice_count_that_is_not_a_positive_integer_is_refused(value: Any) -> None:
    assert (
        "n: must be a positive integer" in bad(Api.OPENAI_CHAT, dumps({**CHAT, "n": value})).message
    )


def test_a_duplicated_choice_count_is_resolved_before_it_goes_upstream() -> None:
    # The gateway holds for the count it read; the upstream must read the same one.
    body = b'{"model": "gpt-4o-mini", "n": 1, "n": 8, "messages": []}'
    inspected = inspect(Api.OPENAI_CHAT, body)
    assert inspected.choices == 8
    assert orjson.loads(inspected.body)["n"] == 8 and inspected.body.count(b'"n"') == 1


# ---- ambiguous bodies ----------------------------------------------------------


def test_a_duplicated_model_key_is_resolved_before_it_goes_upstream() -> None:
    body = b'{"model": "gpt-5", "model": "gpt-4o-mini", "messages": []}'
    inspected = inspect(Api.OPENAI_CHAT, body)
    assert inspected.model == "gpt-4o-mini"
    assert orjson.loads(inspected.body) == {"model": "gpt-4o-mini", "messages": []}
    assert inspected.body.count(b'"model"') == 1


def test_a_key_spelled_with_escapes_is_resolved_before_it_goes_upstream() -> None:
    body = b'{"model": "cheap", "mod\\u0065l": "dear", "messages": []}'
    inspected = inspect(Api.OPENAI_CHAT, body)
    assert inspected.model == "dear"
    assert inspected.body == b'{"model":"dear","messages":[]}'


def test_escaped_html_characters_do_not_cause_a_rewrite() -> None:
    # Go's encoding/json escapes <, > and & like this in every string.
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "a \\u003c b"}]}'
    assert inspect(Api.OPENAI_CHAT, body).body is body


# ---- bad input -----------------------------------------------------------------


def test_empty_bodies() -> None:
    for body in (b"", b"  \n"):
        error = bad(Api.OPENAI_CHAT, body)
        assert error.error_status_hint == 400
        assert "empty" in error.message


def test_malformed_json_says_so() -> None:
    for body in (b"{", b"not json", b'{"model": }', b"\xff\xfe", b'{"a": NaN}'):
        error = bad(Api.ANTHROPIC_MESSAGES, body)
        assert error.error_status_hint == 400
        assert error.message.startswith("The request body is not valid JSON")
        assert str(error) == error.message


def test_non_object_bodies() -> None:
    for body in (b"[1, 2]", b"42", b'"text"', b"null", b"true"):
        error = bad(Api.OPENAI_RESPONSES, body)
        assert error.message == "The request body must be a JSON object."


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (None, "model: field required."),
        (42, "model: must be a string."),
        (["gpt-4o"], "model: must be a string."),
        ("", "model: must not be empty."),
        ("  ", "model: must not be empty."),
        ("\u0000", "model: must not contain NUL characters."),
        ("gpt\u0001", "model: must not contain control characters."),
        ("gpt-4o\n", "model: must not contain control characters."),
        ("m" * 201, "model: at most 200 characters."),
    ],
)
@pytest.mark.parametrize(
    ("api", "fields"),
    [
        (Api.OPENAI_CHAT, CHAT),
        (Api.OPENAI_RESPONSES, RESPONSES),
        (Api.OPENAI_EMBEDDINGS, EMBEDDINGS),
        (Api.ANTHROPIC_MESSAGES, MESSAGES),
        (Api.ANTHROPIC_COUNT_TOKENS, MESSAGES),
    ],
)
def test_bad_models(api: Api, fields: dict[str, Any], model: object, message: str) -> None:
    body = {key: value for key, value in fields.items() if key != "model"}
    if model is not None:
        body["model"] = model
    error = bad(api, dumps(body))
    assert (error.error_status_hint, error.message) == (400, message)


def test_a_gemini_path_without_a_model_is_404() -> None:
    for path_model in (None, "", "models/"):
        error = bad(Api.GEMINI_GENERATE, dumps(GEMINI), path_model=path_model)
        assert error.error_status_hint == 404
        assert error.message == "No model named in the request path."


@pytest.mark.parametrize("name", ["../v1/files", "a/b", "m?alt=json", "m#x", "m:other", "m n"])
def test_a_gemini_model_cannot_rewrite_the_upstream_path(name: str) -> None:
    error = bad(Api.GEMINI_STREAM, dumps(GEMINI), path_model=name)
    assert error.error_status_hint == 400
    assert "is not a valid model name" in error.message


def test_a_model_name_of_the_longest_length_is_taken() -> None:
    longest = "m" * 200
    assert inspect(Api.OPENAI_CHAT, dumps({**CHAT, "model": longest})).model == longest


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("m" * 70_000, "The model in the path: at most 200 characters."),
        ("a\u0000b", "The model in the path: must not contain NUL characters."),
        ("m" * 150 + "/", "is not a valid model name"),
    ],
)
def test_a_gemini_path_model_is_refused_without_being_echoed_whole(name: str, message: str) -> None:
    error = bad(Api.GEMINI_GENERATE, dumps(GEMINI), path_model=name)
    assert error.error_status_hint == 400
    assert message in error.message and "m" * 100 not in error.message


@pytest.mark.parametrize("stream", [1, "true", [], {}])
@pytest.mark.parametrize(
    ("api", "fields"),
    [
        (Api.OPENAI_CHAT, CHAT),
        (Api.OPENAI_RESPONSES, RESPONSES),
        (Api.ANTHROPIC_MESSAGES, MESSAGES),
    ],
)
def test_stream_must_be_a_boolean(api: Api, fields: dict[str, Any], stream: object) -> None:
    error = bad(api, dumps({**fields, "stream": stream}))
    assert error.message == "stream: must be a boolean (true or false)."


@pytest.mark.parametrize("cap", [0, -1, 1.5, "100", True, [100]])
@pytest.mark.parametrize(
    ("api", "fields", "key"),
    [
        (Api.OPENAI_CHAT, CHAT, "max_tokens"),
        (Api.OPENAI_CHAT, CHAT, "max_completion_tokens"),
        (Api.OPENAI_RESPONSES, RESPONSES, "max_output_tokens"),
        (Api.ANTHROPIC_MESSAGES, MESSAGES, "max_tokens"),
    ],
)
def test_output_caps_must_be_positive_integers(
    api: Api, fields: dict[str, Any], key: str, cap: object
) -> None:
    error = bad(api, dumps({**fields, key: cap}))
    assert error.message == f"{key}: must be a positive integer."


def test_a_bad_max_tokens_is_caught_even_beside_a_good_max_completion_tokens() -> None:
    error = bad(Api.OPENAI_CHAT, dumps({**CHAT, "max_completion_tokens": 5, "max_tokens": "x"}))
    assert error.message == "max_tokens: must be a positive integer."


def test_gemini_output_caps() -> None:
    for config in ({"maxOutputTokens": 0}, {"maxOutputTokens": "9"}):
        error = bad(
            Api.GEMINI_GENERATE, dumps({**GEMINI, "generationConfig": config}), path_model="m"
        )
        assert error.message == "maxOutputTokens: must be a positive integer."
    error = bad(Api.GEMINI_STREAM, dumps({**GEMINI, "generationConfig": []}), path_model="m")
    assert error.message == "generationConfig: must be a JSON object."


@pytest.mark.parametrize(
    "api", [Api.OPENAI_CHAT, Api.ANTHROPIC_MESSAGES, Api.ANTHROPIC_COUNT_TOKENS]
)
def test_messages_must_be_a_list(api: Api) -> None:
    fields = {"model": "m"}
    assert bad(api, dumps(fields)).message == "messages: field required."
    for messages in ("Hi", {"role": "user"}, 3):
        assert bad(api, dumps({**fields, "messages": messages})).message == (
            "messages: must be an array."
        )


@pytest.mark.parametrize("api", [Api.OPENAI_RESPONSES, Api.OPENAI_EMBEDDINGS])
def test_input_is_required(api: Api) -> None:
    assert bad(api, dumps({"model": "m"})).message == "input: field required."
    assert bad(api, dumps({"model": "m", "input": None})).message == "input: field required."
    for value in (3, {"text": "Hi"}, True):
        error = bad(api, dumps({"model": "m", "input": value}))
        assert error.message == "input: must be a string or an array."


def test_only_responses_accept_a_prompt_instead_of_input() -> None:
    error = bad(Api.OPENAI_EMBEDDINGS, dumps({"model": "m", "prompt": {"id": "p"}}))
    assert error.message == "input: field required."


@pytest.mark.parametrize("api", [Api.GEMINI_GENERATE, Api.GEMINI_STREAM])
def test_gemini_contents_must_be_a_list(api: Api) -> None:
    assert bad(api, b"{}", path_model="m").message == "contents: field required."
    error = bad(api, dumps({"contents": {"parts": []}}), path_model="m")
    assert error.message == "contents: must be an array."
    error = bad(Api.GEMINI_COUNT_TOKENS, dumps({"contents": "Hi"}), path_model="m")
    assert error.message == "contents: must be an array."


def test_stream_options_must_be_an_object_with_a_boolean_include_usage() -> None:
    body = dumps({**CHAT, "stream": True, "stream_options": "usage"})
    assert bad(Api.OPENAI_CHAT, body).message == "stream_options: must be a JSON object."
    body = dumps({**CHAT, "stream": True, "stream_options": {"include_usage": "yes"}})
    assert bad(Api.OPENAI_CHAT, body).message == "include_usage: must be a boolean (true or false)."


def test_wire_error_is_a_value_error_with_a_default_hint() -> None:
    error = WireError("bad")
    assert isinstance(error, ValueError)
    assert (error.error_status_hint, str(error)) == (400, "bad")


# ---- upstream request ----------------------------------------------------------


def test_openai_and_anthropic_paths_are_kept() -> None:
    assert upstream_path(Api.OPENAI_CHAT, "gpt-4o", "/v1/chat/completions") == (
        "/v1/chat/completions"
    )
    assert upstream_path(Api.ANTHROPIC_COUNT_TOKENS, "claude", "/v1/messages/count_tokens") == (
        "/v1/messages/count_tokens"
    )


def test_gemini_paths_name_the_channel_model() -> None:
    original = "/v1beta/models/alias:generateContent"
    assert upstream_path(Api.GEMINI_GENERATE, "gemini-2.5-flash", original) == (
        "/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert upstream_path(Api.GEMINI_STREAM, "gemini-2.5-pro", original) == (
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    )
    assert upstream_path(Api.GEMINI_COUNT_TOKENS, "g", original) == "/v1beta/models/g:countTokens"
    # A channel's mapped name is encoded, never a path of its own.
    assert upstream_path(Api.GEMINI_GENERATE, "../x?y", original) == (
        "/v1beta/models/..%2Fx%3Fy:generateContent"
    )


def test_upstream_query() -> None:
    assert upstream_query(Api.GEMINI_STREAM) == {"alt": "sse"}
    assert upstream_query(Api.GEMINI_GENERATE) == {}
    assert upstream_query(Api.GEMINI_GENERATE, stream=True) == {"alt": "sse"}
    for api in (Api.OPENAI_CHAT, Api.ANTHROPIC_MESSAGES, Api.GEMINI_COUNT_TOKENS):
        assert upstream_query(api, stream=True) == {}


def test_with_model_replaces_only_the_model() -> None:
    body = dumps({**CHAT, "temperature": 0.5})
    mapped = with_model(Api.OPENAI_CHAT, body, "gpt-4o-2024-08-06", requested_model="gpt-4o-mini")
    assert orjson.loads(mapped) == {**CHAT, "temperature": 0.5, "model": "gpt-4o-2024-08-06"}
    assert list(orjson.loads(mapped)) == ["model", "messages", "temperature"]


def test_with_model_returns_the_same_bytes_when_nothing_changes() -> None:
    body = dumps(MESSAGES)
    assert with_model(Api.ANTHROPIC_MESSAGES, body, "claude", requested_model="claude") is body
    gemini = dumps(GEMINI)
    assert (
        with_model(Api.GEMINI_STREAM, gemini, "gemini-2.5-pro", requested_model="alias") is gemini
    )


def test_with_model_after_inspect_keeps_the_include_usage_rewrite() -> None:
    inspected = inspect(Api.OPENAI_CHAT, dumps({**CHAT, "stream": True}))
    mapped = orjson.loads(
        with_model(Api.OPENAI_CHAT, inspected.body, "real", requested_model=inspected.model)
    )
    assert mapped["model"] == "real"
    assert mapped["stream_options"] == {"include_usage": True}


def _chat_with_content_nested(depth: int, *, stream: bool) -> bytes:
    # Written by hand: orjson itself cannot write such a body.
    content = b"[" * depth + b'"deep"' + b"]" * depth
    flag = b"true" if stream else b"false"
    return (
        b'{"model": "gpt-4o-mini", "stream": ' + flag + b', "messages": '
        b'[{"role": "user", "content": ' + content + b"}]}"
    )


def test_a_body_too_deep_to_write_again_is_400_not_a_crash() -> None:
    # orjson reads 1,024 levels but writes 254: a chat stream's body is written again
    # (include_usage), and so is one with a duplicated key, or a renamed model.
    error = bad(Api.OPENAI_CHAT, _chat_with_content_nested(300, stream=True))
    assert error.error_status_hint == 400 and "254 levels" in str(error)
    assert inspect(Api.OPENAI_CHAT, _chat_with_content_nested(200, stream=True)).hidden_usage
    deep_unstreamed = _chat_with_content_nested(300, stream=False)
    assert inspect(Api.OPENAI_CHAT, deep_unstreamed).body == deep_unstreamed
    with pytest.raises(WireError):
        with_model(Api.OPENAI_CHAT, deep_unstreamed, "renamed", requested_model="gpt-4o-mini")
