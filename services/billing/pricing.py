"""What usage costs, for billing. Pure: exact `Decimal` arithmetic, no IO.

The arithmetic lives in `shared.pricing`, so the gateway's holds and
billing's charges can never disagree about a price; this module is billing's
name for it. The rules:

- Prices are USD per million tokens for each kind of token (input, output,
  cache read, cache write), and per thousand server-side web searches.
- `cost` multiplies and adds every component exactly (a 50-digit context;
  integers times prices of at most 9 decimal places never lose a digit), then
  rounds once, on the total, to 12 decimal places (the ledger's scale),
  half-even (banker's rounding: unbiased over many events). Components are
  never rounded on their own.
- `price_at(versions, when)` is the newest version whose `effective_from` is
  at or before `when`; None before the first version. An event is priced at
  the version in force at its timestamp, however late it is charged.
- `worst_case` is what a hold must cover: the prompt at its dearest input
  rate and the most output the request may produce (its own cap, at most the
  model's `max_output_tokens`). Web searches are not in it: their number is
  not known in advance.
"""

from __future__ import annotations

from shared.pricing import MILLION, SCALE, THOUSAND, Price, cost, price_at, worst_case

__all__ = ["MILLION", "SCALE", "THOUSAND", "Price", "cost", "price_at", "worst_case"]
