"""JSON logs, one object per line, carrying the request id.

The request id lives in a context variable set by the request-id middleware, so
every log line written while serving a request carries it without threading it
through calls. Log lines never hold request bodies, query strings or secrets:
callers log ids and counts, and the access log writes the path alone.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from itertools import islice
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

_STANDARD = logging.LogRecord("", 0, "", 0, "", (), None).__dict__
_RESERVED = frozenset(_STANDARD) | {"message", "asctime"}
# A record's own attributes come first in its __dict__, the `extra` ones after them.
_OWN_ATTRIBUTES = len(_STANDARD)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service
        self._second = -1
        self._stamp = ""  # the timestamp of `_second`, to the second

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line: dict[str, Any] = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        for key, value in islice(record.__dict__.items(), _OWN_ATTRIBUTES, None):
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(service: str, level: str = "INFO") -> None:
    """Route every logger to stderr as JSON lines."""
    # Never written out (see _RESERVED): not worth a getpid and a lookup per line,
    # nor a walk up the stack for the caller's file and line (the logging
    # HOWTO's "Optimization": `_srcfile = None`).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


# Set on a request whose handler logs a line of its own that says all the
# access line would (the relay's usage result): one line per request, not two.
LOGGED_BY_HANDLER = web.RequestKey("logged_by_handler", bool)


class AccessLogger(AbstractAccessLogger):
    """One JSON line per request: method, path (never the query), status, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if isinstance(request, web.Request) and request.get(LOGGED_BY_HANDLER):
            return
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round(time * 1000, 3),
                "request_id": response.headers.get("X-Request-Id"),
            },
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
