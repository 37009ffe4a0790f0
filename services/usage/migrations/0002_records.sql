-- Usage records and their daily aggregates (DESIGN.md sections 1 and 8).
--
-- A record keeps exactly what section 8 allows: time, user, key, model,
-- endpoint, token counts, cost, status, error code, latency, source IP and
-- user agent, plus how the request was served (stream, usage source, channel).
-- Never prompt or completion text. `event_id` is the usage event's id and the
-- dedupe key: a redelivered event inserts nothing.
CREATE TABLE usage.records (
    event_id           text             PRIMARY KEY,
    occurred_at        timestamptz      NOT NULL,
    user_id            uuid             NOT NULL,
    key_id             uuid,
    model              text             NOT NULL,
    endpoint           text             NOT NULL,
    input_tokens       bigint           NOT NULL DEFAULT 0,
    output_tokens      bigint           NOT NULL DEFAULT 0,
    cache_read_tokens  bigint           NOT NULL DEFAULT 0,
    cache_write_tokens bigint           NOT NULL DEFAULT 0,
    reasoning_tokens   bigint           NOT NULL DEFAULT 0,
    -- The gateway's estimate when the event carries one; billing is authoritative.
    cost               numeric(30, 12),
    status             text             NOT NULL,
    http_status        integer          NOT NULL,
    error_code         text,
    latency_ms         double precision NOT NULL DEFAULT 0,
    ttfb_ms            double precision,
    client_ip          inet,
    user_agent         text,
    stream             boolean          NOT NULL DEFAULT false,
    usage_source       text             NOT NULL,
    channel_id         uuid
);

-- A user's records newest first, with keyset pagination on (occurred_at, event_id).
CREATE INDEX records_user_time ON usage.records (user_id, occurred_at DESC, event_id);

-- One row per user, UTC day and model; only newly recorded events add to it.
CREATE TABLE usage.daily (
    user_id            uuid            NOT NULL,
    day                date            NOT NULL,
    model              text            NOT NULL,
    requests           bigint          NOT NULL DEFAULT 0,
    input_tokens       bigint          NOT NULL DEFAULT 0,
    output_tokens      bigint          NOT NULL DEFAULT 0,
    cache_read_tokens  bigint          NOT NULL DEFAULT 0,
    cache_write_tokens bigint          NOT NULL DEFAULT 0,
    reasoning_tokens   bigint          NOT NULL DEFAULT 0,
    errors             bigint          NOT NULL DEFAULT 0,
    cost               numeric(30, 12) NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day, model)
);
