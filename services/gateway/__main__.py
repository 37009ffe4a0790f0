"""`python -m services.gateway`: read the settings, serve."""

from __future__ import annotations

from services.gateway.app import create_app
from services.gateway.settings import Settings
from shared.service import run
from shared.settings import load_or_exit


def main() -> None:
    settings = load_or_exit(Settings.from_env)
    run(create_app(settings), settings.common, "gateway")


if __name__ == "__main__":
    main()
