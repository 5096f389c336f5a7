"""The `forecast` command (``forecast.cli.app``); ``python -m forecast`` runs it too."""

from forecast.cli.app import main

__all__ = ["main"]
