-- Provider identities (sign in with Google or GitHub; services/auth/identities.py).
-- An identity is the provider's subject (Google's `sub`, GitHub's user id),
-- unique per provider, never an email. Only the email, name and avatar URL
-- the provider gave at the last sign-in are kept; no provider token is stored.
-- Accounts created through a provider have no password: password_hash is NULL
-- for them, and a password login never matches NULL (services/auth/passwords.py).
ALTER TABLE auth.users ALTER COLUMN password_hash DROP NOT NULL;

CREATE TABLE auth.identities (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider      text        NOT NULL,
    subject       text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    user_id       uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    email         text,
    name          text,
    avatar_url    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    UNIQUE (provider, subject)
);
CREATE INDEX identities_user_idx ON auth.identities (user_id);
