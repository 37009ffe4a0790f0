-- A key suspended on its own (issue 19, point 5; services/auth/key_suspension.py):
-- billing's spend anomaly detector suspends the key that spent far above the
-- account's usual, when the operator turned ANOMALY_SUSPEND_KEY on. A
-- suspended key is refused (403 key_suspended, with the reason) until its
-- owner resumes it (POST /api/keys/{id}/resume); the account and its other
-- keys are untouched.
ALTER TABLE auth.api_keys
    ADD COLUMN suspended_at timestamptz,
    ADD COLUMN suspended_reason text CHECK (length(suspended_reason) <= 1000);
