-- Auth's mail outbox (shared/mail/outbox.py) and the user's language.
-- A mail is rendered when it is queued, in the transaction of the action that
-- causes it; its bodies are blanked once it is sent, so a link holding a
-- token lives in this table only until delivery (or until it is dead).
CREATE TABLE auth.outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient       text        NOT NULL,
    template        text        NOT NULL,
    language        text        NOT NULL,
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    body_html       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'queued'
                                CHECK (status IN ('queued', 'sent', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due_idx ON auth.outbox (next_attempt_at) WHERE status = 'queued';

ALTER TABLE auth.users
    ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'zh-CN'));
