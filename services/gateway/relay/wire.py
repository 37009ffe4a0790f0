"""What the gateway must know about each client API's request body; no IO.

The relay reads a few fields of the client's JSON body (model, stream flag,
output cap), picks a channel by them, and forwards the body upstream. Rules
this module keeps:

- Shallow validation: only the fields the gateway reads or relies on are
  checked (`model`, `stream`, the output cap, the one content field each API
  cannot do without). The upstream validates the rest. Bad input is a
  `WireError` with a status hint (400, or 404 for a Gemini path without a
  model), never a 500, and nothing malformed is sent upstream.
- Byte-exact when possible: a body the gateway does not need to change is
  forwarded as the very `bytes` object the client sent. The body is decoded
  once, with orjson.
- The upstream reads what the gateway read: JSON lets a key appear twice,
  and parsers disagree on which one wins. When a field the gateway reads is
  spelled more than once in the bytes, or the body escapes a letter (the way
  to spell a key without its plain bytes), the body is re-serialised from
  what the gateway decoded, so the model billed is the model served. That
  costs a re-encode only for such unusual bodies.
- OpenAI chat streams report usage only when asked (`stream_options.
  include_usage`): the gateway asks on the client's behalf and says so in
  `Inspected.hidden_usage`, so the relay hides the extra usage-only chunk.
- Gemini names the model in the path (`models/{model}:method`); it is checked
  to be a plain model name, so it can never rewrite the upstream path.
- A model name is client text that reaches logs, errors and the usage event
  (PostgreSQL): one over `MODEL_NAME_MAX` characters or holding a control
  character (NUL included) is refused with 400 (`model_problem`), and an
  error quotes a model name only capped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from services.gateway.relay.apis import Api, Family
from shared.client_input import MODEL_NAME_MAX, cap, name_problem

JsonObject = dict[str, Any]


MAX_REWRITTEN_DEPTH = 254  # what orjson can write back


class WireError(ValueError):
    """The client's request cannot be relayed; the hint is the status to answer."""

    def __init__(self, message: str, *, error_status_hint: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.error_status_hint = error_status_hint


# Which body field holds the output cap, per API; Gemini's is under generationConfig.
_OUTPUT_CAP_FIELDS: dict[Api, tuple[str, ...]] = {
    Api.OPENAI_CHAT: ("max_completion_tokens", "max_tokens"),
    Api.OPENAI_RESPONSES: ("max_output_tokens",),
    Api.ANTHROPIC_MESSAGES: ("max_tokens",),
}
_GEMINI_METHODS = {
    Api.GEMINI_GENERATE: "generateContent",
    Api.GEMINI_STREAM: "streamGenerateContent",
    Api.GEMINI_COUNT_TOKENS: "countTokens",
}
# Proto JSON accepts both spellings of a field name; the SDKs send camelCase.
_GEMINI_CONFIG_KEYS = ("generationConfig", "generation_config")
_GEMINI_CAP_KEYS = ("maxOutputTokens", "max_output_tokens")
# How many answers one request asks for: each may use the whole output cap.
_GEMINI_CHOICE_KEYS = ("candidateCount", "candidate_count")
# Keys whose duplicates would let the gateway and the upstream read different
# values. Not `"model"` for Gemini: its turns say `"role": "model"`.
_READ_KEYS = {
    Family.OPENAI: (
        b'"model"',
        b'"stream"',
        b'"stream_options"',
        b'"include_usage"',
        b'"max_tokens"',
        b'"max_completion_tokens"',
        b'"max_output_tokens"',
        b'"n"',
    ),
    Family.ANTHROPIC: (b'"model"', b'"stream"', b'"max_tokens"'),
    Family.GEMINI: (
        b'"generationConfig"',
        b'"generation_config"',
        b'"maxOutputTokens"',
        b'"max_output_tokens"',
        b'"candidateCount"',
        b'"candidate_count"',
    ),
}
# `\u0041`-style escapes of letters and `_` spell a key without its plain bytes.
# Not every escape: Go escapes <, > and & (\u003c...) in any string.
_ESCAPED_KEY_CHARACTER = re.compile(rb"\\u00(?:4[1-9a-fA-F]|5[0-9aAfF]|6[1-9a-fA-F]|7[0-9aA])")
_GEMINI_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,199}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Inspected:
    """What the gateway read from one request body, and the body to send upstream."""

    model: str
    stream: bool
    body: bytes
    hidden_usage: bool
    max_output_tokens: int | None  # per answer
    prompt_bytes: int
    # Answers asked for (OpenAI chat `n`, Gemini `candidateCount`); each may
    # use the whole output cap, so the hold covers all of them.
    choices: int = 1


# ---- reading fields ------------------------------------------------------------


def _decode(body: bytes) -> JsonObject:
    if not body.strip():
        raise WireError("The request body is empty; it must be a JSON object.")
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(decoded, dict):
        raise WireError("The request body must be a JSON object.")
    return decoded


def _encode(fields: JsonObject) -> bytes:
    """The body written again (a field added or renamed). orjson reads 1,024 levels
    of nesting but writes only 254: a deeper body is the client's to fix (400), never
    a 500; no real request comes near either limit."""
    try:
        return orjson.dumps(fields)
    except orjson.JSONEncodeError:
        raise WireError(
            f"The request body nests deeper than {MAX_REWRITTEN_DEPTH} levels of arrays "
            "and objects."
        ) from None


def model_problem(model: str) -> str | None:
    """Why `model` cannot be a model name (empty, too long, a control character), or None."""
    if not model.strip():
        return "must not be empty"
    return name_problem(model, max_length=MODEL_NAME_MAX)


def _model_field(fields: JsonObject) -> str:
    model = fields.get("model")
    if model is None:
        raise WireError("model: field required.")
    if not isinstance(model, str):
        raise WireError("model: must be a string.")
    problem = model_problem(model)
    if problem is not None:
        raise WireError(f"model: {problem}.")
    return model


def _path_model(path_model: str | None) -> str:
    model = (path_model or "").removeprefix("models/")
    if not model:
        raise WireError("No model named in the request path.", error_status_hint=404)
    problem = model_problem(model)
    if problem is not None:
        raise WireError(f"The model in the path: {problem}.")
    if _GEMINI_MODEL.fullmatch(model) is None:
        raise WireError(f"{cap(model)!r} is not a valid model name.")
    return model


def _flag(fields: Mapping[str, Any], key: str) -> bool:
    value = fields.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise WireError(f"{key}: must be a boolean (true or false).")
    return value


def _positive_int(fields: Mapping[str, Any], key: str) -> int | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WireError(f"{key}: must be a positive integer.")
    return value


def _object(fields: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise WireError(f"{key}: must be a JSON object.")
    return value


def _require_list(fields: JsonObject, key: str) -> None:
    value = fields.get(key)
    if value is None:
        raise WireError(f"{key}: field required.")
    if not isinstance(value, list):
        raise WireError(f"{key}: must be an array.")


def _require_input(fields: JsonObject, *, optional_with: str | None = None) -> None:
    value = fields.get("input")
    if value is None:
        if optional_with is not None and fields.get(optional_with) is not None:
            return
        raise WireError("input: field required.")
    if not isinstance(value, str | list):
        raise WireError("input: must be a string or an array.")


def _output_cap(api: Api, fields: JsonObject) -> int | None:
    if api.family is Family.GEMINI:
        return _gemini_config_int(fields, _GEMINI_CAP_KEYS)
    caps = [_positive_int(fields, key) for key in _OUTPUT_CAP_FIELDS.get(api, ())]
    return next((cap for cap in caps if cap is not None), None)


def _gemini_config_int(fields: JsonObject, keys: tuple[str, ...]) -> int | None:
    """The first of `keys` set in the generation config (either spelling of it)."""
    for config_key in _GEMINI_CONFIG_KEYS:
        config = _object(fields, config_key)
        if config is None:
            continue
        for key in keys:
            value = _positive_int(config, key)
            if value is not None:
                return value
    return None


def _choices(api: Api, fields: JsonObject) -> int:
    """How many answers the request asks for; 1 where the API has no such field."""
    if api is Api.OPENAI_CHAT:
        choices = _positive_int(fields, "n")
    elif api in (Api.GEMINI_GENERATE, Api.GEMINI_STREAM):
        choices = _gemini_config_int(fields, _GEMINI_CHOICE_KEYS)
    else:
        return 1
    return 1 if choices is None else choices


# ---- per-API checks ------------------------------------------------------------


def _check_content(api: Api, fields: JsonObject) -> None:
    """The one content field each API cannot do without."""
    if api in (Api.OPENAI_CHAT, Api.ANTHROPIC_MESSAGES, Api.ANTHROPIC_COUNT_TOKENS):
        _require_list(fields, "messages")
    elif api is Api.OPENAI_RESPONSES:
        # A stored prompt template can stand in for the input.
        _require_input(fields, optional_with="prompt")
    elif api is Api.OPENAI_EMBEDDINGS:
        _require_input(fields)
    elif api in (Api.GEMINI_GENERATE, Api.GEMINI_STREAM):
        _require_list(fields, "contents")
    elif fields.get("contents") is not None:
        # countTokens takes `contents` or a whole `generateContentRequest`.
        _require_list(fields, "contents")


def _stream_flag(api: Api, fields: JsonObject, *, stream_query: bool) -> bool:
    if api in (Api.OPENAI_CHAT, Api.OPENAI_RESPONSES, Api.ANTHROPIC_MESSAGES):
        return _flag(fields, "stream")
    if api is Api.GEMINI_STREAM:
        return True
    return api is Api.GEMINI_GENERATE and stream_query


def _ask_for_usage(fields: JsonObject) -> bool:
    """Add `stream_options.include_usage` to a chat stream; True if it was not asked for."""
    options = _object(fields, "stream_options")
    if options is not None and _flag(options, "include_usage"):
        return False
    fields["stream_options"] = {**(options or {}), "include_usage": True}
    return True


def _ambiguous(family: Family, body: bytes) -> bool:
    """Whether the upstream could read a field differently from the gateway."""
    if _ESCAPED_KEY_CHARACTER.search(body) is not None:
        return True
    return any(body.count(key) > 1 for key in _READ_KEYS[family])


def inspect(
    api: Api, body: bytes, *, path_model: str | None = None, stream_query: bool = False
) -> Inspected:
    """Read and check a client's request body; raises `WireError` for bad input.

    `path_model` is the model segment of a Gemini path (with or without its
    `models/` prefix); OpenAI and Anthropic name the model in the body.
    `stream_query` is True when the URL asked for SSE (`alt=sse`): Gemini
    answers generateContent as a one-event stream then. GEMINI_STREAM always
    streams (checking that it came with `alt=sse` is the caller's job).
    """
    fields = _decode(body)
    if api.family is Family.GEMINI:
        model = _path_model(path_model)
    else:
        model = _model_field(fields)
    stream = _stream_flag(api, fields, stream_query=stream_query)
    max_output_tokens = _output_cap(api, fields)
    choices = _choices(api, fields)
    _check_content(api, fields)
    hidden_usage = api is Api.OPENAI_CHAT and stream and _ask_for_usage(fields)
    upstream_body = body
    if hidden_usage or _ambiguous(api.family, body):
        upstream_body = _encode(fields)
    return Inspected(
        model=model,
        stream=stream,
        body=upstream_body,
        hidden_usage=hidden_usage,
        max_output_tokens=max_output_tokens,
        prompt_bytes=len(body),
        choices=choices,
    )


# ---- upstream request ----------------------------------------------------------


def upstream_path(api: Api, model: str, original_path: str) -> str:
    """The path to request on the channel's origin.

    OpenAI and Anthropic keep the client's path; Gemini's names the channel's
    model (percent-encoded, so no model name can add a path segment).
    """
    method = _GEMINI_METHODS.get(api)
    if method is None:
        return original_path
    return f"/v1beta/models/{quote(model, safe='@')}:{method}"


def upstream_query(api: Api, *, stream: bool = False) -> dict[str, str]:
    """The query to send upstream: `alt=sse` for a Gemini stream, else nothing.

    `stream` is `Inspected.stream`, for a generateContent the client asked to
    get as SSE.
    """
    if api is Api.GEMINI_STREAM or (api is Api.GEMINI_GENERATE and stream):
        return {"alt": "sse"}
    return {}


def with_model(api: Api, body: bytes, upstream_model: str, *, requested_model: str) -> bytes:
    """The body with `model` set to the channel's name for it.

    The same bytes when the names are equal, and for Gemini, whose model is in
    the path (`upstream_path`).
    """
    if upstream_model == requested_model or api.family is Family.GEMINI:
        return body
    fields = _decode(body)
    fields["model"] = upstream_model
    return _encode(fields)
