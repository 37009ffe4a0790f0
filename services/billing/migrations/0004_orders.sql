-- Top-up orders and payment webhook events (DESIGN.md section 12).
--
-- Rules the database enforces, so no code path can break them:
-- - an order's money never changes after it is created: user, provider,
--   amount, currency, minor units and credit are fixed (the price snapshot the
--   user saw is what the provider was asked to charge, and what is credited);
-- - a provider payment id, once stored, is never changed or removed, and
--   (provider, provider payment id) is unique;
-- - status moves only along the state machine of payments/orders.py (the
--   trigger below holds the same table of moves);
-- - an order is credited at most once: one 'credit' row per order in
--   billing.order_postings, the record tying an order to its ledger
--   transactions (the order id is the credit's idempotency key);
-- - payment events and postings are append-only; a verified webhook event is
--   recorded once per (provider, event id): a repeat finds the row.

CREATE TABLE billing.orders (
    id                  uuid            PRIMARY KEY,
    user_id             uuid            NOT NULL,
    provider            text            NOT NULL CHECK (provider ~ '^[a-z][a-z0-9_]{0,31}$'),
    -- Stripe: the Checkout Session id; Creem: the checkout id. NULL until the
    -- provider answered the checkout call (or a webhook named it first).
    provider_payment_id text            CHECK (length(provider_payment_id) BETWEEN 1 AND 255),
    -- A second id of the same payment, by which refund and dispute events name
    -- it (Stripe: the PaymentIntent); stored when the order is paid.
    payment_reference   text            CHECK (length(payment_reference) BETWEEN 1 AND 255),
    amount              numeric(30, 12) NOT NULL CHECK (amount > 0),
    currency            text            NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Exactly what the provider was asked to charge, in the currency's minor units.
    amount_minor        bigint          NOT NULL CHECK (amount_minor > 0),
    credit              numeric(30, 12) NOT NULL CHECK (credit > 0),
    status              text            NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'paid', 'expired', 'failed', 'refunded',
                                          'partially_refunded', 'disputed')),
    -- Minor units refunded so far (refunds come later; kept here from the start).
    refunded_minor      bigint          NOT NULL DEFAULT 0
                        CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    -- Why an order failed (the provider was down, refused, the payment failed).
    failure             text            CHECK (length(failure) <= 500),
    checkout_url        text            CHECK (length(checkout_url) <= 2048),
    expires_at          timestamptz,
    paid_at             timestamptz,
    -- A gapless number given when the order is paid (receipts, later).
    receipt_number      bigint          UNIQUE,
    created_at          timestamptz     NOT NULL DEFAULT now(),
    updated_at          timestamptz     NOT NULL DEFAULT now(),
    UNIQUE (provider, provider_payment_id),
    CHECK ((status = 'pending' OR status = 'expired' OR status = 'failed') OR paid_at IS NOT NULL)
);
CREATE INDEX orders_user ON billing.orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_pending ON billing.orders (created_at) WHERE status = 'pending';
CREATE UNIQUE INDEX orders_reference ON billing.orders (provider, payment_reference)
    WHERE payment_reference IS NOT NULL;

CREATE FUNCTION billing.check_order_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.user_id <> OLD.user_id OR NEW.provider <> OLD.provider
       OR NEW.amount <> OLD.amount OR NEW.currency <> OLD.currency
       OR NEW.amount_minor <> OLD.amount_minor OR NEW.credit <> OLD.credit
       OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'order %: its user, provider and money never change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.provider_payment_id IS NOT NULL
       AND NEW.provider_payment_id IS DISTINCT FROM OLD.provider_payment_id THEN
        RAISE EXCEPTION 'order %: its provider payment id is set once', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.payment_reference IS NOT NULL
       AND NEW.payment_reference IS DISTINCT FROM OLD.payment_reference THEN
        RAISE EXCEPTION 'order %: its payment reference is set once', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.receipt_number IS NOT NULL
       AND NEW.receipt_number IS DISTINCT FROM OLD.receipt_number THEN
        RAISE EXCEPTION 'order %: its receipt number is set once', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.refunded_minor < OLD.refunded_minor THEN
        RAISE EXCEPTION 'order %: a refunded amount never shrinks', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    -- The moves of payments/orders.py TRANSITIONS; staying put is always allowed
    -- here (a change of other columns), the code decides when that is a move.
    IF NEW.status <> OLD.status AND (OLD.status, NEW.status) NOT IN (
        ('pending', 'paid'), ('pending', 'expired'), ('pending', 'failed'),
        ('expired', 'paid'), ('failed', 'paid'),
        ('paid', 'refunded'), ('paid', 'partially_refunded'), ('paid', 'disputed'),
        ('partially_refunded', 'refunded'), ('partially_refunded', 'disputed'),
        ('disputed', 'paid'), ('disputed', 'partially_refunded'), ('disputed', 'refunded')
    ) THEN
        RAISE EXCEPTION 'order %: % -> % is not a possible move', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER orders_checked
    BEFORE UPDATE ON billing.orders
    FOR EACH ROW EXECUTE FUNCTION billing.check_order_change();
CREATE TRIGGER orders_never_deleted
    BEFORE DELETE ON billing.orders
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();

-- The ledger transactions an order caused: its one credit, later refunds and
-- dispute reversals.
CREATE TABLE billing.order_postings (
    transaction_id bigint          PRIMARY KEY REFERENCES billing.ledger_transactions (id),
    order_id       uuid            NOT NULL REFERENCES billing.orders (id),
    kind           text            NOT NULL
                   CHECK (kind IN ('credit', 'refund', 'dispute', 'dispute_won')),
    amount         numeric(30, 12) NOT NULL CHECK (amount > 0),
    created_at     timestamptz     NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX order_postings_one_credit ON billing.order_postings (order_id)
    WHERE kind = 'credit';
CREATE INDEX order_postings_order ON billing.order_postings (order_id);
CREATE TRIGGER order_postings_append_only
    BEFORE UPDATE OR DELETE ON billing.order_postings
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();

-- Every verified webhook event, once. `outcome` says what it did:
-- credited, already_credited, expired, failed, mismatch, unknown_order,
-- ignored, unhandled (a kind billing does not act on yet: refunds, disputes).
CREATE TABLE billing.payment_events (
    provider    text        NOT NULL,
    event_id    text        NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    order_id    uuid        REFERENCES billing.orders (id),
    type        text        NOT NULL CHECK (length(type) <= 200),
    kind        text        NOT NULL,
    outcome     text        NOT NULL,
    detail      text        CHECK (length(detail) <= 1000),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX payment_events_order ON billing.payment_events (order_id) WHERE order_id IS NOT NULL;
CREATE TRIGGER payment_events_append_only
    BEFORE UPDATE OR DELETE ON billing.payment_events
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();
