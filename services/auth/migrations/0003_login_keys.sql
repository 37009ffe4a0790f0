-- Login keys: every username and email is found by one normalised key
-- (services/auth/login_names.py: NFKC, case folding, NFKC, and the dot above
-- dropped from `i`/`j`), unique, so two spellings of one name are one account.
-- The backfill reproduces that key in SQL for the rows stored so far: usernames
-- were ASCII-only and emails were stored lowercased, so NFKC, lower(), the two
-- folds lower() misses (ß, final sigma) and the dot above cover them. If two
-- existing rows collide after normalisation the unique index fails and the
-- migration stops: rename one of them, then migrate again.
ALTER TABLE auth.users ADD COLUMN username_key text, ADD COLUMN email_key text;

UPDATE auth.users SET
    username_key = regexp_replace(
        translate(lower(normalize(username, NFKC)), 'ς', 'σ'), '([ij])' || U&'\0307', '\1', 'g'
    ),
    email_key = regexp_replace(
        replace(translate(lower(normalize(email, NFKC)), 'ς', 'σ'), 'ß', 'ss'),
        '([ij])' || U&'\0307', '\1', 'g'
    );

ALTER TABLE auth.users
    ALTER COLUMN username_key SET NOT NULL,
    ALTER COLUMN email_key SET NOT NULL;
CREATE UNIQUE INDEX users_username_norm_key ON auth.users (username_key);
CREATE UNIQUE INDEX users_email_norm_key ON auth.users (email_key);
