"""`python -m services.console`: read the settings, serve."""

from __future__ import annotations

from services.console.app import create_app
from services.console.settings import Settings
from shared.service import run
from shared.settings import load_or_exit


def main() -> None:
    settings = load_or_exit(Settings.from_env)
    run(create_app(settings), settings.common, "console")


if __name__ == "__main__":
    main()
