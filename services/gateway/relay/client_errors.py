"""Every failure in the client's own format: whole error bodies and stream error events.

A client talks to the gateway through its provider's SDK, so an error has to
look like that provider's: OpenAI `{"error": {message, type, param, code}}`,
Anthropic `{"type": "error", "error": {type, message}}`, Gemini
`{"error": {code, message, status}}` (DESIGN.md §3). Rules this module keeps:

- Pure rendering: these functions render what they are given. The relay
  passes an upstream's error message on only through `safe_message()`, which
  strips URLs, addresses and keys, so the operator's account never shows.
- Whether to retry is said by a header, not the body: every answer whose
  status retrying cannot fix (401, 402, 403, 404, 422, ...) carries
  `x-should-retry: false`, set for every family (and `/api`) by
  `shared/response_headers.py`, which the official SDKs' `_should_retry`
  obeys before its own status rules.
- Before the first byte, a failure is a whole response (`error_body()`).
  After it, the status line is gone, so the stream ends with one error event
  in the client's format (`stream_error_event()`), which each official SDK's
  stream parser turns into an exception rather than a silent end:

  * OpenAI chat, `data: {"error": {...}}`: openai's `Stream.__stream__`
    raises `openai.APIError` (message = `error.message`, body = the error
    object) for any data whose JSON has a truthy `error` key.
  * OpenAI Responses, `event: error` with `{"type": "error", code, message,
    param, sequence_number}` as the API reference documents, plus the same
    fields nested under `error` as the live API sends them: the openai SDK
    raises `APIError` only on the nested `error` key (a flat event alone is
    yielded as a `ResponseErrorEvent` and the stream just ends), while
    clients written to the reference (and Codex) read the flat fields.
  * Anthropic, `event: error`: anthropic's `Stream.__stream__` raises
    `APIStatusError` (the stream's own 200 status, body = the event's JSON,
    message = its repr) for any event named `error`.
  * Gemini, `data: {"error": {...}}` with CRLF framing: google-genai's
    `request_streamed` raises `errors.ServerError` (5xx) or `ClientError`
    (4xx) by `error.code` for a chunk whose JSON starts with `{"error":`, so
    `error` is the one key of the object.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from services.gateway.relay.apis import Api, Family

MAX_MESSAGE_LENGTH = 500

_OPENAI_TYPES = {
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}
_OPENAI_CODES = {402: "insufficient_quota", 429: "rate_limit_exceeded"}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    # Not RESOURCE_EXHAUSTED: Gemini CLI retries that; an empty balance will not refill.
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def openai_error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _OPENAI_TYPES.get(status, "invalid_request_error")


def anthropic_error_type(status: int) -> str:
    fallback = "api_error" if status >= 500 else "invalid_request_error"
    return _ANTHROPIC_TYPES.get(status, fallback)


def gemini_error_status(status: int) -> str:
    fallback = "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"
    return _GEMINI_STATUSES.get(status, fallback)


def _openai_error(status: int, message: str, code: str | None) -> dict[str, Any]:
    return {
        "message": message,
        "type": openai_error_type(status),
        "param": None,
        "code": code if code is not None else _OPENAI_CODES.get(status),
    }


def _gemini_error(status: int, message: str) -> dict[str, Any]:
    return {"code": status, "message": message, "status": gemini_error_status(status)}


def error_body(family: Family, status: int, message: str, *, code: str | None = None) -> bytes:
    """A whole JSON error body, as `family`'s API answers `status`.

    `code` is OpenAI's machine-readable code (say `"model_not_found"`); by
    default 402 says `insufficient_quota` and 429 `rate_limit_exceeded`, the
    codes OpenAI clients act on. Anthropic and Gemini bodies have no such field.
    """
    if family is Family.ANTHROPIC:
        error = {"type": anthropic_error_type(status), "message": message}
        return orjson.dumps({"type": "error", "error": error})
    if family is Family.GEMINI:
        return orjson.dumps({"error": _gemini_error(status, message)})
    return orjson.dumps({"error": _openai_error(status, message, code)})


def stream_error_event(
    api: Api, message: str, *, status: int = 502, sequence_number: int | None = None
) -> bytes:
    """One SSE event that ends a started stream in the client's format (see module doc).

    `sequence_number` is the Responses stream's next number (the last one
    relayed + 1); 0 when unknown. APIs that never stream get their family's
    data-only event, so this never fails.
    """
    if api is Api.OPENAI_RESPONSES:
        return _responses_error_event(status, message, sequence_number or 0)
    if api.family is Family.ANTHROPIC:
        error = {"type": anthropic_error_type(status), "message": message}
        payload = orjson.dumps({"type": "error", "error": error})
        return b"event: error\ndata: " + payload + b"\n\n"
    if api.family is Family.GEMINI:
        # Gemini writes its SSE with CRLF; `error` must be the first key (module doc).
        return b"data: " + orjson.dumps({"error": _gemini_error(status, message)}) + b"\r\n\r\n"
    return b"data: " + orjson.dumps({"error": _openai_error(status, message, None)}) + b"\n\n"


def _responses_error_event(status: int, message: str, sequence_number: int) -> bytes:
    error = _openai_error(status, message, None)
    code = error["code"] or error["type"]
    payload = {
        "type": "error",
        "code": code,
        "message": message,
        "param": None,
        "sequence_number": sequence_number,
        "error": {**error, "code": code},
    }
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"


# ---- upstream messages passed on -----------------------------------------------

# Longest first: a URL swallows the host and key inside it. Repetitions are
# bounded so that no input makes a pattern scan quadratically.
_REDACTIONS = (
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{0,15}://\S*[^\s.,;:!?'\")\]]"), "[url]"),
    (re.compile(r"\bbearer\s+\S+", re.IGNORECASE), "[key]"),
    (re.compile(r"\b(?:sk|tg)-[A-Za-z0-9_*\-]{4,}"), "[key]"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{10,}"), "[key]"),
    (re.compile(r"\[[0-9A-Fa-f.]{0,39}:[0-9A-Fa-f:.]{0,45}\](?::\d{1,5})?"), "[address]"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "[address]"),
    # host:port, dotted or not ("mock:9000" is a compose service); a lone port-like
    # number after a colon with no space is rare in prose.
    (
        re.compile(r"\b(?:[A-Za-z0-9-]{1,63}\.){0,8}[A-Za-z][A-Za-z0-9_-]{0,62}:\d{2,5}\b"),
        "[address]",
    ),
)
# Bounds the regex work on a huge upstream message; far more than is kept.
_SCAN_LIMIT = 16 * 1024


def safe_message(text: str) -> str:
    """An upstream error message fit to pass to a client.

    URLs, IP addresses (with or without a port), `host:port` pairs, bearer
    tokens and `sk-`/`tg-`/`AIza` keys become placeholders; the result is at
    most `MAX_MESSAGE_LENGTH` characters. Redaction comes before truncation,
    so a key is never cut into a piece the patterns no longer recognise.
    """
    cleaned = text[:_SCAN_LIMIT]
    for pattern, placeholder in _REDACTIONS:
        cleaned = pattern.sub(placeholder, cleaned)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > MAX_MESSAGE_LENGTH:
        cleaned = cleaned[: MAX_MESSAGE_LENGTH - 1] + "…"
    return cleaned
