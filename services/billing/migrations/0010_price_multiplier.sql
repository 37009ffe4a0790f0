-- A group's price multiplier on the ledger (DESIGN.md section 13, issue 19):
-- a usage charge's cost is the price times the caller's group multiplier
-- (usage event schema version 2), and its ledger transaction records the
-- multiplier that cost includes, so a statement explains every charge.
-- NULL for every other kind of transaction, and for usage charges posted
-- before this migration (they were all at 1). Same type and bounds as
-- auth.groups.price_multiplier.
ALTER TABLE billing.ledger_transactions
    ADD COLUMN price_multiplier numeric(10, 4)
        CHECK (price_multiplier > 0 AND price_multiplier <= 100),
    ADD CONSTRAINT ledger_transactions_multiplier_on_usage
        CHECK (price_multiplier IS NULL OR kind = 'usage_charge');
