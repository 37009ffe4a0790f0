-- Mailed sign-in links (services/auth/sign_in_link.py): the further proof a
-- login is asked for past its account's all-sources failure limit, from a
-- source the account has not used, when two-factor is off. The token lives in
-- auth.account_tokens like the other mailed tokens (only its SHA-256, single
-- use, bound to the token generation) and keeps what the login asked for, so
-- the link finishes the same kind of sign-in: a browser session (`session`
-- true) or a bearer JWT (false). Only a sign-in link has it.
ALTER TABLE auth.account_tokens DROP CONSTRAINT account_tokens_purpose_check;
ALTER TABLE auth.account_tokens
    ADD CONSTRAINT account_tokens_purpose_check
        CHECK (purpose IN ('verify_email', 'password_reset', 'email_change', 'sign_in_link')),
    ADD COLUMN session boolean,
    ADD CONSTRAINT account_tokens_session_check
        CHECK ((purpose = 'sign_in_link') = (session IS NOT NULL));
