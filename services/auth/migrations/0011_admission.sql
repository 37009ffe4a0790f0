-- Admission control (issue 19, docs/admission.md): groups, the user's own
-- limits and suspension, and each key's policy.
--
-- A group is a tier an operator sells: a price multiplier applied to the hold
-- and the charge, and default limits for its members (NULL: no default).
-- Every user is in exactly one; 'default' (multiplier 1, no limits) always
-- exists and the API refuses to delete it, or any group with members (the
-- foreign key refuses it too). A user's own rpm/tpm/concurrency, when set,
-- replace the group's default field by field. A suspended user
-- (suspended_at set) is refused everywhere: keys, sessions and sign-in.
--
-- A key's policy: an IP allowlist (NULL: any address), a spend budget per day,
-- month or in total (both columns set or both NULL), and its own limits.
CREATE TABLE auth.groups (
    name             text          PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    price_multiplier numeric(10,4) NOT NULL DEFAULT 1
                                   CHECK (price_multiplier > 0 AND price_multiplier <= 100),
    rpm              integer       CHECK (rpm > 0),
    tpm              integer       CHECK (tpm > 0),
    concurrency      integer       CHECK (concurrency > 0),
    note             text          CHECK (length(note) <= 1000),
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now()
);

INSERT INTO auth.groups (name, price_multiplier, note)
VALUES ('default', 1, 'every account starts here');

ALTER TABLE auth.users
    ADD COLUMN group_name text NOT NULL DEFAULT 'default'
        REFERENCES auth.groups (name) ON UPDATE CASCADE,
    ADD COLUMN rpm integer CHECK (rpm > 0),
    ADD COLUMN tpm integer CHECK (tpm > 0),
    ADD COLUMN concurrency integer CHECK (concurrency > 0),
    ADD COLUMN suspended_at timestamptz,
    ADD COLUMN suspended_reason text CHECK (length(suspended_reason) <= 1000);

-- Members of a group, for the delete check and the admin's filter.
CREATE INDEX users_group_name ON auth.users (group_name);

ALTER TABLE auth.api_keys
    ADD COLUMN ip_allowlist cidr[],
    ADD COLUMN budget_usd numeric(20,9) CHECK (budget_usd >= 0),
    ADD COLUMN budget_period text CHECK (budget_period IN ('day', 'month', 'total')),
    ADD COLUMN rpm integer CHECK (rpm > 0),
    ADD COLUMN tpm integer CHECK (tpm > 0),
    ADD COLUMN concurrency integer CHECK (concurrency > 0),
    ADD CONSTRAINT api_keys_budget_whole
        CHECK ((budget_usd IS NULL) = (budget_period IS NULL));
