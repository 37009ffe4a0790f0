"""Incremental Server-Sent Events parser: bytes in, events out, no IO.

The relay forwards an upstream stream event by event and may hold one back
(the usage-only chunk it asked OpenAI for), so every event keeps the exact
bytes it arrived as. Rules this module keeps:

- Byte-exact: each `SseEvent.raw` is one block as received, up to and including
  the blank line that ends it, and the events from `feed()` and `close()`
  together cover the input with nothing added, lost or reordered.
- Split-proof: bytes may arrive cut anywhere (inside a line, between CR and
  LF, inside a UTF-8 sequence); the events are the same whatever the cuts.
- Every block becomes an event, even one that carries no `data:` field (a
  keep-alive comment, a stray blank line, the tail flushed at EOF), because
  its bytes still have to reach the client; `has_data` says whether the
  WHATWG algorithm would dispatch it as a message.
- Lenient like a browser: LF, CRLF and CR line ends, mixed if need be; unknown
  fields and lines without a colon are ignored; no error for odd input, except
  a block over `max_event_size`, which raises `SseError` so a broken upstream
  cannot make the gateway buffer without bound (drop the parser after that).
- Unlike a browser, `close()` parses an unterminated final block instead of
  discarding it: the relay has forwarded those bytes, so usage in them counts
  (a payload cut short simply fails to decode later).
- Fast: line ends are found with `bytes.find` (memchr), never byte by byte.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

_CR = 0x0D
_LF = 0x0A
_BOM = b"\xef\xbb\xbf"

_LINE_END_BYTES = (_CR, _LF)


class SseError(ValueError):
    """The upstream stream cannot be relayed; the hint is the status to answer."""

    def __init__(self, message: str, *, error_status_hint: int = 502) -> None:
        super().__init__(message)
        self.error_status_hint = error_status_hint


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One block of the stream: its fields as parsed, and its bytes as received.

    `event` is None for the default type ("message"); `data` is the block's
    `data:` fields joined with LF; `id` is the `id:` this block set, if any.
    """

    event: str | None
    data: bytes
    raw: bytes
    id: str | None = None
    has_data: bool = True


class SseParser:
    """Turns a byte stream into `SseEvent`s; feed it chunks, then `close()` it."""

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._max_event_size = max_event_size
        self._buffer = bytearray()
        self._scan_from = 0
        self._at_stream_start = True
        self._closed = False

    def feed(self, data: bytes) -> list[SseEvent]:
        """Add bytes from the stream; return the blocks they complete."""
        if self._closed:
            raise RuntimeError("SseParser.feed() after close()")
        self._buffer += data
        events = self._take_blocks(at_eof=False)
        # What is left is the start of one block, so it must already fit.
        self._check_size(len(self._buffer))
        return events

    def close(self) -> list[SseEvent]:
        """Signal end of stream; return the remaining blocks, the last maybe unterminated."""
        if self._closed:
            return []
        self._closed = True
        events = self._take_blocks(at_eof=True)
        if self._buffer:
            tail = bytes(self._buffer)
            self._buffer.clear()
            events.append(self._parse_block(tail, tail))
        return events

    def _take_blocks(self, *, at_eof: bool) -> list[SseEvent]:
        buffer = self._buffer
        events: list[SseEvent] = []
        start = 0
        while start < len(buffer):
            end, content_end = self._next_block_end(start, at_eof=at_eof)
            if end < 0:
                break
            raw = bytes(buffer[start:end])
            self._check_size(len(raw))
            events.append(self._parse_block(raw, raw[: content_end - start]))
            start = end
            self._scan_from = end
        if start:
            del buffer[:start]
            self._scan_from = max(0, self._scan_from - start)
        return events

    def _next_block_end(self, start: int, *, at_eof: bool) -> tuple[int, int]:
        """Return (end of block, end of its content) or (-1, -1) if not complete yet.

        Walks line ends with `bytes.find` until one is followed by an empty line;
        `_scan_from` remembers how far that walk got, so bytes that arrive one
        at a time are not searched again.
        """
        buffer = self._buffer
        if buffer[start] in _LINE_END_BYTES:
            # An empty line where a block begins: a block of its own, with no fields.
            end = self._line_end(start, at_eof=at_eof)
            return (end, start) if end >= 0 else (-1, -1)
        position = max(start, self._scan_from)
        while True:
            line_end = self._find_line_end(position)
            if line_end < 0:
                self._scan_from = len(buffer)
                return -1, -1
            next_line = self._line_end(line_end, at_eof=at_eof)
            if next_line < 0 or next_line == len(buffer):
                self._scan_from = line_end  # look at this line end again with more bytes
                return -1, -1
            if buffer[next_line] in _LINE_END_BYTES:
                block_end = self._line_end(next_line, at_eof=at_eof)
                if block_end < 0:
                    self._scan_from = line_end
                    return -1, -1
                return block_end, line_end
            position = next_line

    def _find_line_end(self, position: int) -> int:
        """Index of the first CR or LF at or after `position`, or -1."""
        lf = self._buffer.find(b"\n", position)
        # Searching for CR only up to that LF keeps LF-only streams linear.
        cr = self._buffer.find(b"\r", position, lf if lf >= 0 else len(self._buffer))
        return cr if cr >= 0 else lf

    def _line_end(self, index: int, *, at_eof: bool) -> int:
        """Where the line end starting at `index` stops, or -1 while it is undecided."""
        buffer = self._buffer
        if buffer[index] == _LF:
            return index + 1
        if index + 1 < len(buffer):
            return index + 2 if buffer[index + 1] == _LF else index + 1
        # A CR last in the buffer may be the first half of a CRLF.
        return index + 1 if at_eof else -1

    def _check_size(self, size: int) -> None:
        if size > self._max_event_size:
            raise SseError(f"SSE event exceeds {self._max_event_size} bytes")

    def _parse_block(self, raw: bytes, content: bytes) -> SseEvent:
        if self._at_stream_start:
            self._at_stream_start = False
            content = content.removeprefix(_BOM)
        event_type: bytes | None = None
        event_id: bytes | None = None
        data_lines: list[bytes] = []
        # bytes.splitlines() breaks at exactly LF, CR and CRLF, the SSE line ends.
        for line in content.splitlines():
            if not line or line[0] == 0x3A:  # a blank line at stream start, or a comment
                continue
            name, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data_lines.append(value)
            elif name == b"event":
                event_type = value
            elif name == b"id" and b"\0" not in value:
                event_id = value
        return SseEvent(
            event=_text(event_type) or None,
            data=b"\n".join(data_lines),
            raw=raw,
            id=_text(event_id),
            has_data=bool(data_lines),
        )


def _text(value: bytes | None) -> str | None:
    # The SSE stream is UTF-8 by definition; a browser shows bad bytes as U+FFFD.
    return None if value is None else value.decode("utf-8", "replace")
