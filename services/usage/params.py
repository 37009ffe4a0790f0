"""The query parameters of the usage queries, read into frozen values.

Pure. Every problem is collected in one pass, so one 422 names every bad
parameter (in the message and, one line each, in `details`). Rules:

- `from` is inclusive, `to` exclusive; both are ISO 8601 times or dates. A
  time without a zone, or a bare date, is UTC. `to` must be after `from`.
- An empty value is the same as leaving the parameter out; a parameter given
  twice is an error. Unknown parameters are ignored (the gateway may forward
  a `key` credential in the query; it is never echoed).
- `limit` is 1..500 (default 50); `cursor` must be one this API issued.
- The summary's `tz` is an IANA zone name (`shared.time_zones`, default UTC):
  its days are cut at that zone's midnight, so a day may last 23 or 25 hours;
  `group_by` is `day`, `model` or `day,model` (one row per day and model).
- `key_id` is a key's id (a UUID); `status` is one of the outcomes a record
  carries (`STATUSES`, the gateway's `Outcome`) or `error`, every outcome
  but `ok`. The daily summary has neither dimension: it refuses them (422)
  rather than answer for more records than were asked; `/api/usage/totals`
  sums exactly what `/api/usage` lists.
- Every value is client text (`client_input`): a NUL, a control character or
  a lone surrogate is a 422, never a query; times must lie in the range both
  PostgreSQL and Python hold. A problem never quotes the value.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from multidict import MultiMapping

from services.usage import cursor
from services.usage.cursor import Cursor
from shared.client_input import text_problem, time_problem
from shared.errors import Unprocessable
from shared.time_zones import MAX_LENGTH as MAX_ZONE_LENGTH
from shared.time_zones import UTC_NAME, zone_problem

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_MODEL_LENGTH = 200
# A record's status: the gateway's `Outcome` values (services/gateway/metering/usage_result.py).
STATUSES = ("ok", "upstream_error", "client_disconnected", "rejected")
ANY_ERROR = "error"  # a filter value: every status but "ok"

GroupBy = Literal["day", "model", "day,model"]
GROUPINGS: tuple[GroupBy, ...] = ("day", "model", "day,model")
ExportFormat = Literal["csv", "json"]


@dataclass(frozen=True, kw_only=True)
class Window:
    """Which of the caller's records: a time range, a model, a key and a status, each optional."""

    start: datetime | None = None
    end: datetime | None = None
    model: str | None = None
    key_id: uuid.UUID | None = None
    status: str | None = None

    def days(self) -> tuple[date | None, date | None]:
        """The UTC days that overlap [start, end): first day, and the day after the last."""
        first = self.start.astimezone(UTC).date() if self.start else None
        if self.end is None:
            return first, None
        end = self.end.astimezone(UTC)
        after_last = end.date() if end.time() == time(0) else end.date() + timedelta(days=1)
        return first, after_last


@dataclass(frozen=True, kw_only=True)
class PageQuery:
    window: Window
    limit: int
    after: Cursor | None


@dataclass(frozen=True, kw_only=True)
class SummaryQuery:
    window: Window
    group_by: GroupBy
    time_zone: str = UTC_NAME  # an IANA name: the summary's days start at its midnight


@dataclass(frozen=True, kw_only=True)
class TotalsQuery:
    window: Window


@dataclass(frozen=True, kw_only=True)
class ExportQuery:
    window: Window
    format: ExportFormat


class QueryParams:
    """Typed access to a query string, collecting every problem."""

    def __init__(self, query: MultiMapping[str]) -> None:
        self._query = query
        self.problems: dict[str, str] = {}

    def text(self, name: str, *, max_length: int = 1000) -> str | None:
        values = self._query.getall(name, [])
        if len(values) > 1:
            self.problems[name] = "given more than once"
            return None
        value = values[0] if values else ""
        problem = text_problem(value, max_length=max_length, controls="none")
        if problem is not None:
            self.problems[name] = problem
            return None
        return value or None

    def integer(self, name: str, *, default: int, low: int, high: int) -> int:
        raw = self.text(name, max_length=20)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            self.problems[name] = f"must be an integer from {low} to {high}"
            return default
        return value

    def timestamp(self, name: str) -> datetime | None:
        raw = self.text(name, max_length=64)
        if raw is None:
            return None
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            self.problems[name] = "must be an ISO 8601 time or date, such as 2025-01-31T00:00:00Z"
            return None
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        problem = time_problem(parsed)
        if problem is not None:
            self.problems[name] = problem
            return None
        return parsed.astimezone(UTC)

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        """One of `options`; the first when the parameter is absent."""
        raw = self.text(name, max_length=20)
        if raw is None:
            return options[0]
        if raw not in options:
            self.problems[name] = f"must be one of {', '.join(options)}"
            return options[0]
        return raw

    def identifier(self, name: str, *, like: str = "GET /api/keys") -> uuid.UUID | None:
        raw = self.text(name, max_length=64)
        if raw is None:
            return None
        try:
            return uuid.UUID(raw)
        except ValueError:
            self.problems[name] = f"must be an id such as the one {like} returns"
            return None

    def time_zone(self, name: str) -> str:
        """An IANA zone name; UTC when the parameter is absent."""
        raw = self.text(name, max_length=MAX_ZONE_LENGTH)
        if raw is None:
            return UTC_NAME
        problem = zone_problem(raw)
        if problem is not None:
            self.problems[name] = problem
            return UTC_NAME
        return raw

    def window(self) -> Window:
        start, end = self.timestamp("from"), self.timestamp("to")
        if start and end and end <= start:
            self.problems["to"] = "must be later than from"
        model = self.text("model", max_length=MAX_MODEL_LENGTH)
        key_id = self.identifier("key_id")
        status = self.text("status", max_length=40)
        if status is not None and status not in (*STATUSES, ANY_ERROR):
            self.problems["status"] = f"must be one of {', '.join((*STATUSES, ANY_ERROR))}"
            status = None
        return Window(start=start, end=end, model=model, key_id=key_id, status=status)

    def check(self) -> None:
        """Raise one 422 naming every bad parameter found so far."""
        if self.problems:
            names = ", ".join(self.problems)
            raise Unprocessable(
                f"invalid query parameter: {names}",
                details=[f"{name}: {problem}" for name, problem in self.problems.items()],
            )


def page_query(query: MultiMapping[str]) -> PageQuery:
    params = QueryParams(query)
    page = _page(params)
    params.check()
    return page


def admin_page_query(query: MultiMapping[str]) -> tuple[uuid.UUID, PageQuery]:
    """An admin's page of one account's records: `user_id` (required) and the
    parameters `page_query` reads, every problem in one 422."""
    params = QueryParams(query)
    user_id = params.identifier("user_id", like="GET /api/admin/users")
    if user_id is None and "user_id" not in params.problems:
        params.problems["user_id"] = "required: the id of the account whose records to list"
    page = _page(params)
    params.check()
    assert user_id is not None
    return user_id, page


def _page(params: QueryParams) -> PageQuery:
    window = params.window()
    limit = params.integer("limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    after = None
    raw_cursor = params.text("cursor", max_length=cursor.MAX_LENGTH)
    if raw_cursor is not None:
        try:
            after = cursor.decode(raw_cursor)
        except ValueError:
            params.problems["cursor"] = "not a cursor this API issued; use next_cursor as given"
    return PageQuery(window=window, limit=limit, after=after)


def summary_query(query: MultiMapping[str]) -> SummaryQuery:
    params = QueryParams(query)
    window = params.window()
    chosen = params.choice("group_by", GROUPINGS)
    group_by = next(grouping for grouping in GROUPINGS if grouping == chosen)
    time_zone = params.time_zone("tz")
    for name, given in (("key_id", window.key_id), ("status", window.status)):
        if given is not None:
            params.problems[name] = "the daily summary has no such filter; use /api/usage/totals"
    params.check()
    return SummaryQuery(window=window, group_by=group_by, time_zone=time_zone)


def totals_query(query: MultiMapping[str]) -> TotalsQuery:
    params = QueryParams(query)
    window = params.window()
    params.check()
    return TotalsQuery(window=window)


def export_query(query: MultiMapping[str]) -> ExportQuery:
    params = QueryParams(query)
    window = params.window()
    export_format: ExportFormat = (
        "json" if params.choice("format", ("csv", "json")) == "json" else "csv"
    )
    params.check()
    return ExportQuery(window=window, format=export_format)
