"""Auth's mail: queue a mail to a user in the transaction of the action.

Verification, password reset and notices call `queue_to_user` with the
connection of their transaction; the mail is rendered now, in the user's
language, with links from the configured public URL, and written to
`auth.outbox`. After the commit, `wake` lets the sender go at once. The
sender (shared/mail/sender.py) runs in auth's app when SMTP is configured.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.auth.keys import OUTBOX, SETTINGS
from shared.mail import templates
from shared.mail.sender import MAIL_SENDER
from shared.mail.templates import Link


async def queue_to_user(
    app: web.Application,
    connection: Any,
    user_id: uuid.UUID,
    template: str,
    context: Mapping[str, object],
    link: Link | None = None,
    *,
    recipient: str | None = None,
) -> int | None:
    """Queue `template` to the user's address on `connection`; None if no such user.
    `recipient` sends it elsewhere in the user's language (an address being
    confirmed, or the old one after a change)."""
    row = await connection.fetchrow(
        "SELECT email, username, display_name, language FROM auth.users WHERE id = $1", user_id
    )
    if row is None:
        return None
    mail = templates.render(
        template,
        recipient=recipient or row["email"],
        language=row["language"],
        public_url=app[SETTINGS].public_url,
        context={"name": row["display_name"] or row["username"], "email": row["email"], **context},
        link=link,
    )
    return await app[OUTBOX].enqueue(connection, mail)


def wake(app: web.Application) -> None:
    """After a commit that queued mail: the sender looks now, not at its next poll."""
    sender = app.get(MAIL_SENDER)
    if sender is not None:
        sender.wake()


async def set_language(connection: Any, user_id: uuid.UUID, language: str) -> None:
    if language not in templates.LANGUAGES:
        raise ValueError("not a mail language")
    await connection.execute(
        "UPDATE auth.users SET language = $2, updated_at = now() WHERE id = $1", user_id, language
    )


async def language_of(connection: Any, user_id: uuid.UUID) -> str:
    language: str | None = await connection.fetchval(
        "SELECT language FROM auth.users WHERE id = $1", user_id
    )
    return templates.language_or_default(language)
