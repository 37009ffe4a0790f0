"""The mock payment provider: the subset of Stripe's and Creem's APIs Tollgate
uses, on one port (8092 in `tollgate dev`), with hosted checkout pages and
signed webhooks, for development and tests. Never for production: anyone
reaching its pages pays with nothing, and its control API has no password.

Built from the providers' documented wire formats (Stripe's API reference
and webhook signing; Creem's API reference, webhook event types and
signature), not from what Tollgate sends. Everything is kept in memory.

Where things are (the mock's base URL is `M`, e.g. http://127.0.0.1:8092):

- Stripe: STRIPE_API_BASE = `M/stripe` (`stripe_api`); the official `stripe`
  package talks to it through `base_addresses={"api": "M/stripe"}`.
- Creem: CREEM_API_BASE = `M/creem` (`creem_api`).
- Hosted checkout pages: a session's `url` (`M/stripe/pay/cs_...`) and a
  checkout's `checkout_url` (`M/creem/pay/ch_...`) (`page`).
- Webhooks: posted to MOCKPAYMENTS_STRIPE_WEBHOOK_URL and
  MOCKPAYMENTS_CREEM_WEBHOOK_URL, signed as each provider signs (`webhooks`);
  a copy that gets no 2xx is retried after each of MOCKPAYMENTS_RETRY_DELAYS.
  Settings: `settings`.

The control API (JSON bodies; `{provider}` is `stripe` or `creem`):

    POST /_mock/reset                          forget everything, clock back to now
    POST /_mock/clock {"offset": s} | {"advance": s}
                                               move the mock's clock (event times,
                                               signature timestamps, expiry)
    POST /_mock/{provider}/webhooks/faults     the next `count` (default 1) events:
         {"count", "copies", "delay", "drop", "bad_signature", "hold"}
                                               copies: posted N times at once;
                                               delay: seconds before the first try;
                                               drop: never sent (lost);
                                               bad_signature: signed with a wrong secret;
                                               hold: kept until release
    POST /_mock/{provider}/api/faults {"count", "delay", "status", "pay_first"}
                                               the next `count` API calls: delay: seconds
                                               before the answer; status: answer this
                                               error (e.g. 503) and do nothing;
                                               pay_first: a checkout created is paid
                                               (its webhook sent) before the answer
    POST /_mock/{provider}/webhooks/reorder {"count": n}
                                               the next n events are sent in reverse
                                               order once all n have happened
    POST /_mock/{provider}/webhooks/release {"reverse": bool}
                                               send the held events
    POST /_mock/{provider}/webhooks/resend {"event_id", "copies", "delay", "bad_signature"}
                                               send an event again (signed now)
    POST /_mock/{provider}/webhooks/config {"url", "secret", "retry_delays": [s, ...]}
    GET  /_mock/{provider}/webhooks            every event's delivery: status (pending,
                                               delivered, failed, dropped, held,
                                               no_endpoint) and attempts (HTTP status
                                               or error, signature timestamp)
    GET  /_mock/{provider}/events              every event, oldest first
    POST /_mock/stripe/sessions/{id}/pay {"later": bool, "email"}
                                               the buyer pays (later: a method that
                                               settles later: payment_status unpaid)
    POST /_mock/stripe/sessions/{id}/settle {"outcome": "succeeded" | "failed"}
    POST /_mock/stripe/sessions/{id}/expire
    POST /_mock/stripe/refunds {"payment", "amount", "reason"}
                                               a refund from the dashboard; payment: a
                                               session, payment intent or charge id
    POST /_mock/stripe/disputes {"payment", "amount", "reason"}
    POST /_mock/stripe/disputes/{id}/close {"outcome": "won" | "lost"}
    POST /_mock/creem/checkouts/{id}/pay {"email"}   (answers with the signed redirect)
    POST /_mock/creem/checkouts/{id}/expire
    POST /_mock/creem/refunds {"payment", "amount"}  payment: a checkout or transaction
                                               id; amount: partial (the API refunds in full)
    POST /_mock/creem/disputes {"payment", "amount"}

A test drives it like this (the app in-process, or the process `tollgate dev` runs):

    mock = await aiohttp_client(create_app(Settings(stripe_webhook=Endpoint(
        url=receiver_url, secret="whsec_test"))))
    client = stripe.StripeClient("sk_test_tollgate_dev", http_client=stripe.AIOHTTPClient(),
        base_addresses={"api": str(mock.make_url("/stripe"))})
    session = await client.v1.checkout.sessions.create_async(params={...})
    await mock.post("/_mock/stripe/webhooks/faults", json={"copies": 5})
    await mock.post(f"/_mock/stripe/sessions/{session.id}/pay")  # five signed copies
"""
