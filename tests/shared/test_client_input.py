"""Client text and times: what is taken in, and how it is quoted back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.client_input import (
    Controls,
    cap,
    encodable,
    holds_nul,
    name_problem,
    recordable,
    text_problem,
    time_problem,
)


def test_cap_keeps_short_text_and_marks_what_it_cuts() -> None:
    assert cap("short") == "short"
    assert cap("x" * 80) == "x" * 80
    assert cap("x" * 100, 80) == "x" * 80 + "…(+20 chars)"
    assert cap("abcdef", 2) == "ab…(+4 chars)"


@pytest.mark.parametrize(
    ("value", "controls", "problem"),
    [
        ("plain", "none", None),
        ("tab\there", "lines", None),
        ("two\nlines\r\n", "lines", None),
        ("bell\x07", "any", None),
        ("ü and 😀", "none", None),
        ("a\x00b", "any", "must not contain NUL characters"),
        ("a\x00b", "none", "must not contain NUL characters"),
        ("tab\there", "none", "must not contain control characters"),
        ("del\x7f", "none", "must not contain control characters"),
        ("c1\x85", "none", "must not contain control characters"),
        (
            "bell\x07",
            "lines",
            "must not contain control characters other than tabs and line breaks",
        ),
        ("lone \ud800", "any", "must be valid Unicode text (it holds a lone surrogate)"),
        ("x" * 101, "any", "at most 100 characters"),
    ],
)
def test_text_problems_never_quote_the_value(
    value: str, controls: Controls, problem: str | None
) -> None:
    found = text_problem(value, max_length=100, controls=controls)
    assert found == problem
    if found is not None:
        assert value not in found


def test_names_are_not_blank_and_have_no_control_characters() -> None:
    assert name_problem("gpt-4o") is None
    assert name_problem("   ") == "must not be blank"
    assert name_problem("\x00") == "must not contain NUL characters"
    assert name_problem("m" * 200) is None
    assert name_problem("m" * 201) == "at most 200 characters"


def test_a_nul_is_found_at_any_depth_in_keys_and_values() -> None:
    assert not holds_nul({"a": [1, {"b": "c"}], "d": None})
    assert holds_nul({"a": [1, {"b": "c\x00"}]})
    assert holds_nul({"a": {"k\x00": 1}})
    assert holds_nul("\x00")
    deep: object = "\x00"
    for _ in range(5_000):  # deeper than Python's recursion limit
        deep = [deep]
    assert holds_nul(deep)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC),
        datetime(9999, 12, 31, 9, 0, tzinfo=timezone(timedelta(hours=14))),
        datetime(1, 1, 2, tzinfo=UTC),
        datetime(1, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-14))),
    ],
)
def test_times_inside_the_calendar_are_taken(value: datetime) -> None:
    assert time_problem(value) is None


@pytest.mark.parametrize(
    "value",
    [
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
        datetime(9999, 12, 31, 12, 0, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14))),
        datetime(1, 1, 1, 23, 0, tzinfo=UTC),
    ],
)
def test_times_at_the_calendars_edges_are_refused(value: datetime) -> None:
    assert time_problem(value) == (
        "outside the times this service keeps (0001-01-02 to 9999-12-30, in UTC)"
    )


def test_a_time_without_a_zone_is_refused() -> None:
    assert time_problem(datetime(2025, 1, 1)) == "must carry a time zone (for example Z)"


def test_recorded_values_lose_nul_and_surrogates_and_are_cut() -> None:
    assert recordable(None, 10) is None
    assert recordable("", 10) is None
    assert recordable("curl/8", 10) == "curl/8"
    assert recordable("a\x00b\udcff", 10) == "a\ufffdb\ufffd"
    assert recordable("x" * 600, 512) == "x" * 512


def test_encodable_replaces_only_lone_surrogates() -> None:
    assert encodable("plain") == "plain"
    assert encodable("ü 😀") == "ü 😀"
    assert encodable("agent\udcff\udcfe") == "agent\ufffd\ufffd"
    encodable("agent\udcff").encode()
