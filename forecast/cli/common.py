"""What every command shares: error handling (exit codes), progress lines and common options."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

import click

from forecast.core.errors import EnvironmentFailure, InputError, InputWarning, printable

# PyTensor warns about BLAS on every import; nutpie's numba backend does not use it.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")

DATA_HELP = "Data folder (default: ./data if it holds observations.csv, else the embedded dataset)."
VINTAGE_OPTION = click.option("--vintage", help="Use this data vintage (see `forecast history`); default: the latest.")
HORIZON = click.IntRange(1, 5)
#: an existing folder (a file, or a folder that does not exist, is a usage error: exit 2)
DATA_FOLDER = click.Path(path_type=Path, exists=True, file_okay=False)
DATA_OPTION = click.option("--data", "data_dir", type=DATA_FOLDER, help=DATA_HELP)
#: numpy's seeds are 32-bit unsigned
SEED_OPTION = click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    default=1,
    show_default=True,
    help="Random seed (0 to 2^32-1): same seed, same data, same numbers.",
)

#: where the embarrassingly parallel loops run (forecast.core.parallel.map_jobs)
JOBS_OPTION = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes for the series forecasts, backtests and charts (1: in this process). "
    "Same numbers for any value.",
)


def scheduler_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: a Dask scheduler address (tcp://HOST:PORT) or nothing; exit 2 if malformed."""
    from forecast.core.parallel import check_scheduler

    try:
        return check_scheduler(value)
    except InputError as exc:
        message = exc.lines[0].split(" must ", 1)[-1]
        raise click.BadParameter(f"must {message}", ctx=ctx, param=param) from None


SCHEDULER_OPTION = click.option(
    "--scheduler",
    envvar="FORECAST_DASK_SCHEDULER",
    show_envvar=True,
    callback=scheduler_address,
    metavar="tcp://HOST:PORT",
    help="Run the series forecasts, backtests and charts on the Dask cluster whose scheduler is at "
    "this address (its workers need "
    "this forecast installed). Same numbers as on one machine.",
)


def writable_folder(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Click callback: an output folder that is a folder (or can be made one) and writable; exit 2 if not."""
    from forecast.core.outputs import check_output_folder

    if value is not None:
        try:
            check_output_folder(value, option=param.opts[0])
        except InputError as exc:
            raise click.BadParameter(exc.lines[0].removeprefix(f"{param.opts[0]} "), ctx=ctx, param=param) from None
    return value


def out_option(what: str, check: bool = True):
    """``--out DIR`` (default reports/), saying what the command writes there; ``check``: a usage
    check (a folder, writable) before the command runs."""
    return click.option(
        "--out",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("reports"),
        show_default=True,
        callback=writable_folder if check else None,
        help=f"Folder for {what}.",
    )


@contextlib.contextmanager
def input_warnings() -> Iterator[None]:
    """Print each InputWarning once, as ``warning: FILE, row N, column 'x': ...`` on stderr."""
    seen: set[str] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, InputWarning):
            return previous(message, category, filename, lineno, file, line)
        text = printable(str(message))
        if text not in seen:
            seen.add(text)
            click.echo(f"warning: {text}", err=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", InputWarning)
        warnings.showwarning = show
        yield


def friendly(fn):
    """Exit codes: InputError -> 2 with one line per problem; an environment failure (a full disk, an
    unwritable folder met midway: OSError) -> 1 with one line; anything else -> 1 ("internal error")."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with input_warnings():
                return fn(*args, **kwargs)
        except InputError as exc:
            for line in exc.lines:
                click.echo(f"error: {line}", err=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except EnvironmentFailure as exc:
            click.echo(f"error: {printable(exc)}", err=True)
            sys.exit(1)
        except OSError as exc:
            _debug()
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {printable(where + (exc.strerror or str(exc)))}", err=True)
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 — the last line of defence
            _debug()
            click.echo(
                f"internal error: {type(exc).__name__}: {printable(exc)} (set FORECAST_DEBUG=1 for the traceback)",
                err=True,
            )
            sys.exit(1)

    return wrapper


def _debug() -> None:
    if "FORECAST_DEBUG" in os.environ:
        traceback.print_exc()


#: ``--quiet``: no progress lines on stderr (errors and warnings still go there)
QUIET_OPTION = click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")


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
