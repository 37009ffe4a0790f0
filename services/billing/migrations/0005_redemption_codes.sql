-- Redemption codes (DESIGN.md section 12): an admin creates a batch of codes
-- worth one amount each; a signed-in user redeems a code once for a credit.
--
-- Rules the database enforces:
-- - a code is stored only as the SHA-256 of its normalised text (the code
--   itself, 140 random bits, is shown once at creation and never stored);
-- - a code is redeemed at most once: redemption is one conditional UPDATE
--   (`... WHERE redeemed_at IS NULL`), and a trigger refuses any change that
--   would un-redeem a code, give it to another user, or move its credit;
-- - batches and codes are never deleted.

CREATE TABLE billing.redemption_batches (
    id         bigint          GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    amount     numeric(30, 12) NOT NULL CHECK (amount > 0),
    currency   text            NOT NULL DEFAULT 'USD',
    count      integer         NOT NULL CHECK (count BETWEEN 1 AND 1000),
    note       text,
    expires_at timestamptz,
    created_by uuid,
    created_at timestamptz     NOT NULL DEFAULT now()
);
CREATE TRIGGER redemption_batches_append_only
    BEFORE UPDATE OR DELETE ON billing.redemption_batches
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();

CREATE TABLE billing.redemption_codes (
    id             uuid        PRIMARY KEY,
    batch_id       bigint      NOT NULL REFERENCES billing.redemption_batches (id),
    code_hash      bytea       NOT NULL UNIQUE CHECK (length(code_hash) = 32),
    redeemed_by    uuid,
    redeemed_at    timestamptz,
    -- The credit's ledger transaction (kind 'top_up'), set in the same
    -- database transaction as the redemption.
    transaction_id bigint      UNIQUE REFERENCES billing.ledger_transactions (id),
    CHECK ((redeemed_by IS NULL) = (redeemed_at IS NULL)),
    CHECK (transaction_id IS NULL OR redeemed_at IS NOT NULL)
);
CREATE INDEX redemption_codes_batch ON billing.redemption_codes (batch_id);

CREATE FUNCTION billing.keep_redemption() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'billing.redemption_codes: codes are never deleted'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NEW.id <> OLD.id OR NEW.batch_id <> OLD.batch_id OR NEW.code_hash <> OLD.code_hash
       OR (OLD.redeemed_at IS NOT NULL AND (NEW.redeemed_at IS DISTINCT FROM OLD.redeemed_at
                                            OR NEW.redeemed_by IS DISTINCT FROM OLD.redeemed_by))
       OR (OLD.transaction_id IS NOT NULL
           AND NEW.transaction_id IS DISTINCT FROM OLD.transaction_id) THEN
        RAISE EXCEPTION 'billing.redemption_codes: code % was redeemed; it cannot change', OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER redemption_codes_redeemed_once
    BEFORE UPDATE OR DELETE ON billing.redemption_codes
    FOR EACH ROW EXECUTE FUNCTION billing.keep_redemption();
