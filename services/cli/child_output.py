"""Copying the children's output of `tollgate dev` to its own, whatever they write.

A child whose output pipe is full blocks on its next log line and stops
serving, so the copy must never stop draining: not on a line of any length,
not on bytes that are not UTF-8, not when dev's own output is slow, full or
closed. The rules:

- The pipe is read in chunks (`read(CHUNK_BYTES)`), never by line: a reader
  waiting for a newline has a limit, and past it the copy used to stop.
- `LineCutter` (no IO) splits the bytes into lines. A line keeps its first
  `MAX_LINE_BYTES`; the rest is counted, never held, and the line ends with a
  mark saying how much was cut. Invalid UTF-8 becomes U+FFFD; control
  characters (escape sequences a client's text could carry into a traceback)
  are shown escaped, so nothing written can drive the terminal.
- `Terminal` owns dev's standard output. Writes go to a thread through a
  bounded backlog, so a slow terminal never blocks the event loop: when the
  backlog is full, lines are dropped and counted (the count is shown once the
  terminal keeps up again); when the output is closed or broken, everything
  is discarded and the children are still drained.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import os
import threading
from typing import IO

CHUNK_BYTES = 65536
MAX_LINE_BYTES = 16384
BACKLOG_BYTES = 4 * 1024 * 1024

# C0 controls but tab, DEL and the C1 controls (U+009B is a CSI to some terminals).
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0)]}


class LineCutter:
    """Bytes in, printable lines out; at most `limit` bytes of each line kept."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self._limit = limit
        self._head = bytearray()  # the current line's first bytes, up to `limit`
        self._cut = 0  # bytes of the current line past `limit`, dropped

    def feed(self, data: bytes) -> list[str]:
        """The lines `data` completes (without their newline)."""
        lines = []
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            self._take(data[start:end])
            lines.append(self._line())
            start = end + 1
        self._take(data[start:])
        return lines

    def end(self) -> list[str]:
        """At the end of the output: the last line, when it had no newline."""
        return [self._line()] if self._head or self._cut else []

    def _take(self, piece: bytes) -> None:
        room = self._limit - len(self._head)
        self._head += piece[:room]
        self._cut += max(0, len(piece) - room)

    def _line(self) -> str:
        head, cut = bytes(self._head), self._cut
        self._head.clear()
        self._cut = 0
        if cut:
            # An incremental decoder leaves out a character the cut split in two.
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            text = decoder.decode(head, final=False)
            cut += len(decoder.getstate()[0])
            return f"{printable(text)} [... {cut:,} more bytes cut]"
        return printable(head.removesuffix(b"\r").decode("utf-8", "replace"))


def printable(text: str) -> str:
    """`text` with control characters (tab excepted) escaped as `\\xNN`."""
    return text.translate(_CONTROLS)


class Terminal:
    """Dev's standard output, written by a thread; `write` never blocks or raises."""

    def __init__(self, fd: int = 1, backlog_bytes: int = BACKLOG_BYTES) -> None:
        self._fd = fd
        self._limit = backlog_bytes
        self._backlog: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._dropped = 0
        self._broken = False
        self._closing = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="dev-terminal", daemon=True)
        self._thread.start()

    @property
    def broken(self) -> bool:
        return self._broken

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        with self._ready:
            if self._broken or self._closing:
                return
            if self._size + len(data) > self._limit:
                self._dropped += 1
                return
            self._backlog.append(data)
            self._size += len(data)
            self._ready.notify()

    def close(self, timeout: float = 2.0) -> None:
        """Write what is waiting (for at most `timeout` seconds), then stop."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._backlog and not self._closing:
                    self._ready.wait()
                if not self._backlog and self._closing:
                    return
                batch = b"".join(self._backlog)
                self._backlog.clear()
                self._size = 0
                dropped, self._dropped = self._dropped, 0
            if dropped:
                note = f"tollgate | {dropped:,} lines dropped: the terminal did not keep up\n"
                batch = note.encode() + batch
            try:
                _write_all(self._fd, batch)
            except OSError:
                with self._ready:
                    self._broken = True
                    self._backlog.clear()
                    self._size = 0
                return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def copy_output(stream: asyncio.StreamReader, prefix: str, terminal: Terminal) -> None:
    """Copy `stream` to `terminal` until its end, each line after `prefix`."""
    cutter = LineCutter()
    while True:
        try:
            chunk = await stream.read(CHUNK_BYTES)
        except OSError as exc:
            terminal.write(f"{prefix}[output unreadable: {exc.strerror}]\n")
            chunk = b""
        lines = cutter.feed(chunk) if chunk else cutter.end()
        if lines:
            terminal.write("".join(f"{prefix}{line}\n" for line in lines))
        if not chunk:
            return


async def copy_pipe(pipe: IO[bytes], prefix: str, terminal: Terminal) -> None:
    """Copy a child's output pipe (a `Popen` stream) to `terminal` until its end; the
    pipe is closed afterwards."""
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(limit=2 * CHUNK_BYTES, loop=loop)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream, loop=loop), pipe
    )
    try:
        await copy_output(stream, prefix, terminal)
    finally:
        transport.close()
