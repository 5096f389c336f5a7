"""``python -m forecast``: the same command as ``forecast``."""

from forecast.cli import main

if __name__ == "__main__":
    main(prog_name="forecast")
