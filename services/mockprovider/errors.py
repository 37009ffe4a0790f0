"""The mock's one error type, and the one place that renders it per provider.

    MockError            status hint + message (+ retry_after, code)
    ├── BadRequest       400  malformed JSON, wrong field types, bad controls
    ├── Unauthenticated  401  no credential in the provider's header
    └── NotFound         404  unknown model, route or fixture

Handlers and pure modules raise these; `error_middleware` renders them, and
aiohttp's own HTTP exceptions (unknown route, wrong method, body too large),
and any bug (logged, answered 500), in the client's format: OpenAI
`{"error": {message, type, param, code}}`, Anthropic
`{"type": "error", "error": {type, message}}`, Gemini
`{"error": {code, message, status}}`. An injected `X-Mock-Status` is a
`MockError` with the requested status.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from services.mockprovider.catalog import Provider

_log = logging.getLogger(__name__)


class MockError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.code = code


class BadRequest(MockError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class Unauthenticated(MockError):
    def __init__(self, message: str) -> None:
        super().__init__(401, message)


class NotFound(MockError):
    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(404, message, code=code)


_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "requests",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def provider_for(path: str, headers: Mapping[str, str], query: Mapping[str, str]) -> Provider:
    """The format an answer to this path goes back in.

    `/v1/models...` is shared by all three (Gemini's SDK defaults to `v1`): a
    `model:method` path or a Gemini credential means Gemini, an
    `anthropic-version` header means Anthropic, anything else OpenAI.
    """
    if path.startswith("/v1beta"):
        return Provider.GEMINI
    if path.startswith("/v1/messages"):
        return Provider.ANTHROPIC
    if path.startswith("/v1/models"):
        if ":" in path or "x-goog-api-key" in headers or "key" in query:
            return Provider.GEMINI
        if "anthropic-version" in headers:
            return Provider.ANTHROPIC
    return Provider.OPENAI


def error_body(provider: Provider, error: MockError, request_id: str) -> dict[str, Any]:
    """The JSON body the real provider answers this error with."""
    status = error.status
    if provider is Provider.ANTHROPIC:
        kind = _ANTHROPIC_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        return {
            "type": "error",
            "error": {"type": kind, "message": error.message},
            "request_id": request_id,
        }
    if provider is Provider.GEMINI:
        fallback = "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"
        return {
            "error": {
                "code": status,
                "message": error.message,
                "status": _GEMINI_STATUSES.get(status, fallback),
            }
        }
    code = error.code
    if status == 429 and code is None:
        code = "rate_limit_exceeded"
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": error.message, "type": kind, "param": None, "code": code}}


def render(provider: Provider, error: MockError) -> web.Response:
    request_id = f"req_mock{uuid.uuid4().hex[:20]}"
    headers = {"Content-Type": "application/json"}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if provider is Provider.ANTHROPIC:
        headers["request-id"] = request_id
    elif provider is Provider.OPENAI:
        headers["x-request-id"] = request_id
    body = orjson.dumps(error_body(provider, error, request_id))
    return web.Response(status=error.status, body=body, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except MockError as exc:
        error = exc
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.reason if exc.status != 404 else f"Unknown path {request.path}"
        error = MockError(exc.status, message)
    except Exception as exc:
        # A bug in the mock. The log names the exception type and where it was raised,
        # not its message, which could quote the request body.
        where = traceback.extract_tb(exc.__traceback__)[-1]
        _log.error(
            "mock provider failed",
            extra={
                "path": request.path,
                "error": type(exc).__name__,
                "at": f"{where.filename}:{where.lineno}",
            },
        )
        error = MockError(500, "The mock provider failed; see its log.")
    return render(provider_for(request.path, request.headers, request.query), error)
