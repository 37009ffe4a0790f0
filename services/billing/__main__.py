"""`python -m services.billing`: read the settings, serve."""

from __future__ import annotations

from services.billing.app import create_app
from services.billing.settings import Settings
from shared.service import run
from shared.settings import load_or_exit


def main() -> None:
    settings = load_or_exit(Settings.from_env)
    run(create_app(settings), settings.common, "billing")


if __name__ == "__main__":
    main()
