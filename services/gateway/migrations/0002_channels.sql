-- Channels: the upstream providers the gateway relays to. The provider key is
-- Fernet-encrypted with TOLLGATE_SECRET_KEYS and never leaves the gateway.
CREATE TABLE gateway.channels (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name              text        NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('openai', 'anthropic', 'gemini')),
    base_url          text        NOT NULL,
    api_key_encrypted bytea       NOT NULL,
    models            text[]      NOT NULL,
    priority          integer     NOT NULL DEFAULT 0,
    weight            integer     NOT NULL DEFAULT 1 CHECK (weight > 0),
    enabled           boolean     NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX channels_name_key ON gateway.channels (lower(name));
