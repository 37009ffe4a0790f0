"""The CSRF and Origin checks on cookie-authenticated requests, and where the
cookie counts as a credential: pure, no loop."""

from __future__ import annotations

import pytest

from services.gateway.admission.principals import credential_from
from services.gateway.edge import session_guard
from shared import session_cookie
from shared.errors import Forbidden, Unauthorized

ORIGIN = session_cookie.origin_of("https://console.example/")
VALUE = session_cookie.new_value()
TOKEN = session_cookie.csrf_token(VALUE)
GOOD = {"Origin": "https://console.example", session_cookie.CSRF_HEADER: TOKEN}


def test_the_console_origin_is_scheme_host_and_port() -> None:
    assert ORIGIN == "https://console.example"
    assert session_cookie.origin_of("http://127.0.0.1:8080/x?y") == "http://127.0.0.1:8080"
    assert session_cookie.origin_of("https://Console.Example:443") == "https://console.example"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_safe_methods_need_nothing(method: str) -> None:
    session_guard.check(method, {}, VALUE, ORIGIN)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "FOO", "post"])
def test_unsafe_methods_pass_with_both(method: str) -> None:
    session_guard.check(method, GOOD, VALUE, ORIGIN)
    session_guard.check(method, {**GOOD, "Origin": "HTTPS://CONSOLE.EXAMPLE"}, VALUE, ORIGIN)


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({session_cookie.CSRF_HEADER: TOKEN}, "Origin"),
        ({**GOOD, "Origin": "https://console.example.evil"}, "Origin"),
        ({**GOOD, "Origin": "http://console.example"}, "Origin"),  # another scheme
        ({**GOOD, "Origin": "https://console.example:8443"}, "Origin"),
        ({**GOOD, "Origin": "null"}, "Origin"),
        ({**GOOD, "Origin": ""}, "Origin"),
        ({"Origin": ORIGIN}, "X-CSRF-Token"),
        ({**GOOD, session_cookie.CSRF_HEADER: ""}, "X-CSRF-Token"),
        ({**GOOD, session_cookie.CSRF_HEADER: TOKEN + "A"}, "X-CSRF-Token"),
        (
            {**GOOD, session_cookie.CSRF_HEADER: session_cookie.csrf_token(VALUE[::-1])},
            "X-CSRF-Token",
        ),
        ({**GOOD, session_cookie.CSRF_HEADER: "\udcff\x00" * 30}, "X-CSRF-Token"),
        ({**GOOD, session_cookie.CSRF_HEADER: VALUE}, "X-CSRF-Token"),  # the cookie itself
    ],
)
def test_unsafe_methods_are_refused_without_either(headers: dict[str, str], named: str) -> None:
    with pytest.raises(Forbidden, match=named):
        session_guard.check("POST", headers, VALUE, ORIGIN)


def test_the_cookie_is_the_credential_only_when_there_is_no_other() -> None:
    assert credential_from({}, {}) is None
    found = credential_from({}, {}, session_cookie=VALUE)
    assert found is not None and (found.kind, found.value) == ("session", VALUE)
    bearer = credential_from({"Authorization": "Bearer abc.def.ghi"}, {}, session_cookie=VALUE)
    assert bearer is not None and bearer.kind == "jwt"
    key = credential_from({"x-api-key": "tg-abc"}, {}, session_cookie=VALUE)
    assert key is not None and key.kind == "api_key"
    assert credential_from({}, {}, session_cookie="") is None
    with pytest.raises(Unauthorized):  # a broken Authorization is not excused by a cookie
        credential_from({"Authorization": "Basic x"}, {}, session_cookie=VALUE)
