-- Routing and health: per-channel model names, timeouts, the private-network
-- allowance of the upstream URL guard, and why a channel was switched off
-- (an operator, or the upstream refusing its key). Model aliases are global.
ALTER TABLE gateway.channels
    ADD COLUMN model_map             jsonb   NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(model_map) = 'object'),
    ADD COLUMN allow_private_network boolean NOT NULL DEFAULT false,
    ADD COLUMN connect_timeout_ms    integer CHECK (connect_timeout_ms > 0),
    ADD COLUMN first_byte_timeout_ms integer CHECK (first_byte_timeout_ms > 0),
    ADD COLUMN idle_timeout_ms       integer CHECK (idle_timeout_ms > 0),
    ADD COLUMN disabled_reason       text;

CREATE TABLE gateway.model_aliases (
    alias      text        PRIMARY KEY,
    model      text        NOT NULL CHECK (model <> alias),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
