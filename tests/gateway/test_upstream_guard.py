"""The URL guard's address rules, and its resolver refusing names that lead inside."""

from __future__ import annotations

import pytest

from services.gateway.relay.attempt import retry_after_seconds
from services.gateway.upstream.address_guard import (
    AddressRefused,
    literal_refusal,
    refusal,
    resolve,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "link-local"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not a public address"),
        ("192.0.2.1", "private"),
    ],
)
def test_inside_addresses_are_refused(address: str, reason: str) -> None:
    found = refusal(address)
    assert found is not None and reason in found


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


def test_literal_refusal_looks_only_at_ip_hosts() -> None:
    assert literal_refusal("http://169.254.169.254") is not None
    assert literal_refusal("http://[::1]:8080") is not None
    assert literal_refusal("https://api.openai.com") is None
    assert literal_refusal("https://8.8.8.8") is None


async def test_the_resolver_refuses_a_name_that_resolves_inside() -> None:
    with pytest.raises(AddressRefused, match="localhost resolves to .*loopback"):
        await resolve("localhost", 80, guarded=True)
    assert await resolve("localhost", 80, guarded=False)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_as_an_http_date() -> None:
    seconds = retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    assert seconds == 10.0
