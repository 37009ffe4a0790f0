-- Gapless receipt numbers for paid top-up orders (DESIGN.md section 12).
--
-- One counter row, moved in the same database transaction that credits the
-- order and gives it its number (payments/orders.py credit_order): a
-- transaction that rolls back rolls its number back too, and concurrent
-- credits queue on the row, so the numbers are 1, 2, 3, ... with no gap and
-- no repeat (billing.orders.receipt_number is UNIQUE and set once).
CREATE TABLE billing.receipt_counter (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    last bigint  NOT NULL DEFAULT 0 CHECK (last >= 0)
);
INSERT INTO billing.receipt_counter (id, last)
SELECT true, COALESCE(max(receipt_number), 0) FROM billing.orders;
CREATE TRIGGER receipt_counter_never_deleted
    BEFORE DELETE OR TRUNCATE ON billing.receipt_counter
    FOR EACH STATEMENT EXECUTE FUNCTION billing.refuse_change();
