"""The mock provider's HTML: the sign-in form a person fills in, and errors.

Every value is escaped. The form posts back to the page's own path with the
authorization request's parameters carried in hidden fields, as a provider's
consent page does; the person types who they are (the mock trusts them).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:"
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 520px; margin: 32px auto; padding: 0 12px }
label { display: block; margin: 10px 0 2px } input[type=text], select { width: 100% }
button { margin: 16px 8px 0 0; padding: 6px 16px } .note { color: #666; font-size: .9em }
fieldset { margin-top: 16px }
"""


@dataclass(frozen=True, kw_only=True)
class Field:
    name: str
    label: str
    value: str = ""
    checkbox: bool = False


def _input(field: Field) -> str:
    name = html.escape(field.name, quote=True)
    label = html.escape(field.label)
    if field.checkbox:
        checked = " checked" if field.value else ""
        return f'<label><input type="checkbox" name="{name}" value="true"{checked}> {label}</label>'
    value = html.escape(field.value, quote=True)
    return (
        f'<label for="{name}">{label}</label>'
        f'<input type="text" id="{name}" name="{name}" value="{value}">'
    )


def sign_in_form(
    *,
    title: str,
    client_id: str,
    hidden: Mapping[str, str],
    fields: Sequence[Field],
    forgeries: Sequence[str] = (),
) -> web.Response:
    carried = "".join(
        f'<input type="hidden" name="{html.escape(name, quote=True)}" '
        f'value="{html.escape(value, quote=True)}">'
        for name, value in hidden.items()
    )
    test_controls = ""
    if forgeries:
        options = "".join(
            f'<option value="{html.escape(f, quote=True)}">{html.escape(f)}</option>'
            for f in forgeries
        )
        test_controls = (
            "<fieldset><legend>Test controls: make the ID token bad</legend>"
            '<label for="mock_forge">Forgery</label>'
            '<select id="mock_forge" name="mock_forge">'
            f'<option value="">none</option>{options}</select>'
            '<label for="mock_nonce">Nonce to put in the ID token instead</label>'
            '<input type="text" id="mock_nonce" name="mock_nonce" value=""></fieldset>'
        )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
<p class="note">A mock provider for development: sign in as anyone.
The application <strong>{html.escape(client_id)}</strong> asks who you are.</p>
<form method="post">{carried}
{"".join(_input(f) for f in fields)}
{test_controls}
<button type="submit" name="action" value="allow">Sign in</button>
<button type="submit" name="action" value="deny">Cancel</button>
</form></body></html>"""
    return web.Response(
        text=body, content_type="text/html", headers={"Content-Security-Policy": _CSP}
    )


def error_page(message: str, status: int = 400) -> web.Response:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head>'
        f"<body><h1>Sign-in error</h1><p>{html.escape(message)}</p></body></html>"
    )
    return web.Response(
        text=body,
        status=status,
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'none'"},
    )
