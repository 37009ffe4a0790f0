-- Runs of the money reconciliation started from the admin API
-- (`POST /api/admin/reconcile`): the same checks `tollgate reconcile` runs,
-- kept so the console's system page can show the last result. Violations and
-- notes are the messages reconcile prints (ids of accounts, transactions,
-- events and holds; no personal data beyond a user id).
CREATE TABLE billing.reconcile_runs (
    id bigserial PRIMARY KEY,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    ok boolean NOT NULL,
    violations text[] NOT NULL,
    notes text[] NOT NULL,
    run_by uuid
);
CREATE INDEX reconcile_runs_latest ON billing.reconcile_runs (finished_at DESC, id DESC);
