"""Reading and validating JSON request bodies.

Every `/api/*` body goes through `read_object`: a size limit checked before
decoding, a 422 for bytes that are not UTF-8, then a JSON object or a 400 that
says what is wrong, and a 422 for a NUL anywhere in it (no `/api` value may
hold one: see `client_input`). The `Fields` reader collects every problem in
one pass so a client sees all its mistakes in one 422 instead of fixing them
one request at a time; its text and times are checked by `client_input`'s
rules, and a problem never quotes the client's value (a field name it does not
know is quoted capped).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from shared.client_input import Controls, cap, holds_nul, text_problem, time_problem
from shared.errors import BadRequest, PayloadTooLarge, Unprocessable

API_BODY_LIMIT = 1024 * 1024


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes `limit` bytes, and with
    400 when it cannot be read as sent (a `Content-Encoding` it does not match)."""
    try:
        return await _read_limited(request, limit)
    except RequestPayloadError:
        raise BadRequest("request body could not be decoded as its Content-Encoding says") from None


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
    content = request.content
    if content.is_eof() and content.exception() is None:
        # All of it arrived with the head (most model requests): no iterator, no wait.
        whole = content.read_nowait()
        if len(whole) > limit:
            raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
        return whole
    raw = bytearray()
    async for chunk in request.content.iter_any():
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
    return bytes(raw)


async def read_object(request: web.Request, limit: int = API_BODY_LIMIT) -> dict[str, Any]:
    raw = await read_limited(request, limit)
    if not raw.strip():
        raise BadRequest("request body is empty; a JSON object is required")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Well-formed or not, text that is not UTF-8 can never be a value here (the
        # issue's rule: NUL and invalid UTF-8 are 422); the offset, never the bytes.
        raise Unprocessable(
            "request body is not valid UTF-8", details=[f"byte {exc.start}: not UTF-8"]
        ) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object, got {type(body).__name__}")
    if holds_nul(body):
        raise Unprocessable("request body is invalid", details=_nul_problems(body))
    return body


def _nul_problems(body: dict[str, Any]) -> list[str]:
    """One line per top-level field holding a NUL, in its name or anywhere in its value."""
    problems = [
        f"{cap(name)}: must not contain NUL characters"
        for name, value in body.items()
        if "\x00" not in name and holds_nul(value)
    ]
    if any("\x00" in name for name in body):
        problems.append("field names: must not contain NUL characters")
    return problems


class Fields:
    """Typed access to a body's fields, collecting every problem."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body
        self.problems: list[str] = []

    def has(self, name: str) -> bool:
        return name in self._body

    def refuse_unknown(self, accepted: Collection[str], problem: str = "unknown field") -> None:
        """A problem for each field not in `accepted`, its name quoted capped."""
        unknown = sorted(name for name in self._body if name not in accepted)
        self.problems.extend(f"{cap(name)}: {problem}" for name in unknown)

    def string(
        self,
        name: str,
        *,
        required: bool = True,
        max_length: int = 1000,
        controls: Controls = "lines",
    ) -> str | None:
        """A text field; `controls` says which control characters it may hold
        (`client_input.text_problem`): "none" for names, "any" for secrets."""
        value = self._body.get(name)
        if value is None:
            if required:
                self.problems.append(f"{name}: required")
            return None
        if not isinstance(value, str):
            self.problems.append(f"{name}: must be a string")
            return None
        problem = text_problem(value, max_length=max_length, controls=controls)
        if problem is not None:
            self.problems.append(f"{name}: {problem}")
            return None
        return value

    def integer(self, name: str, *, low: int, high: int, required: bool = False) -> int | None:
        value = self._body.get(name)
        if value is None:
            if required:
                self.problems.append(f"{name}: required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(f"{name}: must be an integer")
            return None
        if not low <= value <= high:
            self.problems.append(f"{name}: must be between {low} and {high}")
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self._body.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.problems.append(f"{name}: must be true or false")
            return None
        return value

    def string_list(
        self, name: str, *, max_items: int = 500, max_length: int = 1000
    ) -> list[str] | None:
        """A list of names: each item at most `max_length` characters, no control characters."""
        value = self._body.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.problems.append(f"{name}: must be a list of strings")
            return None
        if len(value) > max_items:
            self.problems.append(f"{name}: at most {max_items} items")
            return None
        for index, item in enumerate(value):
            problem = text_problem(item, max_length=max_length, controls="none")
            if problem is not None:
                self.problems.append(f"{name}: item {index} {problem}")
                return None
        return list(value)

    def timestamp(self, name: str) -> datetime | None:
        value = self._body.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problems.append(f"{name}: must be an ISO 8601 timestamp string")
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.problems.append(f"{name}: not an ISO 8601 timestamp")
            return None
        problem = time_problem(parsed)
        if problem is not None:
            self.problems.append(f"{name}: {problem}")
            return None
        return parsed

    def check(self) -> None:
        """Raise one 422 listing every problem found so far."""
        if self.problems:
            raise Unprocessable("request body is invalid", details=self.problems)
