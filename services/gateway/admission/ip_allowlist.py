"""A key's IP allowlist: which client addresses may use it (DESIGN 13).

Pure: no IO. The client's address is the one the gateway records for the
request (`edge.api_proxy.client_ip`: the peer, or the first
`X-Forwarded-For` hop when the operator trusts a proxy), so what a usage
record shows is what the allowlist was checked against. Rules:

- No allowlist (None) admits every address; an allowlist admits an address
  inside one of its networks, IPv4 or IPv6.
- An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what a dual-stack socket
  reports for an IPv4 peer) is the IPv4 address it carries, and a network
  written that way (`::ffff:10.0.0.0/104`) the IPv4 network, so an operator
  writes `10.0.0.0/8` whatever the listening socket.
- An IPv6 zone index (`fe80::1%eth0`) is not part of the address.
- An address that cannot be read (missing, not an IP, NUL bytes, a huge
  forwarded header) is outside every allowlist: a key that has one is
  refused, never let through on a guess.
"""

from __future__ import annotations

import ipaddress

from services.gateway.admission.principals import Network
from shared.errors import Forbidden

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Longer than any textual IPv6 address with a zone index; anything longer is not one.
_MAX_ADDRESS_LENGTH = 64
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class AddressNotAllowed(Forbidden):
    """403 in the client's format: the key's allowlist leaves this address out."""

    code = "ip_not_allowed"


def address_of(text: str | None) -> Address | None:
    """The address in `text`, IPv4-mapped ones as IPv4; None when it is not one."""
    if text is None or len(text) > _MAX_ADDRESS_LENGTH:
        return None
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _unmapped(network: Network) -> Network:
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None  # inside ::ffff:0:0/96
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def admits(allowlist: tuple[Network, ...] | None, client_ip: str | None) -> bool:
    """Whether a key with `allowlist` may be used from `client_ip`."""
    if allowlist is None:
        return True
    address = address_of(client_ip)
    if address is None:
        return False
    # An address and a network of different versions never match (`in` is False).
    return any(address in _unmapped(network) for network in allowlist)


def check(allowlist: tuple[Network, ...] | None, client_ip: str | None) -> None:
    """Raise `AddressNotAllowed` unless `allowlist` admits `client_ip`."""
    if not admits(allowlist, client_ip):
        shown = str(address) if (address := address_of(client_ip)) else "an unknown address"
        raise AddressNotAllowed(f"this API key may not be used from {shown}")
