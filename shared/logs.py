"""JSON logs, one object per line, carrying the request id.

The request id lives in a context variable set by the request-id middleware, so
every log line written while serving a request carries it without threading it
through calls. Log lines never hold request bodies, query strings or secrets:
callers log ids and counts, and the access log writes the path alone.

No line can be huge, whatever a client sent: a line that would pass
`LINE_MAX` characters (its traceback aside) has its message and every string
in its `extra` fields (inside dicts and lists too) capped at `VALUE_MAX`
characters and its lists and dicts at `ITEMS_MAX` items; a traceback is kept
to its last `TRACEBACK_MAX` characters (that is where the error is). Each cut
says how much was left out. Text that cannot be encoded (an undecodable
header byte) is written with U+FFFD. So a reader of the lines (`tollgate dev`,
a log shipper) never meets a line of more than a few tens of KiB. Ordinary
lines are written as they are: the caps cost nothing until a line is long.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import uuid
from datetime import date, datetime
from datetime import time as dt_time
from enum import Enum
from itertools import islice
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from shared.client_input import cap, encodable

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

_STANDARD = logging.LogRecord("", 0, "", 0, "", (), None).__dict__
_RESERVED = frozenset(_STANDARD) | {"message", "asctime"}
# A record's own attributes come first in its __dict__, the `extra` ones after them.
_OWN_ATTRIBUTES = len(_STANDARD)

LINE_MAX = 8_000
VALUE_MAX = 1000
ITEMS_MAX = 100
TRACEBACK_MAX = 16_000
_DEPTH_MAX = 4
_NATIVE = (bool, float, uuid.UUID, datetime, date, dt_time, Enum)


def _bounded_text(text: str) -> str:
    return encodable(text if len(text) <= VALUE_MAX else cap(text, VALUE_MAX))


def _bounded(value: Any, depth: int = 0) -> Any:
    """`value` with every string, list and dict in it cut to size."""
    if isinstance(value, str):
        return _bounded_text(value)
    if value is None or isinstance(value, _NATIVE):
        return value  # bounded, and written by orjson as it always was
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if depth >= _DEPTH_MAX:
        return _bounded_text(str(value))
    if isinstance(value, dict):
        items = list(islice(value.items(), ITEMS_MAX))
        bounded = {_bounded_text(str(k)): _bounded(v, depth + 1) for k, v in items}
        if len(value) > ITEMS_MAX:
            bounded["…"] = f"+{len(value) - ITEMS_MAX} items"
        return bounded
    if isinstance(value, list | tuple | set | frozenset):
        listed = [_bounded(item, depth + 1) for item in islice(value, ITEMS_MAX)]
        if len(value) > ITEMS_MAX:
            listed.append(f"…(+{len(value) - ITEMS_MAX} items)")
        return listed
    return _bounded_text(str(value))  # what orjson's default=str would write


def _traceback(text: str) -> str:
    if len(text) <= TRACEBACK_MAX:
        return encodable(text)
    return encodable(f"…({len(text) - TRACEBACK_MAX} chars before)…{text[-TRACEBACK_MAX:]}")


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
        exc = ""
        if record.exc_info:
            exc = _traceback(self.formatException(record.exc_info))
            line["exc"] = exc
        try:
            out = orjson.dumps(line, default=str)
        except TypeError:  # a lone surrogate, an integer past 64 bits
            out = b""
        if not out or len(out) > LINE_MAX + len(exc):
            out = orjson.dumps(_bounded_line(line))
        if len(out) > 4 * LINE_MAX + len(exc):
            out = orjson.dumps(_bounded_line(line, flat=True))
        return out.decode()


def _bounded_line(line: dict[str, Any], *, flat: bool = False) -> dict[str, Any]:
    """The line with its values capped; `flat`: each dict or list as its capped JSON text
    (many long strings inside one value can add up)."""
    bounded: dict[str, Any] = {}
    for key, value in line.items():
        if key == "exc":
            bounded[key] = value
        elif flat and isinstance(value, dict | list | tuple | set | frozenset):
            bounded[key] = _bounded_text(orjson.dumps(_bounded(value)).decode())
        else:
            bounded[key] = _bounded(value)
    return bounded


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
