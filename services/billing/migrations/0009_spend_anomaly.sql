-- Spend anomaly alerts (DESIGN.md section 13; services/billing/spend_anomaly.py).
--
-- `spend_buckets`: what each key of each account spent per five minutes, by
-- the usage event's time, added in the charge's own transaction (the user's
-- account is locked there, so one account's rows never race). Spend without
-- a key (a signed-in caller) is kept under the nil uuid. Rows older than
-- eight days are deleted by the detector: the usual spend looks back seven.
CREATE TABLE billing.spend_buckets (
    user_id uuid            NOT NULL,
    key_id  uuid            NOT NULL,
    bucket  timestamptz     NOT NULL,
    spent   numeric(30, 12) NOT NULL CHECK (spent >= 0),
    PRIMARY KEY (user_id, key_id, bucket)
);
CREATE INDEX spend_buckets_bucket ON billing.spend_buckets (bucket);

-- One row per anomaly the detector acted on: the history an operator reads,
-- the quiet window (at most one mail per account, one suspension per key, per
-- ANOMALY_QUIET_HOURS) and the queue of what is still to do: `pending` rows
-- wait for the alert worker to suspend the keys (auth) and queue the mails
-- (billing.outbox), both in one pass, retried with a backoff while auth is
-- away.
CREATE TABLE billing.spend_anomalies (
    id              bigint          GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         uuid            NOT NULL,
    detected_at     timestamptz     NOT NULL DEFAULT now(),
    window_start    timestamptz     NOT NULL,
    spent           numeric(30, 12) NOT NULL,
    usual           numeric(30, 12) NOT NULL,
    -- The keys that spent above the threshold on their own: [{"key_id", "spent"}].
    keys            jsonb           NOT NULL DEFAULT '[]',
    suspend_keys    uuid[]          NOT NULL DEFAULT '{}',
    mail            boolean         NOT NULL,
    pending         boolean         NOT NULL DEFAULT true,
    attempts        integer         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz     NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX spend_anomalies_user ON billing.spend_anomalies (user_id, detected_at);
CREATE INDEX spend_anomalies_pending ON billing.spend_anomalies (next_attempt_at) WHERE pending;
