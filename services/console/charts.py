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
  of ten, in at most `TICKS` steps) computed in exact decimals, so a label reads
  "0.005", never "0.0049999".
- The days are labelled MM-DD (the same in every language), today always,
  then every few days so labels never overlap.
- The same numbers go to a table for screen readers: one row per day with
  usage, one column per series and the day's total.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

Measure = Literal["spend", "tokens"]

MAX_SERIES = 6
TICKS = 4
WIDTH, HEIGHT = 480, 220  # the viewBox: it scales to the page's width
RIGHT, TOP, BOTTOM = 24, 10, 30  # room for the last day's label and the day labels
# Labels are sized for the larger font of narrow screens (console.css: 16 units,
# a digit about 9.5 wide): the amounts' column is as wide as its longest label.
DIGIT_WIDTH, LABEL_SPACING = 9.5, 52  # LABEL_SPACING: the least distance between day labels
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

    @property
    def css_class(self) -> str:
        """Its colour: one per model, grey for the other models together."""
        return "series-other" if self.is_other else f"series-{self.index}"


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
    left: int = 40
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
    """A round step and the axis top (at most `TICKS` steps) at or above `largest`."""
    if largest <= 0:
        return Decimal(1), Decimal(TICKS)
    rough = largest / TICKS
    power = Decimal(10) ** rough.adjusted()
    step = next(power * factor for factor in _ROUND_STEPS if power * factor >= rough)
    return step, step * math.ceil(largest / step)


def period(today: date, days: int) -> list[date]:
    """The `days` days ending today, oldest first."""
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def ranking(rows: Iterable[Mapping[str, Any]], days: list[date]) -> list[str]:
    """The models of `days` by spend, then tokens, then name: one order (and so
    one colour per model) for every chart of the page."""
    shown = set(days)
    spend: dict[str, tuple[Decimal, Decimal]] = {}
    for row in rows:
        if date.fromisoformat(str(row["day"])) in shown:
            cost, tokens = spend.get(str(row["model"]), (Decimal(0), Decimal(0)))
            spend[str(row["model"])] = (
                cost + amount_of(row, "spend"),
                tokens + amount_of(row, "tokens"),
            )
    return sorted(spend, key=lambda model: (-spend[model][0], -spend[model][1], model))


def build(
    rows: Iterable[Mapping[str, Any]],
    days: list[date],
    measure: Measure,
    order: list[str] | None = None,
    *,
    min_left: int = 0,
) -> Chart:
    """The chart of `measure` over `days` from summary rows with `day` and `model`,
    the models in `order` (`ranking`'s) when given, else largest first."""
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
    series, series_of = _series(totals, order or [])
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
    steps = int(top / step)
    ticks = [Tick(y=_y(step * n, top), label=label(step * n)) for n in range(steps + 1)]
    left = max(min_left, round(10 + DIGIT_WIDTH * max(len(tick.label) for tick in ticks)))
    bars = _bars(days, series, amounts, top, exact, left)
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
        day_labels=_day_labels(days, left),
        rows=table,
        left=left,
        total=exact(sum(day_totals.values(), Decimal(0))),
    )


def aligned(rows: Sequence[Mapping[str, Any]], days: list[date]) -> tuple[Chart, Chart]:
    """The spend and tokens charts of `days`, one colour per model in both and
    their plots lined up (the amounts' column as wide in both)."""
    order = ranking(rows, days)
    spend, tokens = build(rows, days, "spend", order), build(rows, days, "tokens", order)
    left = max(spend.left, tokens.left)
    return (
        build(rows, days, "spend", order, min_left=left),
        build(rows, days, "tokens", order, min_left=left),
    )


def _series(
    totals: Mapping[str, Decimal], order: list[str]
) -> tuple[list[Series], dict[str, Series]]:
    """The models in `order`, the others largest first (ties by name); past
    `MAX_SERIES`, the last ones as one "other" series."""
    place = {model: n for n, model in enumerate(order)}
    ranked = sorted(
        totals.items(), key=lambda item: (place.get(item[0], len(place)), -item[1], item[0])
    )
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


def _place(index: int, count: int, left: int) -> tuple[float, float]:
    """Where the `index`th of `count` days starts, and the width each day has."""
    slot = (WIDTH - RIGHT - left) / count
    return left + index * slot, slot


def _bars(
    days: list[date],
    series: list[Series],
    amounts: Mapping[tuple[date, int], Decimal],
    top: Decimal,
    exact: Callable[[Decimal], str],
    left: int,
) -> list[Bar]:
    bars: list[Bar] = []
    for n, day in enumerate(days):
        start, slot = _place(n, len(days), left)
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


def _day_labels(days: list[date], left: int) -> list[DayLabel]:
    every = max(1, math.ceil(LABEL_SPACING / ((WIDTH - RIGHT - left) / len(days))))
    labels = []
    for n, day in enumerate(days):
        if (len(days) - 1 - n) % every:
            continue
        start, slot = _place(n, len(days), left)
        labels.append(DayLabel(x=round(start + slot / 2, 2), label=day.strftime("%m-%d")))
    return labels
