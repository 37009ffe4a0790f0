-- The ledger, prices, the usage-charge dedupe record and idempotent credits
-- (DESIGN.md section 5).
--
-- Rules the database itself enforces, so no code path can break them:
-- - the ledger is double-entry: the entries of a ledger transaction sum to
--   zero, checked at commit by a deferred constraint trigger; entries can be
--   added to a transaction only in the database transaction that opened it;
-- - the ledger, prices, usage charges and credit requests are append-only:
--   UPDATE and DELETE raise (corrections are new entries);
-- - no account's balance is below its floor (a CHECK on the row);
-- - an account's balance equals the sum of its entries: the billing code
--   moves both in the same transaction, and `reconcile` checks it.
-- Money is numeric, never floating point.

-- ---- accounts ------------------------------------------------------------------

-- `version` grows by one with every balance change, so a Redis snapshot of a
-- balance can refuse to move backwards.
ALTER TABLE billing.accounts ADD COLUMN version bigint NOT NULL DEFAULT 0;

ALTER TABLE billing.accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE billing.accounts ADD CONSTRAINT accounts_kind_check
    CHECK (kind IN ('user', 'revenue', 'topups', 'writeoff'));

-- System accounts have no floor (NULL): topups and writeoff run negative by
-- design. Every user account has one.
ALTER TABLE billing.accounts ALTER COLUMN floor DROP NOT NULL;
ALTER TABLE billing.accounts ADD CONSTRAINT accounts_user_has_floor
    CHECK (kind <> 'user' OR floor IS NOT NULL);
ALTER TABLE billing.accounts ADD CONSTRAINT accounts_balance_above_floor
    CHECK (floor IS NULL OR balance >= floor);

-- One account of each system kind.
CREATE UNIQUE INDEX accounts_system_kind ON billing.accounts (kind) WHERE user_id IS NULL;

INSERT INTO billing.accounts (kind, floor)
SELECT kind, NULL FROM unnest(ARRAY['revenue', 'topups', 'writeoff']) AS kind
ON CONFLICT (kind) WHERE user_id IS NULL DO NOTHING;
UPDATE billing.accounts SET floor = NULL WHERE user_id IS NULL;

-- ---- append-only ----------------------------------------------------------------

CREATE FUNCTION billing.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'billing.% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'post a correcting ledger transaction instead';
END
$$;

-- ---- ledger ---------------------------------------------------------------------

CREATE TABLE billing.ledger_transactions (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text        NOT NULL
               CHECK (kind IN ('usage_charge', 'top_up', 'refund', 'adjustment')),
    -- The usage event a charge is for: at most one ledger transaction per event.
    event_id   text        UNIQUE,
    reason     text,
    -- The admin who made a top-up or adjustment; NULL for usage and the CLI.
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'usage_charge') = (event_id IS NOT NULL))
);

CREATE TABLE billing.ledger_entries (
    id             bigint          GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id bigint          NOT NULL REFERENCES billing.ledger_transactions (id),
    account_id     bigint          NOT NULL REFERENCES billing.accounts (id),
    amount         numeric(30, 12) NOT NULL CHECK (amount <> 0),
    -- The account's balance after this entry: kept for user accounts (which
    -- are always locked while they move), NULL for the system accounts.
    balance_after  numeric(30, 12),
    created_at     timestamptz     NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_transaction ON billing.ledger_entries (transaction_id);
CREATE INDEX ledger_entries_account ON billing.ledger_entries (account_id, id);

CREATE TRIGGER ledger_transactions_append_only
    BEFORE UPDATE OR DELETE ON billing.ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();
CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON billing.ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();

-- At commit: the transaction's entries sum to zero, and the transaction was
-- opened in this database transaction (`now()` is the database transaction's
-- start time), so nothing is ever appended to a posted transaction.
CREATE FUNCTION billing.check_transaction_balances() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    total  numeric;
    opened timestamptz;
BEGIN
    -- One query per entry: this runs for every entry at every commit.
    SELECT t.created_at,
           (SELECT sum(e.amount) FROM billing.ledger_entries e
            WHERE e.transaction_id = NEW.transaction_id)
    INTO opened, total
    FROM billing.ledger_transactions t WHERE t.id = NEW.transaction_id;
    IF opened IS DISTINCT FROM now() THEN
        RAISE EXCEPTION 'ledger transaction % is closed: entries can only be added when it is posted',
            NEW.transaction_id
            USING ERRCODE = 'check_violation';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its entries sum to %',
            NEW.transaction_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER ledger_entries_balance
    AFTER INSERT ON billing.ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION billing.check_transaction_balances();

-- No code wrote balances before the ledger existed; any balance found here was
-- set by hand, so it becomes an adjustment against `topups`, and the ledger
-- explains every balance from the first day.
DO $$
DECLARE
    opening record;
    tx      bigint;
    source  bigint;
BEGIN
    SELECT id INTO source FROM billing.accounts WHERE kind = 'topups' AND user_id IS NULL;
    FOR opening IN
        SELECT id, balance FROM billing.accounts
        WHERE kind = 'user' AND balance <> 0 ORDER BY id
    LOOP
        INSERT INTO billing.ledger_transactions (kind, reason)
        VALUES ('adjustment', 'opening balance from before the ledger (migration 0002)')
        RETURNING id INTO tx;
        INSERT INTO billing.ledger_entries (transaction_id, account_id, amount, balance_after)
        VALUES (tx, opening.id, opening.balance, opening.balance),
               (tx, source, -opening.balance, NULL);
        UPDATE billing.accounts
        SET balance = balance - opening.balance, version = version + 1
        WHERE id = source;
    END LOOP;
END
$$;

-- ---- prices ---------------------------------------------------------------------

-- USD per million tokens of each kind, per thousand web searches. A model's
-- prices are versions; a new price is a new row, never an edit.
CREATE TABLE billing.prices (
    model             text            NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
    effective_from    timestamptz     NOT NULL,
    input             numeric(20, 9)  NOT NULL CHECK (input >= 0),
    output            numeric(20, 9)  NOT NULL CHECK (output >= 0),
    cache_read        numeric(20, 9)  NOT NULL CHECK (cache_read >= 0),
    cache_write       numeric(20, 9)  NOT NULL CHECK (cache_write >= 0),
    web_search        numeric(20, 9)  NOT NULL DEFAULT 0 CHECK (web_search >= 0),
    -- The model's output cap, for the worst case a hold covers.
    max_output_tokens integer         NOT NULL DEFAULT 8192 CHECK (max_output_tokens > 0),
    created_at        timestamptz     NOT NULL DEFAULT now(),
    created_by        uuid,
    PRIMARY KEY (model, effective_from)
);
CREATE TRIGGER prices_append_only
    BEFORE UPDATE OR DELETE ON billing.prices
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();

-- ---- usage charges ---------------------------------------------------------------

-- One row per usage event ever charged: the dedupe record. `cost` is what
-- the event cost; `charged` what the user paid; `written_off` the part the
-- floor guard refused (cost = charged + written_off). Events with no price
-- or no usage cost 0 and have no ledger transaction.
CREATE TABLE billing.usage_charges (
    event_id             text            PRIMARY KEY,
    user_id              uuid            NOT NULL,
    transaction_id       bigint          REFERENCES billing.ledger_transactions (id),
    cost                 numeric(30, 12) NOT NULL CHECK (cost >= 0),
    charged              numeric(30, 12) NOT NULL CHECK (charged >= 0),
    written_off          numeric(30, 12) NOT NULL CHECK (written_off >= 0),
    price_effective_from timestamptz,
    hold_id              text,
    created_at           timestamptz     NOT NULL DEFAULT now(),
    CHECK (cost = charged + written_off),
    CHECK ((cost > 0) = (transaction_id IS NOT NULL))
);
CREATE TRIGGER usage_charges_append_only
    BEFORE UPDATE OR DELETE ON billing.usage_charges
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();

-- ---- credits ----------------------------------------------------------------------

-- An admin credit, once per idempotency key: a retry with the same body gets
-- the first answer back; the same key with another body is refused.
CREATE TABLE billing.credit_requests (
    idempotency_key text        PRIMARY KEY,
    request_hash    text        NOT NULL,
    transaction_id  bigint      NOT NULL REFERENCES billing.ledger_transactions (id),
    response        jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER credit_requests_append_only
    BEFORE UPDATE OR DELETE ON billing.credit_requests
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();
