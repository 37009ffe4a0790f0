"""OpenAI embeddings: deterministic unit vectors, as floats or base64.

Each input's vector is drawn from SHAKE-256 of its text (token-id inputs: of
their decimal list), one signed 16-bit sample per dimension, scaled to unit
length: the same input always embeds the same. `base64` is the little-endian
float32 array, as the real API (and the SDK's default request) uses.
`usage.prompt_tokens` is `tokens.embedding_tokens` of the inputs.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from services.mockprovider import tokens
from services.mockprovider.errors import BadRequest
from services.mockprovider.fields import Json

EmbeddingInput = str | list[int]


def inputs(raw: Any) -> list[EmbeddingInput]:
    """`input` as a list: a string, strings, token ids, or lists of token ids."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(_is_token(item) for item in raw):
        return [list(raw)]
    if isinstance(raw, list) and raw:
        items: list[EmbeddingInput] = []
        for item in raw:
            if isinstance(item, str):
                items.append(item)
            elif isinstance(item, list) and item and all(_is_token(t) for t in item):
                items.append(list(item))
            else:
                raise BadRequest("input: each item must be a string or an array of token ids")
        return items
    raise BadRequest("input: Input should be a non-empty string or array")


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def vector(item: EmbeddingInput, dimensions: int) -> list[float]:
    seed = item if isinstance(item, str) else ",".join(map(str, item))
    raw = hashlib.shake_256(seed.encode("utf-8")).digest(2 * dimensions)
    samples = struct.unpack(f"<{dimensions}h", raw)
    norm = math.sqrt(sum(s * s for s in samples)) or 1.0
    return [s / norm for s in samples]


def encode(values: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return values


def body(
    model: str,
    items: list[EmbeddingInput],
    *,
    dimensions: int,
    encoding_format: str,
) -> Json:
    if encoding_format not in ("float", "base64"):
        raise BadRequest("encoding_format: must be 'float' or 'base64'")
    prompt = tokens.embedding_tokens(items)
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": encode(vector(item, dimensions), encoding_format),
            }
            for index, item in enumerate(items)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }
