"""Which limits a request is admitted against, and how a refusal reads (DESIGN 13).

Pure: no IO. A principal carries the key's limits and the user's (their own,
else their group's defaults, as auth resolved them); each one set becomes a
`shared.limits.Limit` with its Redis key under the user's hash tag, checked
and taken by the hold's script (`shared/limits.py`). No limit set: an empty
plan, and the hold goes exactly as it did before limits existed.

Tokens per minute count a request's worst case at admission, the count its
hold covers: the prompt as the hold estimates it (`estimate.tokens_for`)
plus its output cap (the model's when it set none) for each answer it asked
for. When its usage event is published the reserve settles to the real count
(input, cache reads and writes, output). A request that asks for more than
a TPM limit on its own is refused, with a message saying to lower its cap.

A key's per-model limits (`limits.models`) apply on top of its own, to a
request for that model only: the name the client sent (an alias, say) and the
model it resolves to each bring their entry if they have one, with Redis keys
of their own under the user's hash tag, taken in the same script.

A refusal is a 429 that names the limit ("rate limit: 10 requests per minute
for this key", "... for this key and the model gpt-4o"), with `Retry-After`
in whole seconds, rounded up; the family's own rate-limit headers are
`limit_headers`' work.
"""

from __future__ import annotations

import uuid

from services.gateway.admission.principals import NO_LIMITS, Limits, Principal
from shared.client_input import cap
from shared.errors import TooManyRequests
from shared.limits import (
    Kind,
    Limit,
    Refusal,
    Scope,
    key_for,
    model_key_for,
    retry_after_seconds,
)

_KINDS = (Kind.RPM, Kind.TPM, Kind.CONCURRENCY)
_WHAT = {
    Kind.RPM: "requests per minute",
    Kind.TPM: "tokens per minute",
    Kind.CONCURRENCY: "concurrent requests",
}
_WHOSE = {Scope.KEY: "this key", Scope.USER: "this account"}


class LimitExceeded(TooManyRequests):
    """A limit refused the request; nothing was taken."""

    code = "rate_limit_exceeded"

    def __init__(self, refusal: Refusal) -> None:
        limit = refusal.limit
        message = f"rate limit: {limit.limit} {_WHAT[limit.kind]} for {_WHOSE[limit.scope]}"
        if limit.model is not None:
            message += f" and the model {cap(limit.model)}"
        retry_after = retry_after_seconds(refusal)
        if retry_after is None:
            message += (
                f"; this request may use up to {limit.cost} tokens, more than the limit"
                " allows in a minute: lower its maximum output tokens"
            )
        super().__init__(message, retry_after=retry_after or 60)
        self.refusal = refusal
        self.final = retry_after is None

    def headers(self) -> dict[str, str]:
        # Waiting cannot help: the SDKs, which retry a 429, are told not to.
        return {"x-should-retry": "false"} if self.final else super().headers()


def worst_case_tokens(
    *, prompt_tokens: int, max_output_tokens: int | None, model_max_output: int, choices: int
) -> int:
    """The tokens a request may use at most: the count its hold covers."""
    cap = (
        model_max_output if max_output_tokens is None else min(max_output_tokens, model_max_output)
    )
    return prompt_tokens + cap * max(choices, 1)


def plan(
    principal: Principal, worst_tokens: int, models: tuple[str, ...] = ()
) -> tuple[Limit, ...]:
    """Every limit set for this principal, the key's per-model ones first (for
    each of `models`, the name the client sent and the model it resolved to,
    that has an entry), then the key's, then the user's; empty when none is."""
    applied = _model_limits(principal, worst_tokens, models) if principal.model_limits else []
    if principal.key_limits is NO_LIMITS and principal.user_limits is NO_LIMITS:
        return tuple(applied)  # the common case, by identity (auth's fields read as NO_LIMITS)
    scopes: list[tuple[Scope, uuid.UUID | None, Limits]] = [
        (Scope.USER, None, principal.user_limits)
    ]
    if principal.key_id is not None:
        scopes.insert(0, (Scope.KEY, principal.key_id, principal.key_limits))
    for scope, key_id, limits in scopes:
        for kind in _KINDS:
            value = _value(limits, kind)
            if value is not None:
                applied.append(
                    Limit(
                        key_for(principal.user_id, key_id, kind),
                        kind,
                        scope,
                        value,
                        _cost(kind, worst_tokens),
                    )
                )
    return tuple(applied)


def _model_limits(principal: Principal, worst_tokens: int, models: tuple[str, ...]) -> list[Limit]:
    applied: list[Limit] = []
    assert principal.key_id is not None  # only a key has per-model limits
    for model in dict.fromkeys(models):  # once each, in order
        limits = principal.model_limits.get(model)
        if limits is None:
            continue
        for kind in _KINDS:
            value = _value(limits, kind)
            if value is not None:
                key = model_key_for(principal.user_id, principal.key_id, model, kind)
                applied.append(
                    Limit(key, kind, Scope.KEY, value, _cost(kind, worst_tokens), model=model)
                )
    return applied


def used_tokens(input_tokens: int, cache_read: int, cache_write: int, output_tokens: int) -> int:
    """What a finished request counts against tokens per minute."""
    return input_tokens + cache_read + cache_write + output_tokens


def _value(limits: Limits, kind: Kind) -> int | None:
    if kind is Kind.RPM:
        return limits.rpm
    if kind is Kind.TPM:
        return limits.tpm
    return limits.concurrency


def _cost(kind: Kind, worst_tokens: int) -> int:
    if kind is Kind.RPM:
        return 1
    if kind is Kind.TPM:
        return worst_tokens
    return 0
