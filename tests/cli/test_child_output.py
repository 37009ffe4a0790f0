"""Copying `tollgate dev`'s children's output: the line cutter alone, then real
child processes copied into real pipes (a reader that keeps up, one that does
not read at all, one that is closed)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

from services.cli import child_output
from services.cli.child_output import LineCutter, Terminal

# ---------------------------------------------------------------- the cutter (no IO)


def test_lines_split_across_chunks_come_out_whole() -> None:
    cutter = LineCutter()
    assert cutter.feed(b"one\ntw") == ["one"]
    assert cutter.feed(b"o") == []
    assert cutter.feed(b"\nthree\r\nfour") == ["two", "three"]
    assert cutter.end() == ["four"]
    assert cutter.end() == []


def test_a_long_line_keeps_its_head_and_says_how_much_was_cut() -> None:
    cutter = LineCutter(limit=100)
    line = b"x" * 100_000
    lines = [*cutter.feed(line[:30_000]), *cutter.feed(line[30_000:] + b"\nnext\n")]
    assert lines == ["x" * 100 + " [... 99,900 more bytes cut]", "next"]


def test_a_cut_never_splits_a_character() -> None:
    cutter = LineCutter(limit=5)
    (line,) = cutter.feed("abcdé and more\n".encode())  # é is 2 bytes: bytes 4 and 5
    assert line == "abcd [... 11 more bytes cut]"


def test_invalid_utf8_and_control_characters_cannot_reach_the_terminal_raw() -> None:
    cutter = LineCutter()
    (line,) = cutter.feed(b"a\xff\xfeb \x1b[2J\x07 c\td\x00 \xc2\x9b \x7f\n")
    assert line == "a\ufffd\ufffdb \\x1b[2J\\x07 c\td\\x00 \\x9b \\x7f"


# ---------------------------------------------------------------- real children, real pipes

# Writes a 100,000-character line, then `lines` numbered lines of 100 bytes, and exits.
_LONG_THEN_MANY = """
import sys
lines = int(sys.argv[1])
sys.stdout.write("m" * 100_000 + "\\n")
sys.stdout.flush()
for n in range(lines):
    sys.stdout.write(f"line {n:06d} ".ljust(99, ".") + "\\n")
    sys.stdout.flush()
sys.stdout.write("the end\\n")
"""


def _child(program: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", program, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


class _Screen:
    """A Terminal writing into a pipe, and the pipe read to its end in a thread
    (once `read` is called): what a person would see."""

    def __init__(self, backlog_bytes: int = child_output.BACKLOG_BYTES) -> None:
        self._read_end, self._write_end = os.pipe()
        self.terminal = Terminal(self._write_end, backlog_bytes=backlog_bytes)
        self._seen = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reading = False

    def read(self) -> None:
        self._reading = True
        self._reader.start()

    def _read(self) -> None:
        while chunk := os.read(self._read_end, 65536):
            self._seen += chunk

    def close(self) -> str:
        """Everything the terminal wrote (it is closed first)."""
        self.terminal.close(timeout=10)
        if not self._reading:
            self.read()  # (a terminal blocked on the full pipe stays so until then)
        os.close(self._write_end)
        self._reader.join(timeout=10)
        os.close(self._read_end)
        return self._seen.decode()


async def _copy_until_exit(child: subprocess.Popen[bytes], terminal: Terminal) -> int:
    assert child.stdout is not None
    copy = child_output.copy_pipe(child.stdout, " svc | ", terminal)
    await asyncio.wait_for(copy, timeout=60)
    return await asyncio.wait_for(asyncio.to_thread(child.wait), timeout=10)


async def test_a_100000_character_line_leaves_the_child_running_and_later_lines_come_through() -> (
    None
):
    # 3,000 lines of 100 bytes after the long line: several times what a pipe
    # holds, so a copy that stopped at the long line would leave the child
    # blocked on a full pipe, never exiting.
    child = _child(_LONG_THEN_MANY, "3000")
    screen = _Screen()
    screen.read()
    assert await _copy_until_exit(child, screen.terminal) == 0
    lines = screen.close().splitlines()
    assert lines[0] == " svc | " + "m" * child_output.MAX_LINE_BYTES + (
        f" [... {100_000 - child_output.MAX_LINE_BYTES:,} more bytes cut]"
    )
    assert [line[:18] for line in lines[1:-1]] == [f" svc | line {n:06d}" for n in range(3000)]
    assert lines[-1] == " svc | the end"


async def test_a_terminal_that_does_not_read_never_blocks_the_child() -> None:
    """Nobody reads dev's output: the copy keeps draining the child (dropping
    lines, counted), and the count is shown once the terminal reads again."""
    child = _child(_LONG_THEN_MANY, "50000")  # 5 MB
    screen = _Screen(backlog_bytes=256 * 1024)
    assert await _copy_until_exit(child, screen.terminal) == 0
    screen.terminal.write("after\n")
    screen.read()
    text = screen.close()
    assert "lines dropped: the terminal did not keep up" in text
    assert text.endswith("after\n")
    assert len(text) < 1_000_000


async def test_a_closed_terminal_is_discarded_and_the_child_still_drained() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # dev's output closed (`tollgate dev | head` after head exits)
    terminal = Terminal(write_end)
    try:
        child = _child(_LONG_THEN_MANY, "20000")
        assert await _copy_until_exit(child, terminal) == 0
        assert terminal.broken
        terminal.write("nothing raises\n")
    finally:
        terminal.close(timeout=5)
        os.close(write_end)


async def test_a_child_that_writes_bytes_that_are_not_utf8_is_copied_with_replacements() -> None:
    program = "import sys; sys.stdout.buffer.write(b'a\\xff\\x1b[31mb\\n\\xc3'); sys.stdout.flush()"
    child = _child(program)
    screen = _Screen()
    screen.read()
    assert await _copy_until_exit(child, screen.terminal) == 0
    assert screen.close() == " svc | a\ufffd\\x1b[31mb\n svc | \ufffd\n"
