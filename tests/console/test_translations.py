"""Every string of the console's templates and code is translated in both catalogs,
and the committed `.mo` files are what the `.po` files compile to."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

CONSOLE = Path(__file__).resolve().parents[2] / "services" / "console"
CATALOGS = CONSOLE / "translations"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2.ext.babel_extract")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def _used() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(CONSOLE), METHODS, OPTIONS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_has_a_translation_in_each_catalog() -> None:
    used = _used()
    assert len(used) > 40
    for locale in ("en", "zh_CN"):
        with (CATALOGS / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        missing = sorted(m for m in used if not getattr(catalog.get(m), "string", ""))
        assert not missing, f"{locale} lacks: {missing}"
        fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
        assert not fuzzy, f"{locale} has fuzzy entries: {fuzzy}"


def test_the_committed_mo_files_are_compiled_from_the_po_files() -> None:
    for locale in ("en", "zh_CN"):
        directory = CATALOGS / locale / "LC_MESSAGES"
        with (directory / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        assert (directory / "messages.mo").read_bytes() == compiled.getvalue(), (
            f"run: pybabel compile -d services/console/translations ({locale})"
        )
