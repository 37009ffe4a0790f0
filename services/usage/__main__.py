"""`python -m services.usage`: read the settings, serve."""

from __future__ import annotations

from services.usage.app import create_app
from services.usage.settings import Settings
from shared.service import run
from shared.settings import load_or_exit


def main() -> None:
    settings = load_or_exit(Settings.from_env)
    run(create_app(settings), settings.common, "usage")


if __name__ == "__main__":
    main()
