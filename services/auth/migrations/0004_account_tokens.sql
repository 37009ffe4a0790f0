-- Account tokens: the mailed tokens for email verification, password reset
-- and email change, and the per-user token generation.
--
-- A mailed token is >= 256 random bits; only its SHA-256 is stored (the
-- clear token lives in the mail, whose outbox row is encrypted and blanked
-- once sent). A token is single use (`used_at`), short-lived (`expires_at`)
-- and bound to the user's token generation when it was issued: a password
-- change, a reset or an email change bumps the generation, which voids every
-- login token (JWT) issued before and every mailed token still pending.
--
-- Accounts that exist before this migration predate verification: they are
-- marked verified now, so an operator turning AUTH_REQUIRE_VERIFIED_EMAIL on
-- does not lock out every existing user.
ALTER TABLE auth.users
    ADD COLUMN email_verified_at timestamptz,
    ADD COLUMN token_generation  integer NOT NULL DEFAULT 0;

UPDATE auth.users SET email_verified_at = created_at;

CREATE TABLE auth.account_tokens (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purpose     text        NOT NULL
                            CHECK (purpose IN ('verify_email', 'password_reset', 'email_change')),
    token_hash  bytea       NOT NULL UNIQUE,
    user_id     uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    generation  integer     NOT NULL,
    new_email   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CHECK ((purpose = 'email_change') = (new_email IS NOT NULL))
);
CREATE INDEX account_tokens_user_idx ON auth.account_tokens (user_id, purpose);
