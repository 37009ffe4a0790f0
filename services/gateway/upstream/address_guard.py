"""The upstream URL guard: channels reach public addresses only, unless allowed.

An admin-configured base URL must not turn the gateway into a way into the
operator's own network (the cloud metadata service at 169.254.169.254, a
database on a private address, the gateway's own loopback). Rules:

- Only addresses that are global unicast are accepted; loopback, private,
  link-local, shared (CGNAT), multicast, reserved and unspecified ones are
  refused, and IPv4 written as IPv6 (`::ffff:127.0.0.1`) is judged as IPv4.
- A channel may opt out (`allow_private_network`); dev and tests do, for the
  mock provider on loopback.
- The check holds where the connection is made, not only when the URL is
  saved: `resolve(host, port, guarded=True)` refuses a name that resolves to a
  refused address, and the upstream client (`upstream_http`) resolves with it
  for every connection it opens, so a DNS answer that changes later
  (rebinding) is caught. IP literals are checked per channel by the relay.
- Redirects are never followed (the upstream client does not know how), and
  a base URL that answers with one is refused when it is configured.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from yarl import URL

Address = tuple[socket.AddressFamily, str]


class AddressRefused(OSError):
    """A connection to an address the guard refuses."""


class UnknownHost(OSError):
    """The name does not resolve (now)."""


def refusal(address: str) -> str | None:
    """Why the guard refuses this IP address, or None when it is public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def literal_refusal(base_url: str) -> str | None:
    """Why the guard refuses a URL whose host is an IP literal; None for names and public IPs."""
    host = URL(base_url).host or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return refusal(host)


async def resolve(host: str, port: int, *, guarded: bool) -> list[Address]:
    """Every address `host` has; when `guarded`, `AddressRefused` if any is refused."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UnknownHost(f"cannot resolve {host}: {error}") from error
    addresses: list[Address] = [(family, str(sockaddr[0])) for family, *_, sockaddr in found]
    if not addresses:
        raise UnknownHost(f"{host} has no address")
    if guarded:
        for _, address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise AddressRefused(f"{host} resolves to {address}, {reason}")
    return addresses
