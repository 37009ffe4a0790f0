"""The JSON API's words that reach people on the console's pages, marked for
translation: a page shows an API error's `message` and `details` through the
`api_text` filter (`app.py`), which looks each up in the visitor's catalog
and keeps the English when it is not there. The API stays in English (it is
read by programs and logs); only what a person reads is translated.

`tests/console/test_api_messages.py` checks that the strings built from
constants still say what the API says.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 (gettext's marker name, which Babel extracts)
    """Marks `message` for the catalogs without translating it here."""
    return message


MESSAGES = (
    # sign-up, sign-in, sessions
    N_("sign-up refused"),
    N_("invalid login or password"),
    N_("invalid password"),
    N_("password refused"),
    N_("username is already taken"),
    N_("the email was registered meanwhile"),
    N_("the session has ended; sign in again"),
    N_("this sign-in has expired or is finished; log in again"),
    N_("this sign-in is already linked to an account"),
    N_("the link token is unknown, used or expired"),
    N_("this link is invalid, used or expired; ask for a new one"),
    N_("the account no longer exists"),
    N_("authentication required"),
    N_("admin role required"),
    N_("a verification mail was sent recently; try later"),
    N_("the email address is already verified"),
    N_("email change refused"),
    N_(
        "verify your email address first: open the link in the mail we sent you, "
        "or ask for a new one (POST /api/auth/verify-email/resend)"
    ),
    # two-factor sign-in
    N_("the code is wrong, expired or already used"),
    N_("the password or the code is wrong"),
    N_("two-factor sign-in is already on"),
    N_("two-factor sign-in is already on; turn it off first"),
    N_("two-factor sign-in is not on"),
    N_("no two-factor enrolment is pending; start with POST /api/me/totp"),
    # groups and accounts (the admin's pages)
    N_("the default group cannot be deleted"),
    N_("the group has members; move them to another group first"),
    N_("no such group"),
    # the problems listed under a refusal
    N_("email: not a valid email address"),
    N_(
        "username: 3 to 32 characters, letters, digits, '_', '.' or '-', "
        "starting with a letter or digit"
    ),
    N_("password: at least 10 characters"),
    N_("password: at most 1024 characters"),
    N_("password: among the most common passwords"),
    N_("password: uses fewer than 4 different characters"),
    N_("password: must not contain the username or email"),
    N_("display_name: must not contain control characters"),
)
