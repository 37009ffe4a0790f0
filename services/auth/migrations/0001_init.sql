-- The auth schema: users, API keys, signing keys, security events.
-- Passwords are Argon2id hashes; API keys are HMAC-SHA256 digests; signing
-- keys' private halves are Fernet-encrypted. No column holds a secret in clear.
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE auth.users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text        NOT NULL,
    username      text        NOT NULL,
    display_name  text,
    password_hash text        NOT NULL,
    role          text        NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON auth.users (lower(email));
CREATE UNIQUE INDEX users_username_key ON auth.users (lower(username));

CREATE TABLE auth.api_keys (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    key_hash     bytea       NOT NULL UNIQUE,
    models       text[],
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    rotated_to   uuid        REFERENCES auth.api_keys (id)
);
CREATE INDEX api_keys_user_idx ON auth.api_keys (user_id, created_at);

CREATE TABLE auth.signing_keys (
    kid                   text        PRIMARY KEY,
    algorithm             text        NOT NULL,
    private_key_encrypted bytea       NOT NULL,
    public_jwk            jsonb       NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    retired_at            timestamptz
);

CREATE TABLE auth.security_events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid        REFERENCES auth.users (id) ON DELETE SET NULL,
    kind       text        NOT NULL,
    ip         inet,
    user_agent text,
    detail     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_events_user_idx ON auth.security_events (user_id, created_at);
