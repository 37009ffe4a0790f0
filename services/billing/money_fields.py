"""Reading and writing money in JSON: always decimal strings, never numbers.

A JSON number is a binary float in most clients (`0.1 + 0.2` is not `0.3`),
so money is refused as a number with a message that says so, and accepted
only as a plain decimal string: digits, optionally a point and more digits;
no sign, exponent, spaces, `NaN` or `Infinity`. A value with more decimal
places than its column keeps is refused, never rounded: nobody's money is
rounded without them asking. Answers render money with `money`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def money(amount: Decimal) -> str:
    """A decimal string: cents when that is exact, every digit otherwise."""
    cents = amount.quantize(Decimal("0.01"))
    return format(cents if cents == amount else amount.normalize(), "f")


def decimal_string(
    body: dict[str, Any],
    name: str,
    problems: list[str],
    *,
    places: int,
    whole_digits: int,
    required: bool = True,
    positive: bool = False,
) -> Decimal | None:
    """The field as a `Decimal`, or None with the reason added to `problems`.

    `places` and `whole_digits` are the column's scale and its digits before
    the point; `positive` refuses zero (negative values never parse)."""
    value = body.get(name)
    if value is None:
        if required:
            problems.append(f"{name}: required")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        problems.append(
            f'{name}: must be a decimal string such as "12.50", not a JSON number '
            "(money is never sent as a floating-point number)"
        )
        return None
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        problems.append(f'{name}: must be a non-negative decimal string such as "12.50"')
        return None
    whole, _, fraction = value.partition(".")
    if len(fraction) > places:
        problems.append(f"{name}: at most {places} decimal places")
        return None
    if len(whole.lstrip("0")) > whole_digits:
        problems.append(f"{name}: at most {whole_digits} digits before the decimal point")
        return None
    amount = Decimal(value)
    if positive and amount == 0:
        problems.append(f"{name}: must be greater than zero")
        return None
    return amount
