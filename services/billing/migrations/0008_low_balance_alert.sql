-- Low-balance alerts (DESIGN.md section 12: a user threshold, one mail per
-- crossing) and billing's own mail outbox (section 11).
--
-- An account's threshold is NULL (off) or an amount; `low_balance_alerted`
-- says a mail went (is going) out for the current crossing. A charge that
-- leaves the balance (less the floor) below the threshold sets the mark with
-- a conditional UPDATE (`... AND NOT low_balance_alerted`) in the charge's
-- own transaction and queues one alert there (services/billing/low_balance.py),
-- so concurrent charges across the threshold queue exactly one. Any movement
-- that leaves the balance at or above the threshold (a top-up, a redemption,
-- an admin credit) clears the mark, here in the database, so no credit path
-- can forget it: the next crossing mails again.
ALTER TABLE billing.accounts
    ADD COLUMN low_balance_threshold numeric(30, 12)
        CHECK (low_balance_threshold IS NULL OR low_balance_threshold >= 0),
    ADD COLUMN low_balance_alerted boolean NOT NULL DEFAULT false;

CREATE FUNCTION billing.clear_low_balance_alert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.low_balance_alerted AND (NEW.low_balance_threshold IS NULL
            OR NEW.balance - COALESCE(NEW.floor, 0) >= NEW.low_balance_threshold) THEN
        NEW.low_balance_alerted := false;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER accounts_clear_low_balance_alert
    BEFORE UPDATE ON billing.accounts
    FOR EACH ROW EXECUTE FUNCTION billing.clear_low_balance_alert();

-- An alert queued by a charge, waiting to become a mail: billing knows users
-- only by id, so the mailer (low_balance.AlertMailer) asks auth for the
-- address and language when it renders the mail into billing.outbox, and
-- deletes the row in that same transaction (one alert, one queued mail).
CREATE TABLE billing.low_balance_alerts (
    id         bigint          GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid            NOT NULL,
    threshold  numeric(30, 12) NOT NULL,
    balance    numeric(30, 12) NOT NULL,
    currency   text            NOT NULL,
    attempts   integer         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz     NOT NULL DEFAULT now()
);
CREATE INDEX low_balance_alerts_due_idx ON billing.low_balance_alerts (next_attempt_at);

-- Billing's mail outbox, as auth's (shared/mail/outbox.py).
CREATE TABLE billing.outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient       text        NOT NULL,
    template        text        NOT NULL,
    language        text        NOT NULL,
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    body_html       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'queued'
                                CHECK (status IN ('queued', 'sent', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due_idx ON billing.outbox (next_attempt_at) WHERE status = 'queued';
