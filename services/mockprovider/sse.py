"""Server-sent event framing, as each provider writes it; no IO here.

OpenAI chat: `data: {json}\\n\\n` ending with `data: [DONE]\\n\\n`. OpenAI
Responses and Anthropic: `event: name\\ndata: {json}\\n\\n`. Gemini
(`alt=sse`): `data: {json}\\r\\n\\r\\n`, CRLF as recorded from the real API.

A stream is an iterator of `Frame`s tagged by the part they belong to; the
streaming layer paces, resets and stalls by those tags (see `behaviour`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class Part(Enum):
    PREAMBLE = "preamble"  # sent at once: role chunk, message_start, response.created...
    CONTENT = "content"  # one output piece: paced, counted by reset and stall
    TRAILER = "trailer"  # finish reason, usage, terminator


@dataclass(frozen=True)
class Frame:
    data: bytes
    part: Part


def data(payload: Any, part: Part) -> Frame:
    return Frame(b"data: " + orjson.dumps(payload) + b"\n\n", part)


def event(name: str, payload: Any, part: Part) -> Frame:
    return Frame(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n", part)


def crlf_data(payload: Any, part: Part) -> Frame:
    return Frame(b"data: " + orjson.dumps(payload) + b"\r\n\r\n", part)


def split_events(raw: bytes) -> list[bytes]:
    """Cut a recorded stream after each blank line; the pieces join back to `raw`."""
    pieces: list[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(raw):
        pieces.append(raw[start : match.end()])
        start = match.end()
    if start < len(raw):
        pieces.append(raw[start:])
    return pieces
