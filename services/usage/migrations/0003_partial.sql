-- A call cut short (client hung up, upstream broke, a stream ended without its
-- usage) is billed input plus delivered output (DESIGN.md section 6); the record
-- says so, as the usage event does. Records written before this column read false.
ALTER TABLE usage.records ADD COLUMN partial boolean NOT NULL DEFAULT false;
