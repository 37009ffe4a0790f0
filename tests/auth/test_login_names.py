"""The login key: one spelling per name, whatever the case, width or dotted I."""

from __future__ import annotations

from services.auth.login_names import display_username, login_key


def test_case_width_and_dotted_capital_i_fold_to_one_key() -> None:
    for spelling in ("Admin", "ADMIN", "adm\u0130n", "ａｄｍｉｎ", " admin ", "adm\u0131n".upper()):
        assert login_key(spelling) == "admin", spelling


def test_emails_fold_fully() -> None:
    assert login_key("Stra\u00dfe@Example.COM") == "strasse@example.com"
    assert login_key("\ufb01le@example.com") == "file@example.com"


def test_the_key_is_stable() -> None:
    for spelling in ("adm\u0130n", "Stra\u00dfe@x.de", "\u212aelvin", "ǅemal"):
        assert login_key(login_key(spelling)) == login_key(spelling)


def test_distinct_names_stay_distinct() -> None:
    assert login_key("adm\u0131n") != login_key("admin")  # dotless ı is another letter
    assert login_key("jose") != login_key("jos\u00e9")


def test_display_username_keeps_case_and_compatibility_folds() -> None:
    assert display_username(" Ａｄａ ") == "Ada"
    assert display_username("adm\u0130n") == "adm\u0130n"
