"""The control API under `/_mock` that tests drive (see the package docstring).

JSON in, JSON out; a refused request answers 400 (404 for an unknown id)
with `{"error": "..."}`. No authentication: the mock is for development and
tests on loopback only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from services.mockpayments import creem_api, stripe_api
from services.mockpayments.webhooks import ApiFault, Clock, Faults, Outbox

OUTBOXES: web.AppKey[dict[str, Outbox]] = web.AppKey("outboxes", dict)
CLOCK: web.AppKey[Clock] = web.AppKey("clock", Clock)

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[Any] | Any]


class Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _answer(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def control(action: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def wrapped(request: web.Request) -> web.Response:
        body: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return _answer({"error": "the body must be JSON"}, 400)
            if not isinstance(parsed, dict):
                return _answer({"error": "the body must be a JSON object"}, 400)
            body = parsed
        try:
            result = action(request, body)
            if isinstance(result, Awaitable):
                result = await result
        except Refused as exc:
            return _answer({"error": str(exc)}, exc.status)
        except ValueError as exc:
            return _answer({"error": str(exc)}, 400)
        except stripe_api.StripeError as exc:
            return _answer({"error": exc.body["message"]}, exc.status)
        except creem_api.CreemError as exc:
            return _answer({"error": "; ".join(exc.messages or [exc.error])}, exc.status)
        return _answer(result)

    return wrapped


def _outbox(request: web.Request) -> Outbox:
    provider = request.match_info["provider"]
    outboxes = request.app[OUTBOXES]
    if provider not in outboxes:
        raise Refused(f"no provider {provider!r}: stripe or creem", 404)
    return outboxes[provider]


def _count(body: dict[str, Any], name: str = "count", default: int = 1) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
        raise Refused(f"{name} must be an integer from 1 to 1000")
    return value


def _amount(body: dict[str, Any]) -> int | None:
    value = body.get("amount")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Refused("amount must be a positive integer in minor units")
    return value


def _payment(body: dict[str, Any]) -> str:
    value = body.get("payment")
    if not isinstance(value, str) or not value:
        raise Refused(
            "payment must name a checkout (session), payment intent, charge or transaction"
        )
    return value


# -- everything --


def reset(request: web.Request, body: dict[str, Any]) -> Any:
    request.app[stripe_api.MOCK_KEY].reset()
    request.app[creem_api.MOCK_KEY].reset()
    for outbox in request.app[OUTBOXES].values():
        outbox.reset()
    request.app[CLOCK].offset = 0.0
    return {"reset": True}


def clock(request: web.Request, body: dict[str, Any]) -> Any:
    moved = request.app[CLOCK]
    for name in ("offset", "advance"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise Refused(f"{name} must be seconds")
    if body.get("offset") is not None:
        moved.offset = float(body["offset"])
    if body.get("advance") is not None:
        moved.offset += float(body["advance"])
    return {"offset": moved.offset, "now": moved.now()}


# -- webhooks --


def faults(request: web.Request, body: dict[str, Any]) -> Any:
    outbox = _outbox(request)
    outbox.add_faults(Faults.from_json(body), _count(body))
    return {"queued": _count(body)}


def api_faults(request: web.Request, body: dict[str, Any]) -> Any:
    provider = request.match_info["provider"]
    _outbox(request)
    mock = (
        request.app[stripe_api.MOCK_KEY]
        if provider == "stripe"
        else request.app[creem_api.MOCK_KEY]
    )
    fault = ApiFault.from_json(body)
    count = _count(body)
    mock.api_faults.extend(ApiFault(**vars(fault)) for _ in range(count))
    return {"queued": count}


def reorder(request: web.Request, body: dict[str, Any]) -> Any:
    _outbox(request).reorder(_count(body, default=2))
    return {"reorder": _count(body, default=2)}


def release(request: web.Request, body: dict[str, Any]) -> Any:
    reverse = body.get("reverse", False)
    if not isinstance(reverse, bool):
        raise Refused("reverse must be true or false")
    return {"released": _outbox(request).release(reverse)}


def resend(request: web.Request, body: dict[str, Any]) -> Any:
    event_id = body.get("event_id")
    if not isinstance(event_id, str):
        raise Refused("event_id is required")
    options = {k: v for k, v in body.items() if k != "event_id"}
    if not _outbox(request).resend(event_id, Faults.from_json(options)):
        raise Refused(f"no event {event_id!r} to resend (or no webhook URL)", 404)
    return {"resent": event_id}


def configure(request: web.Request, body: dict[str, Any]) -> Any:
    outbox = _outbox(request)
    if "url" in body:
        if not isinstance(body["url"], str):
            raise Refused("url must be a string")
        outbox.url = body["url"]
    if "secret" in body:
        if not isinstance(body["secret"], str) or not body["secret"]:
            raise Refused("secret must be a non-empty string")
        outbox.secret = body["secret"]
    if "retry_delays" in body:
        delays = body["retry_delays"]
        if not isinstance(delays, list) or not all(
            isinstance(d, int | float) and not isinstance(d, bool) and 0 <= d <= 86400
            for d in delays
        ):
            raise Refused("retry_delays must be a list of seconds")
        outbox.retry_delays = tuple(float(d) for d in delays)
    return {"url": outbox.url, "retry_delays": list(outbox.retry_delays)}


def deliveries(request: web.Request, body: dict[str, Any]) -> Any:
    return {"deliveries": _outbox(request).report()}


def events(request: web.Request, body: dict[str, Any]) -> Any:
    provider = request.match_info["provider"]
    _outbox(request)
    mock = (
        request.app[stripe_api.MOCK_KEY]
        if provider == "stripe"
        else request.app[creem_api.MOCK_KEY]
    )
    return {"events": mock.events}


# -- Stripe: the buyer and the card network --


def stripe_pay(request: web.Request, body: dict[str, Any]) -> Any:
    mock = request.app[stripe_api.MOCK_KEY]
    later = body.get("later", False)
    if not isinstance(later, bool):
        raise Refused("later must be true or false")
    session = mock.pay(
        request.match_info["id"], later=later, email=str(body.get("email") or "buyer@example.com")
    )
    return mock.public(session)


def stripe_settle(request: web.Request, body: dict[str, Any]) -> Any:
    mock = request.app[stripe_api.MOCK_KEY]
    outcome = body.get("outcome")
    if outcome not in {"succeeded", "failed"}:
        raise Refused("outcome must be succeeded or failed")
    return mock.public(mock.settle(request.match_info["id"], outcome == "succeeded"))


def stripe_expire(request: web.Request, body: dict[str, Any]) -> Any:
    mock = request.app[stripe_api.MOCK_KEY]
    return mock.public(mock.expire(request.match_info["id"], None))


def stripe_refund(request: web.Request, body: dict[str, Any]) -> Any:
    mock = request.app[stripe_api.MOCK_KEY]
    charge = mock.charge_of(_payment(body))
    params: dict[str, Any] = {"charge": charge["id"]}
    if _amount(body) is not None:
        params["amount"] = str(_amount(body))
    if body.get("reason") is not None:
        params["reason"] = body["reason"]
    return mock.refund(params, None)


def stripe_dispute(request: web.Request, body: dict[str, Any]) -> Any:
    mock = request.app[stripe_api.MOCK_KEY]
    reason = body.get("reason", "fraudulent")
    if not isinstance(reason, str):
        raise Refused("reason must be a string")
    return mock.open_dispute(_payment(body), _amount(body), reason)


def stripe_close_dispute(request: web.Request, body: dict[str, Any]) -> Any:
    outcome = body.get("outcome")
    if outcome not in {"won", "lost"}:
        raise Refused("outcome must be won or lost")
    return request.app[stripe_api.MOCK_KEY].close_dispute(
        request.match_info["id"], outcome == "won"
    )


# -- Creem --


def creem_pay(request: web.Request, body: dict[str, Any]) -> Any:
    mock = request.app[creem_api.MOCK_KEY]
    checkout = mock.pay(request.match_info["id"], str(body.get("email") or "buyer@example.com"))
    return {**mock.checkout_json(checkout), "redirect": mock.success_redirect(checkout)}


def creem_expire(request: web.Request, body: dict[str, Any]) -> Any:
    mock = request.app[creem_api.MOCK_KEY]
    return mock.checkout_json(mock.expire(request.match_info["id"]))


def creem_refund(request: web.Request, body: dict[str, Any]) -> Any:
    return request.app[creem_api.MOCK_KEY].refund(_payment(body), _amount(body))


def creem_dispute(request: web.Request, body: dict[str, Any]) -> Any:
    return request.app[creem_api.MOCK_KEY].dispute(_payment(body), _amount(body))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/_mock/reset", control(reset))
    r.add_post("/_mock/clock", control(clock))
    r.add_post("/_mock/{provider}/webhooks/faults", control(faults))
    r.add_post("/_mock/{provider}/api/faults", control(api_faults))
    r.add_post("/_mock/{provider}/webhooks/reorder", control(reorder))
    r.add_post("/_mock/{provider}/webhooks/release", control(release))
    r.add_post("/_mock/{provider}/webhooks/resend", control(resend))
    r.add_post("/_mock/{provider}/webhooks/config", control(configure))
    r.add_get("/_mock/{provider}/webhooks", control(deliveries))
    r.add_get("/_mock/{provider}/events", control(events))
    r.add_post("/_mock/stripe/sessions/{id}/pay", control(stripe_pay))
    r.add_post("/_mock/stripe/sessions/{id}/settle", control(stripe_settle))
    r.add_post("/_mock/stripe/sessions/{id}/expire", control(stripe_expire))
    r.add_post("/_mock/stripe/refunds", control(stripe_refund))
    r.add_post("/_mock/stripe/disputes", control(stripe_dispute))
    r.add_post("/_mock/stripe/disputes/{id}/close", control(stripe_close_dispute))
    r.add_post("/_mock/creem/checkouts/{id}/pay", control(creem_pay))
    r.add_post("/_mock/creem/checkouts/{id}/expire", control(creem_expire))
    r.add_post("/_mock/creem/refunds", control(creem_refund))
    r.add_post("/_mock/creem/disputes", control(creem_dispute))
