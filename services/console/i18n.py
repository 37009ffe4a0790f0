"""The console's languages: English and Simplified Chinese, from gettext catalogs.

Catalogs live in `translations/<locale>/LC_MESSAGES/messages.po` (extracted
with Babel: `pybabel extract -F services/console/babel.cfg -o
services/console/translations/messages.pot services/console`), compiled to
the committed `.mo` files (`pybabel compile -d services/console/translations`).
The language is the signed-in account's own (`/api/me`'s `language`, passed
by `render`), else the `lang` cookie when it names one of ours, else the best
match of `Accept-Language`, else English. The theme (`light`, `dark`,
`system`) is the `theme` cookie, `system` by default.
"""

from __future__ import annotations

from gettext import GNUTranslations, NullTranslations
from pathlib import Path

from aiohttp import web

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = {"en": "English", "zh-CN": "简体中文"}
_LOCALE_DIRS = {"en": "en", "zh-CN": "zh_CN"}
THEMES = ("system", "light", "dark")
DEFAULT = "en"


def load() -> dict[str, NullTranslations]:
    """Every catalog, read once at start-up."""
    catalogs: dict[str, NullTranslations] = {}
    for language, directory in _LOCALE_DIRS.items():
        path = TRANSLATIONS / directory / "LC_MESSAGES" / "messages.mo"
        with path.open("rb") as handle:
            catalogs[language] = GNUTranslations(handle)
    return catalogs


def language_of(request: web.Request, profile: object = None) -> str:
    """`profile`: the signed-in account's language, first when it is one of ours."""
    if isinstance(profile, str) and profile in LANGUAGES:
        return profile
    chosen = request.cookies.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(request.headers.get("Accept-Language", "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag == "zh" or tag.startswith(("zh-cn", "zh-hans", "zh-sg")):
            return "zh-CN"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return DEFAULT


def theme_of(request: web.Request) -> str:
    chosen = request.cookies.get("theme", "")
    return chosen if chosen in THEMES else "system"
