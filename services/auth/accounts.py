"""Sign-up and profile rules: what an email, a username, a display name may be.

Pure functions: they return every problem, the handler turns them into one 422.
Usernames never contain `@`, so a login string is an email exactly when it
has one.
"""

from __future__ import annotations

import re

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,31}")
EMAIL = re.compile(
    r"[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+"
)
DISPLAY_NAME_MAX = 100


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_problems(email: str) -> list[str]:
    if len(email) > 254 or not EMAIL.fullmatch(email):
        return ["email: not a valid email address"]
    return []


def username_problems(username: str) -> list[str]:
    if not USERNAME.fullmatch(username):
        return [
            "username: 3 to 32 characters, letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        ]
    return []


def display_name_problems(display_name: str) -> list[str]:
    if len(display_name) > DISPLAY_NAME_MAX:
        return [f"display_name: at most {DISPLAY_NAME_MAX} characters"]
    if any(ord(ch) < 32 for ch in display_name):
        return ["display_name: must not contain control characters"]
    return []
