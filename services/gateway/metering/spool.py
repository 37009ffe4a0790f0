"""The durable local spool: usage events that could not reach Redis.

One append-only file of JSON lines per gateway process, under the spool
directory. An append is flushed and fsynced before the request's `finally`
returns, so a crash after it loses nothing. The replayer publishes spooled
events in order when Redis answers again, then truncates the file; while the
spool is not empty, new events are appended behind the spooled ones instead of
overtaking them. Files left by dead processes are replayed too (each file is
locked by whoever replays it). A crash between publishing and truncating can
publish an event twice; consumers ignore the second copy by its event id.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_log = logging.getLogger(__name__)


class Spool:
    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.path = directory / f"{name}.jsonl"
        self.pending = 0

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pending = sum(1 for _ in self._lines(self.path)) if self.path.exists() else 0

    def append(self, event: bytes) -> None:
        """Durably add one event (a JSON document without newlines)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, event + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        self.pending += 1

    def files(self) -> list[Path]:
        """Every spool file in the directory, ours and those of dead processes."""
        return sorted(self.directory.glob("*.jsonl"))

    @contextmanager
    def claimed(self, path: Path) -> Iterator[list[bytes] | None]:
        """The events of `path`, locked against other replayers; None if locked."""
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            yield None
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            yield list(self._lines(path))
        finally:
            os.close(fd)

    def done(self, path: Path, published: int) -> None:
        """Drop the first `published` events of `path` (all of them: remove it)."""
        lines = list(self._lines(path))
        rest = lines[published:]
        if rest:
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(b"".join(line + b"\n" for line in rest))
            os.replace(temporary, path)
        elif path == self.path:
            path.write_bytes(b"")
        else:
            path.unlink(missing_ok=True)
        if path == self.path:
            self.pending = len(rest)

    @staticmethod
    def _lines(path: Path) -> Iterator[bytes]:
        with path.open("rb") as handle:
            for line in handle:
                # A torn last line (a crash mid-write before fsync) was never
                # acknowledged to anyone; skip it rather than publish garbage.
                if line.endswith(b"\n") and line.strip():
                    yield line.rstrip(b"\n")
                elif line.strip():
                    _log.warning("skipped a torn spool line", extra={"spool": str(path)})
