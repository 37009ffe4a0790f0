"""Recorded provider responses, replayed byte for byte (`X-Mock-Fixture`).

A fixture is named by its path relative to the fixtures directory; `index.json`
there gives each file's recorded status and content type (a file it does not
list is answered 200, as SSE when it ends in `.sse`, else JSON). Paths that
leave the directory are refused. Reads are blocking: callers run `load` in a
thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from services.mockprovider.errors import BadRequest, NotFound


@dataclass(frozen=True, kw_only=True)
class Recording:
    body: bytes
    status: int
    content_type: str

    @property
    def is_sse(self) -> bool:
        return self.content_type.startswith("text/event-stream")


class FixtureStore:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._index: dict[str, tuple[int, str]] | None = None
        self._lock = threading.Lock()

    def load(self, name: str) -> Recording:
        path = (self._root / name).resolve()
        if Path(name).is_absolute() or not path.is_relative_to(self._root):
            raise BadRequest(f"X-Mock-Fixture {name!r} is outside the fixtures directory")
        if not path.is_file():
            raise NotFound(f"X-Mock-Fixture {name!r}: no such fixture")
        relative = path.relative_to(self._root).as_posix()
        default = (200, "text/event-stream" if path.suffix == ".sse" else "application/json")
        status, content_type = self._recorded().get(relative, default)
        return Recording(body=path.read_bytes(), status=status, content_type=content_type)

    def _recorded(self) -> dict[str, tuple[int, str]]:
        with self._lock:
            if self._index is None:
                self._index = self._read_index()
            return self._index

    def _read_index(self) -> dict[str, tuple[int, str]]:
        try:
            entries = orjson.loads((self._root / "index.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        return {
            entry["file"]: (int(entry.get("http_status", 200)), str(entry["content_type"]))
            for entry in entries
            if isinstance(entry, dict) and "file" in entry and "content_type" in entry
        }
