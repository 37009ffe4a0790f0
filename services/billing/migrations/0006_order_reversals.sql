-- Refunds and disputes of top-up orders (DESIGN.md section 12): their
-- reversals may take a user's balance below its floor, a debt.
--
-- `debt` is how far below its floor the last reversal left the account; the
-- floor CHECK allows exactly that much and nothing more. Every other debit
-- still goes through ledger.move_balances, whose guard is the floor itself,
-- so only a reversal (payments/orders.py post_reversal) can make or deepen a
-- debt. Holds refuse while the balance is below the floor (the snapshot's
-- floor is unchanged), so a debt is repaid before anything more is spent.
ALTER TABLE billing.accounts
    ADD COLUMN debt numeric(30, 12) NOT NULL DEFAULT 0 CHECK (debt >= 0);
ALTER TABLE billing.accounts DROP CONSTRAINT accounts_balance_above_floor;
ALTER TABLE billing.accounts ADD CONSTRAINT accounts_balance_above_floor
    CHECK (floor IS NULL OR balance >= floor - debt);
