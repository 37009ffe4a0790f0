"""Disposable email domains: addresses that exist for minutes, refused at sign-up
when the operator turns it on (AUTH_REFUSE_DISPOSABLE_EMAIL).

The list is the maintained one (github.com/disposable-email-domains/
disposable-email-domains), as the `disposable-email-domains` package ships it;
a newer list is a package upgrade. A domain is disposable when it or any
domain above it is listed, so `mail.mailinator.com` is refused with
`mailinator.com`. Pure: no IO.
"""

from __future__ import annotations

from disposable_email_domains import blocklist

PROBLEM = "email: addresses at disposable email services are not accepted; use a lasting address"


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].strip().rstrip(".").lower()


def is_disposable(email: str) -> bool:
    labels = domain_of(email).split(".")
    return any(".".join(labels[start:]) in blocklist for start in range(len(labels) - 1))


def disposable_problems(email: str) -> list[str]:
    return [PROBLEM] if is_disposable(email) else []
