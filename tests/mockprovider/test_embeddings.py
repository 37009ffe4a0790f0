"""Deterministic embedding vectors and their two encodings."""

from __future__ import annotations

import base64
import math
import struct

import pytest

from services.mockprovider import embeddings
from services.mockprovider.errors import BadRequest


def test_vectors_are_deterministic_unit_vectors() -> None:
    first = embeddings.vector("hello", 64)
    assert first == embeddings.vector("hello", 64)
    assert first != embeddings.vector("hellp", 64)
    assert math.isclose(math.sqrt(sum(v * v for v in first)), 1.0)


def test_base64_is_little_endian_float32() -> None:
    values = embeddings.vector("hello", 8)
    encoded = embeddings.encode(values, "base64")
    assert isinstance(encoded, str)
    decoded = struct.unpack("<8f", base64.b64decode(encoded))
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(decoded, values, strict=True))


def test_inputs_accept_every_documented_shape() -> None:
    assert embeddings.inputs("a") == ["a"]
    assert embeddings.inputs(["a", "b"]) == ["a", "b"]
    assert embeddings.inputs([1, 2]) == [[1, 2]]
    assert embeddings.inputs([[1], "b"]) == [[1], "b"]
    for bad in ([], None, [True], [["x"]], 5):
        with pytest.raises(BadRequest):
            embeddings.inputs(bad)
