"""Typed reads of JSON request fields; a wrong type is a 400 naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from services.mockprovider.errors import BadRequest

Json = dict[str, Any]


def json_object(raw: bytes) -> Json:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


def string(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{key}: Input should be a valid string")
    return value


def required_string(body: Mapping[str, Any], key: str) -> str:
    value = string(body, key)
    if value is None:
        raise BadRequest(f"{key}: Field required")
    return value


def array(body: Mapping[str, Any], key: str, *, required: bool = False) -> list[Any]:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key}: Field required")
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{key}: Input should be a valid list")
    return value


def obj(body: Mapping[str, Any], key: str) -> Json:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{key}: Input should be a valid object")
    return value


def count(body: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    """A non-negative integer field, such as an output token cap."""
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key}: Field required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{key}: Input should be a non-negative integer")
    return value


def flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{key}: Input should be a valid boolean")
    return value
