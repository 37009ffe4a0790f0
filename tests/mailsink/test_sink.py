"""The mail sink: a mail sent over SMTP shows on its page and in its JSON."""

from __future__ import annotations

from email.message import EmailMessage

import aiohttp
import aiosmtplib

from tests.smtp import AiohttpServer, start_sink


def _mail(text: str, html: str = "<p>hi</p>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Tollgate <no-reply@example.com>"
    message["To"] = "ada@example.com"
    message["Subject"] = "Verify <your> email"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


async def test_a_sent_mail_is_listed_with_its_links_clickable_and_the_rest_escaped(
    aiohttp_server: AiohttpServer,
) -> None:
    server, smtp_port = await start_sink(aiohttp_server)
    text = (
        "Open https://tollgate.example/verify-email?token=a1&next=%2F. now\n"
        "<script>alert(1)</script> and javascript:alert(2)\n"
    )
    await aiosmtplib.send(_mail(text), hostname="127.0.0.1", port=smtp_port)
    async with aiohttp.ClientSession() as session:
        async with session.get(server.make_url("/api/messages")) as response:
            data = (await response.json())["data"]
        async with session.get(server.make_url("/")) as response:
            assert response.status == 200
            page = await response.text()
        async with session.get(server.make_url(f"/messages/{data[0]['id']}/html")) as response:
            assert "sandbox" in response.headers["Content-Security-Policy"]
            assert await response.text() == "<p>hi</p>\n"
    assert len(data) == 1
    assert data[0]["to"] == ["ada@example.com"]
    assert data[0]["subject"] == "Verify <your> email"
    assert "https://tollgate.example/verify-email?token=a1&next=%2F" in data[0]["text"]
    assert data[0]["html"] == "<p>hi</p>\n"
    link = "https://tollgate.example/verify-email?token=a1&amp;next=%2F"
    assert f'<a href="{link}" rel="noreferrer">{link}</a>. now' in page
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Verify &lt;your&gt; email" in page
    assert 'href="javascript' not in page


async def test_newest_first_bounded_and_cleared(aiohttp_server: AiohttpServer) -> None:
    from services.mailsink.app import SMTP_PORT, create_app
    from services.mailsink.settings import Settings

    server = await aiohttp_server(create_app(Settings(smtp_port=0, port=0, max_messages=2)))
    for n in range(3):
        message = _mail(f"mail {n}")
        message.replace_header("Subject", f"mail {n}")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=server.app[SMTP_PORT])
    async with aiohttp.ClientSession() as session:
        async with session.get(server.make_url("/api/messages")) as response:
            subjects = [m["subject"] for m in (await response.json())["data"]]
        assert subjects == ["mail 2", "mail 1"]
        async with session.delete(server.make_url("/api/messages")) as response:
            assert response.status == 204
        async with session.get(server.make_url("/api/messages")) as response:
            assert (await response.json())["data"] == []
