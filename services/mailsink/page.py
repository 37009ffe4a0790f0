"""The sink's page and JSON: the mails received, newest first.

Everything a mail carries is escaped; only http(s) URLs in a text body are
made into links (their text and `href` escaped too). A mail's HTML part is
served on its own under a sandboxing Content-Security-Policy: no script runs.
"""

from __future__ import annotations

import html
import re

from aiohttp import web

from services.mailsink.inbox import Inbox, Received

INBOX = web.AppKey("inbox", Inbox)
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}。，"
_HTML_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def linkify(text: str) -> str:
    """`text` escaped, with its http(s) URLs as links."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        out.append(html.escape(text[last : match.start()]))
        escaped = html.escape(url, quote=True)
        out.append(f'<a href="{escaped}" rel="noreferrer">{escaped}</a>')
        last = end
    out.append(html.escape(text[last:]))
    return "".join(out)


def _entry(mail: Received) -> str:
    to = html.escape(", ".join(mail.to))
    html_link = (
        f' · <a href="/messages/{mail.id}/html">HTML version</a>' if mail.html.strip() else ""
    )
    return (
        f'<article id="mail-{mail.id}">'
        f"<h2>{html.escape(mail.subject) or '(no subject)'}</h2>"
        f'<p class="meta">to {to} · from {html.escape(mail.mail_from)} · '
        f'<time datetime="{mail.received_at.isoformat()}">'
        f"{mail.received_at:%Y-%m-%d %H:%M:%S} UTC</time>{html_link}</p>"
        f"<pre>{linkify(mail.text)}</pre></article>"
    )


async def index(request: web.Request) -> web.Response:
    mails = request.app[INBOX].newest_first()
    body = "\n".join(_entry(mail) for mail in mails) or "<p>No mail yet.</p>"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mail sink · Tollgate dev</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 900px; margin: 24px auto; padding: 0 12px }}
article {{ border-bottom: 1px solid #ddd; padding: 8px 0 16px }}
h2 {{ font-size: 1.1em; margin: 8px 0 4px }} .meta {{ color: #666; margin: 0 0 8px }}
pre {{ white-space: pre-wrap; word-break: break-word; background: #f7f7f7; padding: 10px }}
</style></head>
<body><h1>Mails sent ({len(mails)})</h1>
<p>Newest first. Reload to see new mail. JSON: <a href="/api/messages">/api/messages</a></p>
{body}
</body></html>"""
    return web.Response(
        text=page,
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


def _find(request: web.Request) -> Received:
    wanted = request.match_info["id"]
    for mail in request.app[INBOX].newest_first():
        if str(mail.id) == wanted:
            return mail
    raise web.HTTPNotFound(text="no such mail")


async def message_html(request: web.Request) -> web.Response:
    return web.Response(
        text=_find(request).html,
        content_type="text/html",
        headers={"Content-Security-Policy": _HTML_CSP},
    )


async def messages(request: web.Request) -> web.Response:
    return web.json_response({"data": [m.public() for m in request.app[INBOX].newest_first()]})


async def clear(request: web.Request) -> web.Response:
    request.app[INBOX].clear()
    return web.Response(status=204)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
