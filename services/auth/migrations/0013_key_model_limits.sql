-- Per-model limits on a key (issue 19, point 2; services/auth/key_policy.py):
-- a model name as the client sends it (an alias or a model) -> its own
-- {"rpm", "tpm", "concurrency"}, each a positive integer when present. They
-- apply on top of the key's own limits, only to requests for that model. The
-- API writes at most 20 entries; '{}' is none.
ALTER TABLE auth.api_keys
    ADD COLUMN model_limits jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(model_limits) = 'object');
