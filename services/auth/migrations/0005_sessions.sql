-- Browser sessions (DESIGN 7, 11): an opaque 256-bit random value in an
-- HttpOnly cookie; only its SHA-256 is stored (`token_hash`). A session ends
-- when revoked (`revoked_at`: logout, revocation by its owner, rotation at
-- login or at a role change), when idle too long (`last_used_at`, refreshed at
-- most once a minute), at `absolute_expires_at`, or when the user's token
-- generation moves past the one it was created under (a password change or
-- reset). IP and user agent are those of the sign-in, shown to the owner.
--
-- `token_generation` is added by 0004; the guard keeps this file valid
-- whichever of the two a database saw first.
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS token_generation integer NOT NULL DEFAULT 0;

CREATE TABLE auth.sessions (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid        NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    token_hash          bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    generation          integer     NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_used_at        timestamptz NOT NULL DEFAULT now(),
    absolute_expires_at timestamptz NOT NULL,
    ip                  inet,
    user_agent          text,
    revoked_at          timestamptz
);
CREATE INDEX sessions_user_idx ON auth.sessions (user_id) WHERE revoked_at IS NULL;
