"""Which headers cross the gateway, in each direction; no IO.

Client -> upstream is a denylist: a client's SDK sends headers the provider
acts on (`anthropic-version`, `anthropic-beta`, `openai-beta`, telemetry),
and new ones appear all the time, so anything not named here passes. Dropped:

- hop-by-hop headers (RFC 9110 §7.6.1), and any header the client's
  `Connection` names; `host` and `content-length`, which the client library
  sets for the upstream request;
- every credential (the client's key is for the gateway, never the
  provider's), cookies;
- what identifies the client's network (`forwarded`, `x-forwarded-*`,
  `x-real-ip`) and the gateway's own `x-tollgate-*` namespace;
- headers that pick the provider account to bill (`openai-organization`,
  `openai-project`, `x-goog-user-project`): that is the operator's choice.

`accept-encoding` becomes `identity` (the relay parses SSE bytes as they
come) and the provider credential is added. `x-mock-*` passes like any other
header: tests drive the mock provider through the gateway with them.

Upstream -> client is an allowlist: an upstream's headers describe the
operator's provider account (rate-limit budgets, organisation, request ids,
its servers), so only what tells the client how to read and retry the answer
passes. Framing headers (`content-length`, `content-encoding`,
`transfer-encoding`) are the gateway's own, since it streams. So is
`Cache-Control`: a relayed answer is a user's prompt and completion, which
no cache may keep, whatever the provider says of its own edge; every answer
gets `no-store` (and `nosniff`, `Server: tollgate`) from
`shared/response_headers.py`.

Header names come out lower-case; repeated headers are joined with ", ".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.gateway.relay.apis import Family
from shared.client_input import encodable

ANTHROPIC_VERSION = "2023-06-01"

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "expect",
    }
)
CREDENTIALS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie"}
)
_CLIENT_NETWORK = frozenset({"forwarded", "x-real-ip"})
_BILLED_ACCOUNT = frozenset({"openai-organization", "openai-project", "x-goog-user-project"})
_DROPPED_PREFIXES = ("proxy-", "x-forwarded-", "x-tollgate-")
_REPLACED = frozenset({"accept-encoding"})
_NOT_FORWARDED = HOP_BY_HOP | CREDENTIALS | _CLIENT_NETWORK | _BILLED_ACCOUNT | _REPLACED

CLIENT_RESPONSE_HEADERS = frozenset(
    {"content-type", "retry-after", "retry-after-ms", "x-accel-buffering"}
)


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def _connection_tokens(headers: Mapping[str, str]) -> frozenset[str]:
    """Header names the `Connection` header declares hop-by-hop."""
    values = (value for name, value in headers.items() if name.lower() == "connection")
    return frozenset(token.strip().lower() for value in values for token in value.split(","))


def _forwarded(name: str, hop_by_hop: frozenset[str]) -> bool:
    return (
        name not in _NOT_FORWARDED
        and name not in hop_by_hop
        and not name.startswith(_DROPPED_PREFIXES)
    )


def _credential(family: Family, provider_key: str) -> dict[str, str]:
    if family is Family.ANTHROPIC:
        return {"x-api-key": provider_key}
    if family is Family.GEMINI:
        return {"x-goog-api-key": provider_key}
    return {"authorization": f"Bearer {provider_key}"}


def upstream_request_headers(
    client_headers: Mapping[str, str], family: Family, provider_key: str
) -> dict[str, str]:
    """The headers to send a channel of `family`, from the client's (any casing)."""
    hop_by_hop = _connection_tokens(client_headers)
    headers = _joined(
        (name.lower(), encodable(value))  # an undecodable byte cannot be sent on as is
        for name, value in client_headers.items()
        if _forwarded(name.lower(), hop_by_hop)
    )
    headers.setdefault("content-type", "application/json")
    if family is Family.ANTHROPIC:
        headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
    headers["accept-encoding"] = "identity"
    headers.update(_credential(family, provider_key))
    return headers


def client_response_headers(upstream_headers: Mapping[str, str]) -> dict[str, str]:
    """The upstream's headers a client may see: `CLIENT_RESPONSE_HEADERS` only."""
    return _joined(
        (name.lower(), value)
        for name, value in upstream_headers.items()
        if name.lower() in CLIENT_RESPONSE_HEADERS
    )
