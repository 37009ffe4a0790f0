"""The pure parts of limits: which limits a principal brings, how auth's policy
fields read, how a refusal and the family headers are written. No loop, no IO."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.gateway.admission.limit_headers import (
    admitted_headers,
    go_duration,
    refused_headers,
    rfc3339,
)
from services.gateway.admission.limits import LimitExceeded, plan, worst_case_tokens
from services.gateway.admission.policy_fields import allowlist_from, budget_from, limits_from
from services.gateway.admission.principals import NO_LIMITS, Budget, Limits, Principal
from services.gateway.relay.apis import Family
from shared.limits import Kind, Limit, Refusal, Scope, Standing, key_for

USER = uuid.UUID("11111111-1111-1111-1111-111111111111")
KEY = uuid.UUID("22222222-2222-2222-2222-222222222222")
NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


def _principal(*, key_limits: Limits = NO_LIMITS, user_limits: Limits = NO_LIMITS) -> Principal:
    return Principal(
        user_id=USER,
        role="user",
        via="api_key",
        key_id=KEY,
        key_limits=key_limits,
        user_limits=user_limits,
    )


def test_no_limit_set_is_an_empty_plan() -> None:
    assert plan(_principal(), 500) == ()


def test_a_plan_has_the_keys_limits_then_the_accounts_under_the_users_hash_tag() -> None:
    applied = plan(
        _principal(key_limits=Limits(rpm=10, concurrency=2), user_limits=Limits(tpm=1000)), 500
    )
    assert [(limit.scope, limit.kind, limit.limit, limit.cost) for limit in applied] == [
        (Scope.KEY, Kind.RPM, 10, 1),
        (Scope.KEY, Kind.CONCURRENCY, 2, 0),
        (Scope.USER, Kind.TPM, 1000, 500),
    ]
    assert applied[0].key == f"tg:{{u:{USER}}}:lim:k:{KEY}:rpm"
    assert applied[2].key == f"tg:{{u:{USER}}}:lim:u:tpm"
    assert all(limit.key.startswith(f"tg:{{u:{USER}}}:") for limit in applied)


def test_a_keys_per_model_limits_apply_to_the_name_sent_and_the_model_resolved() -> None:
    principal = Principal(
        user_id=USER,
        role="user",
        via="api_key",
        key_id=KEY,
        key_limits=Limits(rpm=100),
        model_limits={"gpt-4o": Limits(rpm=2), "fast": Limits(tpm=900, concurrency=1)},
    )
    assert [limit.model for limit in plan(principal, 50, ("other", "other"))] == [None]
    applied = plan(principal, 50, ("fast", "gpt-4o"))
    assert [(limit.model, limit.kind, limit.limit, limit.cost) for limit in applied] == [
        ("fast", Kind.TPM, 900, 50),
        ("fast", Kind.CONCURRENCY, 1, 0),
        ("gpt-4o", Kind.RPM, 2, 1),
        (None, Kind.RPM, 100, 1),
    ]
    assert applied[2].key == f"tg:{{u:{USER}}}:lim:k:{KEY}:m:gpt-4o:rpm"
    assert len({limit.key for limit in applied}) == len(applied)
    only_models = Principal(
        user_id=USER, role="user", via="api_key", key_id=KEY, model_limits=principal.model_limits
    )
    assert [limit.model for limit in plan(only_models, 50, ("gpt-4o", "gpt-4o"))] == ["gpt-4o"]
    refused = LimitExceeded(Refusal(applied[2], 30_000))
    assert refused.message == "rate limit: 2 requests per minute for this key and the model gpt-4o"


def test_the_worst_case_is_the_prompt_and_the_output_cap_of_every_answer() -> None:
    assert worst_case_tokens(
        prompt_tokens=10, max_output_tokens=None, model_max_output=8192, choices=1
    ) == (10 + 8192)
    assert worst_case_tokens(
        prompt_tokens=10, max_output_tokens=100, model_max_output=8192, choices=3
    ) == (10 + 300)
    assert worst_case_tokens(
        prompt_tokens=10, max_output_tokens=99999, model_max_output=8192, choices=1
    ) == (10 + 8192)


def _limit(kind: Kind, scope: Scope = Scope.KEY, limit: int = 10, cost: int = 1) -> Limit:
    return Limit(key_for(USER, KEY, kind), kind, scope, limit, cost)


def test_a_refusal_names_the_limit_and_says_when_to_retry() -> None:
    refused = LimitExceeded(Refusal(_limit(Kind.RPM), 5001))
    assert refused.status == 429
    assert refused.message == "rate limit: 10 requests per minute for this key"
    assert refused.headers() == {"Retry-After": "6"}
    account = LimitExceeded(Refusal(_limit(Kind.CONCURRENCY, Scope.USER, 3, 0), 1000))
    assert account.message == "rate limit: 3 concurrent requests for this account"


def test_a_request_bigger_than_its_limit_is_told_waiting_cannot_help() -> None:
    refused = LimitExceeded(Refusal(_limit(Kind.TPM, limit=1000, cost=4000), None))
    assert "up to 4000 tokens" in refused.message
    assert refused.headers() == {"x-should-retry": "false"}


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0ms"), (250, "250ms"), (1000, "1s"), (1500, "1.5s"), (6000, "6s"), (60000, "1m0s")],
)
def test_openai_resets_are_go_durations(ms: int, text: str) -> None:
    assert go_duration(ms) == text


def test_anthropic_resets_are_rfc3339_rounded_up_to_the_second() -> None:
    assert rfc3339(NOW, 1500) == "2026-12-05T12:00:02Z"
    assert rfc3339(NOW, 2000) == "2026-12-05T12:00:02Z"


def test_headers_show_the_tightest_limit_of_each_kind() -> None:
    standings = (
        Standing(_limit(Kind.RPM, limit=10), remaining=7, reset_ms=18000),
        Standing(_limit(Kind.RPM, Scope.USER, limit=5), remaining=2, reset_ms=36000),
        Standing(_limit(Kind.CONCURRENCY, limit=2, cost=0), remaining=1, reset_ms=0),
    )
    assert admitted_headers(Family.OPENAI, standings, NOW) == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "2",
        "x-ratelimit-reset-requests": "36s",
    }
    assert admitted_headers(Family.ANTHROPIC, standings, NOW) == {
        "anthropic-ratelimit-requests-limit": "5",
        "anthropic-ratelimit-requests-remaining": "2",
        "anthropic-ratelimit-requests-reset": "2026-12-05T12:00:36Z",
    }
    assert admitted_headers(Family.GEMINI, standings, NOW) == {}
    refusal = Refusal(_limit(Kind.TPM, limit=1000, cost=10), 2500)
    assert refused_headers(Family.OPENAI, refusal, NOW)["x-ratelimit-remaining-tokens"] == "0"
    assert refused_headers(Family.OPENAI, Refusal(_limit(Kind.CONCURRENCY), 1000), NOW) == {}


def test_auths_policy_fields_read_into_the_principals_types() -> None:
    assert limits_from(None) is NO_LIMITS
    assert limits_from({"rpm": None, "tpm": None, "concurrency": None}) is NO_LIMITS
    assert limits_from({"rpm": 10, "tpm": None}) == Limits(rpm=10)
    assert allowlist_from(["10.0.0.0/8", "2001:db8::/32"]) == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert budget_from({"usd": "0.01", "period": "day"}) == Budget(
        usd=Decimal("0.01"), period="day"
    )


@pytest.mark.parametrize(
    "raw",
    [{"rpm": 0}, {"rpm": -1}, {"rpm": "10"}, {"rpm": True}, {"tpm": 1.5}, ["rpm"]],
)
def test_a_malformed_limit_is_refused_not_ignored(raw: object) -> None:
    with pytest.raises(ValueError):
        limits_from(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"usd": "NaN", "period": "day"},
        {"usd": "-1", "period": "day"},
        {"usd": "1", "period": "week"},
    ],
)
def test_a_malformed_budget_is_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        budget_from(raw)
