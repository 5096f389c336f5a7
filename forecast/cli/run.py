"""`forecast run` (the main job) and `forecast report` (re-render from saved results)."""

from __future__ import annotations

from pathlib import Path

import click

from forecast.cli.common import (
    DATA_OPTION,
    HORIZON,
    JOBS_OPTION,
    QUIET_OPTION,
    SCHEDULER_OPTION,
    SEED_OPTION,
    VINTAGE_OPTION,
    friendly,
    out_option,
    stage,
    writable_folder,
)

#: the files of a results folder; `forecast report` needs at least one of them
RESULT_MARKERS = ("run.json", "estimates.csv", "forecasts.csv")


@click.command()
@DATA_OPTION
@VINTAGE_OPTION
@out_option("every output and report.html / report.pdf")
@click.option("--horizon", type=HORIZON, default=5, show_default=True, help="Years ahead (1-5).")
@SEED_OPTION
@click.option("--no-report", is_flag=True, help="Skip the HTML/PDF report.")
@click.option(
    "--priors",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Priors and sampler settings of the synthesis (default: models/prevalence.toml).",
)
@click.option("--xlsx", is_flag=True, help="Also write results.xlsx: the key tables as one spreadsheet workbook.")
@QUIET_OPTION
@JOBS_OPTION
@SCHEDULER_OPTION
@friendly
def run(
    data_dir: Path | None,
    vintage: str | None,
    out: Path,
    horizon: int,
    seed: int,
    no_report: bool,
    priors: Path | None,
    xlsx: bool,
    quiet: bool,
    jobs: int,
    scheduler: str | None,
) -> None:
    """The main job: estimate, forecast, evaluate and render the report.

    \b
    1. prevalence  true users and PLHIV (Bayesian synthesis + multiplier method)
    2. forecasts   three scenarios x every series, 1-5 years, with bands
    3. backtests   out-of-sample coverage, MASE, CRPS
    4. report      report.html (self-contained) and report.pdf (tagged, PDF/UA-1)
    Progress goes to stderr (--quiet silences it); benchmarks/run_time.py measures the run.
    """
    import time
    import warnings

    from forecast.pipeline import run_pipeline

    if quiet:  # numerical chatter of the libraries (ArviZ's Pareto-k fits) is not a finding either
        warnings.filterwarnings("ignore", category=RuntimeWarning)

    t0 = time.perf_counter()
    result = run_pipeline(
        data_dir,
        out,
        horizon=horizon,
        seed=seed,
        vintage=vintage,
        on_stage=None if quiet else stage,
        render=not no_report,
        jobs=jobs,
        scheduler=scheduler,
        xlsx=xlsx,
        priors=priors,
    )
    from forecast.cli.console import print_diagnostics, print_prevalence

    prev = result["prevalence"]
    print_prevalence(prev, ("users", "plhiv"), None)
    click.echo(f"Done in {time.perf_counter() - t0:.0f} s. Results in {out}/:")
    for name in sorted(p.name for p in Path(out).iterdir() if p.is_file() and not p.name.startswith(".")):
        click.echo(f"  {out / name}")
    if not prev.verdict.passed:  # loud, in the terminal and on the report's first page
        print_diagnostics(prev.diagnostics, prev.verdict, "Convergence diagnostics")


def _terminal() -> bool:
    """Whether stderr is a terminal: `forecast report` (one stage of a few seconds) shows its progress
    to a person watching, and keeps a script's stderr to the one line of an error."""
    import sys

    return sys.stderr.isatty()


@click.command()
@click.option(
    "--from",
    "results",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=Path("reports"),
    show_default=True,
    help="A results folder written by `forecast run`.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    callback=writable_folder,
    help="Where to write the report (default: the --from folder).",
)
@DATA_OPTION
@QUIET_OPTION
@friendly
def report(results: Path, out: Path | None, data_dir: Path | None, quiet: bool) -> None:
    """Re-render report.html and report.pdf from saved results, without refitting anything."""
    from forecast.core.errors import InputError
    from forecast.core.outputs import check_output_folder, output_folder
    from forecast.report import HTML_FILE, PDF_FILE, render_report

    if not any((results / name).is_file() for name in RESULT_MARKERS):
        raise InputError(f"no results in {results}: run `forecast run` first (it writes {', '.join(RESULT_MARKERS)})")
    out = out or results
    check_output_folder(out, "--from" if out == results else "--out")
    with output_folder(out) as tmp:  # report.html and report.pdf: both or neither
        render_report(results, tmp, data_dir=data_dir, on_stage=None if quiet or not _terminal() else stage)
    for name in (HTML_FILE, PDF_FILE):
        click.echo(f"wrote {out / name}")
