"""What every command shares: error handling (exit codes), progress lines and common options."""

from __future__ import annotations

import functools
import os
import sys
import traceback
import warnings
from pathlib import Path

import click

from forecast.core.errors import InputError

# PyTensor warns about BLAS on every import; nutpie's numba backend does not use it.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")

DATA_HELP = "Data folder (default: ./data if it holds observations.csv, else the embedded dataset)."
VINTAGE_OPTION = click.option("--vintage", help="Use this data vintage (see `forecast history`); default: the latest.")
HORIZON = click.IntRange(1, 5)
DATA_OPTION = click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
SEED_OPTION = click.option(
    "--seed", type=int, default=1, show_default=True, help="Random seed: same seed, same data, same numbers."
)


def out_option(what: str):
    """``--out DIR`` (default reports/), saying what the command writes there."""
    return click.option(
        "--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True, help=f"Folder for {what}."
    )


def friendly(fn):
    """Turn InputError into exit 2 with one line per problem, anything else into exit 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            for line in exc.lines:
                click.echo(f"error: {line}", err=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 — the last line of defence
            if "FORECAST_DEBUG" in os.environ:
                traceback.print_exc()
            click.echo(
                f"internal error: {type(exc).__name__}: {exc} (set FORECAST_DEBUG=1 for the traceback)", err=True
            )
            sys.exit(1)

    return wrapper


def stage(msg: str) -> None:
    """A progress line on stderr (stdout stays the result)."""
    click.echo(f"· {msg}", err=True)


def countries():
    from forecast.data.vocab import MODEL_COUNTRIES

    return click.Choice([*MODEL_COUNTRIES, "Central Asia"], case_sensitive=False)


def canonical_country(country: str | None) -> str | None:
    from forecast.data.vocab import MODEL_COUNTRIES

    if country is None:
        return None
    return next(c for c in [*MODEL_COUNTRIES, "Central Asia"] if c.lower() == country.lower())
