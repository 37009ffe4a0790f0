-- Browser sessions are kept 30 days after they end (revoked, or past their
-- absolute expiry), so their owner's security log can still be read against
-- them, then deleted: each new session deletes a bounded batch of such rows
-- (services/auth/session_store.py), found by the index on when they ended. The
-- user index covers ended rows too (an account's deletion cascades through it).
DROP INDEX auth.sessions_user_idx;
CREATE INDEX sessions_user_idx ON auth.sessions (user_id);
CREATE INDEX sessions_ended_idx ON auth.sessions ((coalesce(revoked_at, absolute_expires_at)));
