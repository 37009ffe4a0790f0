"""What Cloudflare's siteverify answers, for the documented test keys: pure, no IO.

Cloudflare documents dummy secret keys whose answers are fixed, and a dummy
token, `XXXX.DUMMY.TOKEN.XXXX`, that the dummy site keys hand the browser:

    1x0000000000000000000000000000000AA  always passes
    2x0000000000000000000000000000000AA  always fails (invalid-input-response)
    3x0000000000000000000000000000000AA  fails as a token already spent
                                         (timeout-or-duplicate)

Any other secret is `invalid-input-secret`; a missing secret or response is
`missing-input-secret` / `missing-input-response`; a response over 2048
characters is `invalid-input-response`. With the passing secret, a token
other than the dummy one is refused as a real widget's token would be
(`invalid-input-response`). A passing answer carries `challenge_ts`, the
double's `hostname` (Cloudflare's dummy answers say `example.com`), and the
`action` and `cdata` the double was started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DUMMY_TOKEN = "XXXX.DUMMY.TOKEN.XXXX"
PASSES = "1x0000000000000000000000000000000AA"
FAILS = "2x0000000000000000000000000000000AA"
SPENT = "3x0000000000000000000000000000000AA"
TOKEN_MAX = 2048


@dataclass(frozen=True, kw_only=True)
class Widget:
    hostname: str = "example.com"
    action: str = ""
    cdata: str = ""


def _failed(*codes: str) -> dict[str, Any]:
    return {"success": False, "error-codes": list(codes), "messages": []}


def answer(widget: Widget, form: dict[str, str]) -> dict[str, Any]:
    secret, token = form.get("secret", ""), form.get("response", "")
    if not secret:
        return _failed("missing-input-secret")
    if not token:
        return _failed("missing-input-response")
    if len(token) > TOKEN_MAX:
        return _failed("invalid-input-response")
    if secret == FAILS:
        return _failed("invalid-input-response")
    if secret == SPENT:
        return _failed("timeout-or-duplicate")
    if secret != PASSES:
        return _failed("invalid-input-secret")
    if token != DUMMY_TOKEN:
        return _failed("invalid-input-response")
    return {
        "success": True,
        "error-codes": [],
        "challenge_ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "hostname": widget.hostname,
        "action": widget.action,
        "cdata": widget.cdata,
        "metadata": {"interactive": False},
        "messages": [],
    }
