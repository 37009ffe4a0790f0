"""The `Fields` reader: client text and times by `client_input`'s rules, every problem at once."""

from __future__ import annotations

import pytest

from shared.bodies import Fields
from shared.errors import Unprocessable


def _problems(body: dict[str, object], read: str) -> list[str]:
    fields = Fields(body)
    if read == "name":
        fields.string("name", controls="none")
    elif read == "secret":
        fields.string("secret", controls="any")
    elif read == "models":
        fields.string_list("models", max_length=10)
    elif read == "at":
        fields.timestamp("at")
    return fields.problems


@pytest.mark.parametrize(
    ("body", "read", "problem"),
    [
        ({"name": "a\x00b"}, "name", "name: must not contain NUL characters"),
        ({"name": "a\nb"}, "name", "name: must not contain control characters"),
        ({"secret": "a\x00b"}, "secret", "secret: must not contain NUL characters"),
        ({"models": ["ok", "a\x00"]}, "models", "models: item 1 must not contain NUL characters"),
        ({"models": ["m" * 11]}, "models", "models: item 0 at most 10 characters"),
        (
            {"at": "9999-12-31T23:59:59-14:00"},
            "at",
            "at: outside the times this service keeps (0001-01-02 to 9999-12-30, in UTC)",
        ),
    ],
)
def test_client_text_and_times_are_checked(
    body: dict[str, object], read: str, problem: str
) -> None:
    assert _problems(body, read) == [problem]


def test_secrets_may_hold_control_characters_other_than_nul() -> None:
    assert _problems({"secret": "a\x07\tb"}, "secret") == []


def test_unknown_field_names_are_quoted_capped() -> None:
    fields = Fields({"y" * 500: 1, "known": 2})
    fields.refuse_unknown({"known"})
    assert fields.problems == ["y" * 80 + "…(+420 chars): unknown field"]
    with pytest.raises(Unprocessable):
        fields.check()
