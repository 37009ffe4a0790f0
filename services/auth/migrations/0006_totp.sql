-- Two-factor sign-in with TOTP (RFC 6238) and recovery codes (services/auth/totp_store.py).
-- The TOTP secret is Fernet-encrypted with the service's key set
-- (TOLLGATE_SECRET_KEYS), never stored in the clear. A row without
-- confirmed_at is an enrolment waiting for its first code; a new enrolment
-- replaces it. last_used_step is the newest time step a code was accepted
-- for: a code is accepted only for a later step, so each code works once.
-- Recovery codes are stored as HMAC-SHA256 digests (keyed from the key
-- pepper) and spent by setting used_at, once.
CREATE TABLE auth.totp (
    user_id          uuid        PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    secret_encrypted bytea       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    confirmed_at     timestamptz,
    last_used_step   bigint
);

CREATE TABLE auth.recovery_codes (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    UNIQUE (user_id, code_hash)
);
