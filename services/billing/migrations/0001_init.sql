-- The billing schema. Accounts hold balances; the ledger, holds and prices
-- that move them arrive with metering. A user with no account has balance 0.
CREATE SCHEMA IF NOT EXISTS billing;

CREATE TABLE billing.accounts (
    id         bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text          NOT NULL CHECK (kind IN ('user', 'revenue', 'topups')),
    user_id    uuid          UNIQUE,
    balance    numeric(30, 12) NOT NULL DEFAULT 0,
    floor      numeric(30, 12) NOT NULL DEFAULT 0,
    currency   text          NOT NULL DEFAULT 'USD',
    created_at timestamptz   NOT NULL DEFAULT now(),
    CHECK ((kind = 'user') = (user_id IS NOT NULL))
);
