"""The overview's charts (services/console/charts.py), pure: from summary rows
to bars, axis labels, legend and table, without a page or a loop."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from services.console import charts

TODAY = date(2025, 3, 10)


def _row(day: str, model: str, cost: str = "0", tokens: int = 0) -> dict[str, Any]:
    return {
        "day": day,
        "model": model,
        "cost": cost,
        "input_tokens": tokens,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }


@pytest.mark.parametrize(
    ("largest", "step", "top"),
    [
        ("0", "1", "4"),
        ("0.003", "0.001", "0.003"),
        ("0.0001064", "0.00005", "0.00015"),
        ("7", "2", "8"),
        ("10", "2.5", "10"),
        ("13", "5", "15"),
        ("123456", "50000", "150000"),
    ],
)
def test_the_axis_top_is_round_and_above_the_largest_day(largest: str, step: str, top: str) -> None:
    assert charts.round_top(Decimal(largest)) == (Decimal(step), Decimal(top))


def test_money_keeps_every_digit_and_two_decimals_at_least() -> None:
    assert [charts.money(Decimal(x)) for x in ("0", "1", "0.5", "0.000106400000", "12.50")] == [
        "0.00",
        "1.00",
        "0.50",
        "0.0001064",
        "12.50",
    ]
    assert [charts.compact(Decimal(x)) for x in ("950", "1200", "3000000")] == [
        "950",
        "1.2k",
        "3M",
    ]


def test_a_period_ends_today() -> None:
    days = charts.period(TODAY, 7)
    assert (len(days), days[0], days[-1]) == (7, date(2025, 3, 4), TODAY)


def test_bars_stack_per_model_inside_the_plot() -> None:
    rows = [
        _row("2025-03-10", "gpt-4o", "0.25", 100),
        _row("2025-03-10", "claude", "0.50", 300),
        _row("2025-03-09", "gpt-4o", "2", 50),
        _row("2025-02-01", "gpt-4o", "9", 50),  # outside the week
    ]
    spend = charts.build(rows, charts.period(TODAY, 7), "spend")
    assert [(s.name, s.total) for s in spend.series] == [
        ("gpt-4o", Decimal("2.25")),
        ("claude", Decimal("0.50")),
    ]
    assert spend.total == "2.75"
    assert [(row.day.isoformat(), row.amounts, row.total) for row in spend.rows] == [
        ("2025-03-09", ["2.00", "0.00"], "2.00"),
        ("2025-03-10", ["0.25", "0.50"], "0.75"),
    ]
    for bar in spend.bars:
        assert spend.left <= bar.x and bar.x + bar.width <= spend.right
        assert 0 <= bar.y and bar.y + bar.height <= spend.baseline + 0.01
    today = [bar for bar in spend.bars if bar.day == TODAY]
    assert [bar.series.name for bar in today] == ["gpt-4o", "claude"]
    assert today[1].y + today[1].height == pytest.approx(today[0].y, abs=0.02)  # stacked
    assert [tick.label for tick in spend.ticks] == ["0", "0.5", "1", "1.5", "2"]


def test_both_charts_share_colours_and_their_left_edge() -> None:
    rows = [_row("2025-03-10", "cheap", "0.0001", 90000), _row("2025-03-10", "dear", "3", 10)]
    spend, tokens = charts.aligned(rows, charts.period(TODAY, 7))
    assert [s.name for s in spend.series] == [s.name for s in tokens.series] == ["dear", "cheap"]
    assert spend.left == tokens.left


def test_past_six_models_the_rest_are_one_other_series() -> None:
    rows = [_row("2025-03-10", f"model-{n}", str(10 - n)) for n in range(9)]
    chart = charts.build(rows, charts.period(TODAY, 30), "spend")
    assert [s.name for s in chart.series] == [f"model-{n}" for n in range(5)] + [""]
    assert chart.series[-1].is_other and chart.series[-1].total == Decimal(5 + 4 + 3 + 2)
    assert [s.css_class for s in chart.series][-2:] == ["series-4", "series-other"]
    assert len(chart.rows[0].amounts) == 6


@pytest.mark.parametrize("days", [7, 30, 90])
def test_day_labels_never_crowd_and_today_is_labelled(days: int) -> None:
    rows = [_row(TODAY.isoformat(), "gpt-4o", "0.000025")]
    chart = charts.build(rows, charts.period(TODAY, days), "spend")
    xs = [label.x for label in chart.day_labels]
    assert chart.day_labels[-1].label == "03-10"
    assert all(b - a >= charts.LABEL_SPACING for a, b in zip(xs, xs[1:], strict=False))
    assert xs[-1] + 24 <= chart.width  # "03-10" at the larger font stays inside
    assert chart.left >= 10 + 9 * len("0.00003")


def test_no_usage_is_an_empty_chart() -> None:
    chart = charts.build([_row(TODAY.isoformat(), "gpt-4o")], charts.period(TODAY, 7), "tokens")
    assert chart.empty and chart.bars == [] and chart.series == []
    assert [tick.label for tick in chart.ticks] == ["0", "1", "2", "3", "4"]
