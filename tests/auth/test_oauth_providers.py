"""Provider settings (services/auth/oauth_providers.py): enabled by id and secret."""

from __future__ import annotations

import pytest

from services.auth import oauth_providers
from services.auth.oauth_providers import GitHubProvider, OidcProvider
from shared.settings import SettingsError


def test_no_settings_no_providers() -> None:
    assert oauth_providers.from_env({}) == ()
    assert oauth_providers.from_env({"GOOGLE_CLIENT_ID": "", "GOOGLE_CLIENT_SECRET": ""}) == ()


def test_defaults_are_the_real_providers() -> None:
    google, github = oauth_providers.from_env(
        {
            "GOOGLE_CLIENT_ID": "g",
            "GOOGLE_CLIENT_SECRET": "gs",
            "GITHUB_CLIENT_ID": "h",
            "GITHUB_CLIENT_SECRET": "hs",
        }
    )
    assert isinstance(google, OidcProvider) and google.issuer == "https://accounts.google.com"
    assert isinstance(github, GitHubProvider)
    assert github.authorize_url == "https://github.com/login/oauth/authorize"
    assert github.token_url == "https://github.com/login/oauth/access_token"
    assert github.api_url == "https://api.github.com"
    assert "gs" not in repr(google) and "hs" not in repr(github)


@pytest.mark.parametrize(
    "env",
    [
        {"GOOGLE_CLIENT_ID": "g"},
        {"GITHUB_CLIENT_SECRET": "s"},
        {"GOOGLE_CLIENT_ID": "g", "GOOGLE_CLIENT_SECRET": "s", "GOOGLE_ISSUER": "ftp://x"},
        {"GITHUB_CLIENT_ID": "g", "GITHUB_CLIENT_SECRET": "s", "GITHUB_API_URL": "nope"},
    ],
)
def test_half_or_wrong_settings_are_named(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        oauth_providers.from_env(env)


def test_empty_variables_read_as_unset_as_compose_passes_them() -> None:
    names = ("CLIENT_ID", "CLIENT_SECRET", "ISSUER", "AUTHORIZE_URL", "TOKEN_URL", "API_URL")
    empty = {f"{p}_{n}": "" for p in ("GOOGLE", "GITHUB") for n in names}
    assert oauth_providers.from_env(empty) == ()
    (github,) = oauth_providers.from_env(
        {**empty, "GITHUB_CLIENT_ID": "h", "GITHUB_CLIENT_SECRET": "hs"}
    )
    assert isinstance(github, GitHubProvider) and github.api_url == "https://api.github.com"
