"""Charts of spend and tokens per day and per model, drawn on the server as SVG.

Pure: summary rows in (`GET /api/usage/summary?group_by=day,model`, days in
the user's zone), a `Chart` out that `_chart.html` draws. No script draws
anything and nothing is styled inline (the CSP's `style-src 'self'`): every
shape carries a class (`series-N`, `grid`, `axis-label`) that console.css
colours for the light and dark themes.

- A chart is one bar per day of the period, the last one today, stacked per
  model: the models spending most (or using most tokens) get their own colour,
  at most `MAX_SERIES`; the rest are summed as one "other" series.
- The vertical axis runs from 0 to a round top (1, 2, 2.5 or 5 times a power
  of ten, in `TICKS` steps) computed in exact decimals, so an axis label reads
  "0.005", never "0.0049999".
- The days are labelled MM-DD (the same in every language), today always,
  then every few days so labels never overlap.
- The same numbers go to a table for screen readers: one row per day with
  usage, one column per series and the day's total.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

Measure = Literal["spend", "tokens"]

MAX_SERIES = 6
TICKS = 4
WIDTH, HEIGHT = 480, 220  # the viewBox: it scales to the page's width
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 10, 26  # room for the axis labels
LABEL_SPACING = 44  # the least distance between two day labels, in viewBox units
_ROUND_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


@dataclass(frozen=True, kw_only=True)
class Series:
    index: int  # its colour: the class `series-{index}`
    name: str  # a model, or "" for every other model together
    total: Decimal

    @property
    def is_other(self) -> bool:
        return self.name == ""


@dataclass(frozen=True, kw_only=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: Series
    day: date
    amount: str  # as the table writes it


@dataclass(frozen=True, kw_only=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, kw_only=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True, kw_only=True)
class TableRow:
    day: date
    amounts: list[str]  # one per series, in the legend's order
    total: str


@dataclass(frozen=True, kw_only=True)
class Chart:
    measure: Measure
    days: list[date]
    series: list[Series]
    bars: list[Bar]
    ticks: list[Tick]
    day_labels: list[DayLabel]
    rows: list[TableRow]
    total: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.rows


def amount_of(row: Mapping[str, Any], measure: Measure) -> Decimal:
    """What a summary row counts for `measure`: its cost, or its tokens of every kind."""
    if measure == "spend":
        return Decimal(str(row.get("cost") or 0))
    return Decimal(sum(int(row.get(name) or 0) for name in _TOKEN_FIELDS))


def plain(amount: Decimal) -> str:
    """A decimal as written, without exponent or trailing zeros."""
    return format(amount.normalize(), "f") if amount else "0"


def money(amount: Decimal) -> str:
    """An amount of money as the balance shows it: two decimals at least, every digit kept."""
    text = plain(amount)
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"


def compact(amount: Decimal) -> str:
    """A token count for an axis: 950, 1.2k, 3M."""
    for size, suffix in ((Decimal(10) ** 9, "G"), (Decimal(10) ** 6, "M"), (Decimal(1000), "k")):
        if abs(amount) >= size:
            return plain(round(amount / size, 1)) + suffix
    return plain(amount)


def round_top(largest: Decimal) -> tuple[Decimal, Decimal]:
    """A round step and the axis top (`TICKS` steps) at or above `largest`."""
    if largest <= 0:
        return Decimal(1), Decimal(TICKS)
    rough = largest / TICKS
    power = Decimal(10) ** rough.adjusted()
    step = next(power * factor for factor in _ROUND_STEPS if power * factor >= rough)
    return step, step * TICKS


def period(today: date, days: int) -> list[date]:
    """The `days` days ending today, oldest first."""
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def build(rows: Iterable[Mapping[str, Any]], days: list[date], measure: Measure) -> Chart:
    """The chart of `measure` over `days` from summary rows with `day` and `model`."""
    by_day_model: dict[tuple[date, str], Decimal] = {}
    totals: dict[str, Decimal] = {}
    shown = set(days)
    for row in rows:
        day = date.fromisoformat(str(row["day"]))
        if day not in shown:
            continue
        model, amount = str(row["model"]), amount_of(row, measure)
        if amount == 0:
            continue
        by_day_model[day, model] = by_day_model.get((day, model), Decimal(0)) + amount
        totals[model] = totals.get(model, Decimal(0)) + amount
    series, series_of = _series(totals)
    amounts: dict[tuple[date, int], Decimal] = {}
    for (day, model), amount in by_day_model.items():
        key = (day, series_of[model].index)
        amounts[key] = amounts.get(key, Decimal(0)) + amount
    day_totals = {
        day: sum((amounts.get((day, s.index), Decimal(0)) for s in series), Decimal(0))
        for day in days
    }
    step, top = round_top(max(day_totals.values(), default=Decimal(0)))
    label = plain if measure == "spend" else compact
    exact = money if measure == "spend" else plain
    bars = _bars(days, series, amounts, top, exact)
    ticks = [Tick(y=_y(step * n, top), label=label(step * n)) for n in range(TICKS + 1)]
    table = [
        TableRow(
            day=day,
            amounts=[exact(amounts.get((day, s.index), Decimal(0))) for s in series],
            total=exact(day_totals[day]),
        )
        for day in days
        if day_totals[day]
    ]
    return Chart(
        measure=measure,
        days=days,
        series=series,
        bars=bars,
        ticks=ticks,
        day_labels=_day_labels(days),
        rows=table,
        total=exact(sum(day_totals.values(), Decimal(0))),
    )


def _series(totals: Mapping[str, Decimal]) -> tuple[list[Series], dict[str, Series]]:
    """The largest models first (ties by name), the rest as one "other" series."""
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    own = ranked if len(ranked) <= MAX_SERIES else ranked[: MAX_SERIES - 1]
    series = [Series(index=n, name=name, total=total) for n, (name, total) in enumerate(own)]
    series_of = {s.name: s for s in series}
    rest = ranked[len(own) :]
    if rest:
        other = Series(index=len(series), name="", total=sum((t for _, t in rest), Decimal(0)))
        series.append(other)
        series_of.update({name: other for name, _ in rest})
    return series, series_of


def _y(amount: Decimal, top: Decimal) -> float:
    plot = HEIGHT - BOTTOM - TOP
    return round(HEIGHT - BOTTOM - float(amount / top) * plot, 2)


def _place(index: int, count: int) -> tuple[float, float]:
    """Where the `index`th of `count` days starts, and the width each day has."""
    slot = (WIDTH - RIGHT - LEFT) / count
    return LEFT + index * slot, slot


def _bars(
    days: list[date],
    series: list[Series],
    amounts: Mapping[tuple[date, int], Decimal],
    top: Decimal,
    exact: Callable[[Decimal], str],
) -> list[Bar]:
    bars: list[Bar] = []
    for n, day in enumerate(days):
        start, slot = _place(n, len(days))
        width = max(slot * 0.7, 1.0)
        x = round(start + (slot - width) / 2, 2)
        below = Decimal(0)
        for s in series:
            amount = amounts.get((day, s.index), Decimal(0))
            if not amount:
                continue
            upper, lower = _y(below + amount, top), _y(below, top)
            bars.append(
                Bar(
                    x=x,
                    y=upper,
                    width=round(width, 2),
                    height=round(max(lower - upper, 0.5), 2),
                    series=s,
                    day=day,
                    amount=exact(amount),
                )
            )
            below += amount
    return bars


def _day_labels(days: list[date]) -> list[DayLabel]:
    every = max(1, math.ceil(LABEL_SPACING / ((WIDTH - RIGHT - LEFT) / len(days))))
    labels = []
    for n, day in enumerate(days):
        if (len(days) - 1 - n) % every:
            continue
        start, slot = _place(n, len(days))
        labels.append(DayLabel(x=round(start + slot / 2, 2), label=day.strftime("%m-%d")))
    return labels
