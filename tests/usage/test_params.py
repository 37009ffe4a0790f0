"""Query parameters of the usage queries: defaults, limits, times, one 422 for all."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from multidict import MultiDict

from services.usage import params
from services.usage.params import Window
from shared.errors import Unprocessable


def _query(*pairs: tuple[str, str]) -> MultiDict[str]:
    return MultiDict(pairs)


def test_defaults() -> None:
    page = params.page_query(_query())
    assert (page.limit, page.after, page.window) == (50, None, Window())
    assert params.summary_query(_query()).group_by == "day"
    assert params.export_query(_query()).format == "csv"


def test_times_and_dates_are_read_as_utc() -> None:
    window = params.page_query(
        _query(("from", "2025-03-01"), ("to", "2025-03-02T01:00:00+02:00"), ("model", "m"))
    ).window
    assert window.start == datetime(2025, 3, 1, tzinfo=UTC)
    assert window.end == datetime(2025, 3, 1, 23, tzinfo=UTC)
    assert window.model == "m"


def test_empty_values_count_as_absent_and_unknown_names_are_ignored() -> None:
    page = params.page_query(_query(("limit", ""), ("model", ""), ("key", "tg-secret")))
    assert page.limit == 50 and page.window.model is None


@pytest.mark.parametrize(
    ("pairs", "name"),
    [
        ((("limit", "0"),), "limit"),
        ((("limit", "501"),), "limit"),
        ((("limit", "ten"),), "limit"),
        ((("limit", "5"), ("limit", "6")), "limit"),
        ((("from", "not a time"),), "from"),
        ((("to", "2025-13-01"),), "to"),
        ((("from", "2025-03-02"), ("to", "2025-03-01")), "to"),
        ((("from", "0001-01-01T00:00:00+05:00"),), "from"),
        ((("cursor", "garbage"),), "cursor"),
        ((("model", "m" * 201),), "model"),
        ((("model", "\x00"),), "model"),
        ((("model", "gpt\x1b[2J"),), "model"),
        ((("to", "9999-12-31T12:00:00Z"),), "to"),
    ],
)
def test_a_bad_page_parameter_is_named(pairs: tuple[tuple[str, str], ...], name: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        params.page_query(_query(*pairs))
    assert name in refused.value.message
    assert refused.value.details and refused.value.details[0].startswith(f"{name}: ")


def test_a_problem_never_quotes_the_value() -> None:
    with pytest.raises(Unprocessable) as refused:
        params.export_query(_query(("model", "a\x00b"), ("to", "9999-12-31")))
    assert refused.value.details == [
        "to: outside the times this service keeps (0001-01-02 to 9999-12-30, in UTC)",
        "model: must not contain NUL characters",
    ]


def test_every_bad_parameter_is_named_at_once() -> None:
    with pytest.raises(Unprocessable) as refused:
        params.page_query(_query(("limit", "0"), ("from", "x"), ("cursor", "y")))
    assert refused.value.message == "invalid query parameter: from, limit, cursor"
    assert refused.value.details is not None and len(refused.value.details) == 3


def test_group_by_and_format_are_choices() -> None:
    assert params.summary_query(_query(("group_by", "model"))).group_by == "model"
    assert params.export_query(_query(("format", "json"))).format == "json"
    with pytest.raises(Unprocessable, match="group_by"):
        params.summary_query(_query(("group_by", "week")))
    with pytest.raises(Unprocessable, match="format"):
        params.export_query(_query(("format", "xml")))


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (None, None, (None, None)),
        ("2025-03-01T00:00:00Z", "2025-03-03T00:00:00Z", (date(2025, 3, 1), date(2025, 3, 3))),
        ("2025-03-01T23:59:00Z", "2025-03-03T00:00:01Z", (date(2025, 3, 1), date(2025, 3, 4))),
        ("2025-03-01T05:00:00+06:00", None, (date(2025, 2, 28), None)),
    ],
)
def test_a_window_covers_the_utc_days_it_overlaps(
    start: str | None, end: str | None, days: tuple[date | None, date | None]
) -> None:
    window = Window(
        start=datetime.fromisoformat(start) if start else None,
        end=datetime.fromisoformat(end) if end else None,
    )
    assert window.days() == days


def test_key_and_status_filters() -> None:
    key = "5f0c8a4e-7a53-4c1e-9a3b-1d2f3e4a5b6c"
    window = params.page_query(_query(("key_id", key), ("status", "upstream_error"))).window
    assert str(window.key_id) == key and window.status == "upstream_error"
    assert params.totals_query(_query(("status", "error"))).window.status == "error"
    assert params.export_query(_query(("status", "ok"))).window.status == "ok"
    for pairs in ((("key_id", "tg-not-an-id"),), (("status", "failed"),)):
        with pytest.raises(Unprocessable) as refused:
            params.page_query(_query(*pairs))
        assert refused.value.details and refused.value.details[0].startswith(pairs[0][0] + ": ")
        assert pairs[0][1] not in str(refused.value.details)


def test_the_daily_summary_refuses_filters_it_cannot_apply() -> None:
    with pytest.raises(Unprocessable) as refused:
        params.summary_query(
            _query(("key_id", "5f0c8a4e-7a53-4c1e-9a3b-1d2f3e4a5b6c"), ("status", "ok"))
        )
    assert refused.value.message == "invalid query parameter: key_id, status"


def test_the_statuses_are_the_gateways_outcomes() -> None:
    from services.gateway.metering.usage_result import Outcome

    assert set(params.STATUSES) == {outcome.value for outcome in Outcome}
    assert params.ANY_ERROR not in params.STATUSES
