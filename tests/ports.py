"""Free loopback ports for the processes a test starts.

A test often has to know a server's port before the server binds it (its public
URL is in its own settings), so the port is chosen first and bound a moment later.
Ports the kernel hands out for port 0 come from the ephemeral range, the same range
every outgoing connection's local port comes from: with hundreds of connections to
PostgreSQL and Redis open, one of them could take the chosen port in between (CI
saw "Address already in use"). So the ports come from below the ephemeral range,
where no outgoing connection is ever placed, and each is handed out once per run.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")

_handed_out: set[int] = set()
_random = random.Random()


def _first_ephemeral_port() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct ports that are free now and that no other call hands out."""
    highest = _first_ephemeral_port() - 1
    if highest - LOWEST < 1000:
        raise RuntimeError(f"the ephemeral range starts at {highest + 1}: no room below it")
    ports: list[int] = []
    while len(ports) < count:
        if len(_handed_out) > (highest - LOWEST) // 2:
            _handed_out.clear()  # a long run: ports handed out long ago are free again
        port = _random.randint(LOWEST, highest)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            ports.append(port)
    return ports
