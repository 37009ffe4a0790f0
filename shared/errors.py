"""The error tree every service shares, and the one place that renders it.

    ApiError                  status hint carried as a class attribute
    ├── BadRequest            400  malformed JSON, wrong types
    ├── Unauthorized          401  no, bad, expired or revoked credential
    ├── Forbidden             403  authenticated, not allowed
    ├── PaymentRequired       402  the balance cannot cover the request
    ├── NotFound              404  unknown route or object (also: someone else's)
    ├── Conflict              409  unique value taken, idempotency key reused
    ├── PayloadTooLarge       413  body over the limit
    ├── Unprocessable         422  well-formed but invalid; `details` lists why
    ├── RetryLater                 carries `retry_after` seconds (`Retry-After`)
    │   └── TooManyRequests   429  (the gateway adds a 503 for "no healthy channel")
    └── ServiceUnavailable    503  PostgreSQL, Redis or a peer service is down

Domain code raises these; `error_middleware` turns them, and aiohttp's own HTTP
exceptions, into `{"error": {"code", "message", "details"?}}`. Anything else
is logged with its traceback and answered with a bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import orjson
from aiohttp import web

_log = logging.getLogger(__name__)


class ApiError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class PaymentRequired(ApiError):
    status = 402
    code = "insufficient_balance"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class Unprocessable(ApiError):
    status = 422
    code = "validation_failed"


class RetryLater(ApiError):
    """An error that says when to try again: `Retry-After`, whole seconds, at least 1."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManyRequests(RetryLater):
    status = 429
    code = "too_many_requests"


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"


def error_body(code: str, message: str, details: list[str] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return orjson.dumps({"error": error})


def error_response(error: ApiError) -> web.Response:
    return web.Response(
        status=error.status,
        body=error_body(error.code, error.message, error.details),
        content_type="application/json",
        headers=error.headers(),
    )


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as error:
        if isinstance(error, ServiceUnavailable):
            _log.warning("dependency unavailable", extra={"reason": error.message})
        return error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        return web.Response(
            status=exc.status,
            body=error_body(code, exc.reason),
            content_type="application/json",
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )
    except Exception:
        _log.exception("unhandled error", extra={"path": request.path})
        return web.Response(
            status=500,
            body=error_body("internal_error", "internal error"),
            content_type="application/json",
        )
