"""Command line: a thin shell over the Python API (see ``forecast --help``).

Exit codes: 0 success, 2 bad input or usage (one line per problem naming file, row, column),
1 internal failure. A Bayesian fit that fails its convergence checks is reported loudly (terminal
and report), not by the exit code.
"""

from __future__ import annotations

import functools
import sys
import traceback
import warnings
from pathlib import Path

import click

from forecast.errors import InputError

# PyTensor warns about BLAS on every import; nutpie's numba backend does not use it.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")

DATA_HELP = "Data folder (default: the embedded dataset in data/)."
VINTAGE_OPTION = click.option("--vintage", help="Use this data vintage (see `forecast history`); default: the latest.")


def _friendly(fn):
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
            if "FORECAST_DEBUG" in __import__("os").environ:
                traceback.print_exc()
            click.echo(f"internal error: {type(exc).__name__}: {exc} "
                       "(set FORECAST_DEBUG=1 for the traceback)", err=True)
            sys.exit(1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="forecast")
def main() -> None:
    """True prevalence and 1-5 year scenario forecasts of the drug situation in Central Asia.

    \b
    Typical session:
      forecast data show                  what the embedded dataset holds
      forecast estimate                   true drug users and PLHIV from registers + multipliers
      forecast scenarios --horizon 5      baseline / optimistic / pessimistic forecasts
      forecast backtest                   how well the bands held out of sample
      forecast run                        all of the above + HTML and PDF report in reports/
      forecast calibrate new.csv          add a year of new figures, score the last forecast

    Exit codes: 0 ok, 2 bad input (one line per problem: file, row, column), 1 internal error.
    """


def _stage(msg: str) -> None:
    click.echo(f"· {msg}", err=True)


def _countries():
    from forecast.vocab import MODEL_COUNTRIES

    return click.Choice([*MODEL_COUNTRIES, "Central Asia"], case_sensitive=False)


@main.command()
@click.option("--target", type=click.Choice(["users", "plhiv", "both"]), default="both", show_default=True,
              help="Which true number to show: people who use drugs, people living with HIV, or both.")
@click.option("--country", type=_countries(), help="Show one country only (the fit always pools all five).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
@VINTAGE_OPTION
@click.option("--priors", type=click.Path(path_type=Path),
              help="Priors and sampler settings (default: models/prevalence.toml).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Folder for estimates.csv, detection.csv, diagnostics.csv, posterior.nc ...")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed; same seed, same estimates.csv.")
@_friendly
def estimate(target: str, country: str | None, data_dir: Path | None, vintage: str | None, priors: Path | None,
             out: Path, seed: int) -> None:
    """Estimate the TRUE number of drug users and of people living with HIV.

    \b
    Two methods, side by side:
      multiplier   registered count x each multiplier from the sources (12x, 20x, 1-in-50 ...),
                   with the multiplier's own uncertainty;
      synthesis    one Bayesian model (PyMC, sampled with nutpie) that treats registers as partial
                   counts and every multiplier and size estimate as a noisy, possibly biased
                   measurement; a source at odds with the rest is down-weighted and flagged.

    Writes estimates.csv (DESIGN.md contract), detection.csv, prevalence_conflicts.csv,
    diagnostics.csv, evidence_used.csv, evidence_left_out.csv and posterior.nc (ArviZ) into --out.
    Priors are in models/prevalence.toml, editable without code; editing them does not
    recompile anything. Takes about 15 s on 2 cores (10 s more the first time on a machine,
    to compile the sampler once).
    """
    from forecast.console import print_prevalence
    from forecast.dataset import load_dataset
    from forecast.prevalence import estimate as run_estimate
    from forecast.prevalence.config import load_config

    cfg = load_config(priors)
    ds = load_dataset(data_dir, vintage)
    country = _canonical_country(country)
    result = run_estimate(ds, cfg, seed=seed, on_stage=_stage)
    paths = result.write(out)
    targets = ("users", "plhiv") if target == "both" else (target,)
    print_prevalence(result, targets, country)
    click.echo(f"Wrote {', '.join(p.name for p in paths)} to {out}/ "
               f"(fit {result.timings['fit_s']:.1f} s: compile {result.timings['compile_s']:.1f} s, "
               f"sampling {result.timings['sample_s']:.1f} s)")


HORIZON = click.IntRange(1, 5)


@main.command()
@click.option("--horizon", type=HORIZON, default=5, show_default=True,
              help="Years ahead (1-5) after each series' last observation.")
@click.option("--scenario", "scenario_names", multiple=True,
              help="Only these scenarios (repeatable). Default: all in models/scenarios.toml "
                   "and models/scenarios/*.toml.")
@click.option("--country", type=_countries(), help="Only this country's series.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
@VINTAGE_OPTION
@click.option("--scenarios", "scenario_file", type=click.Path(path_type=Path),
              help="A scenario file to use instead of models/scenarios.toml.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Folder for forecasts.csv, history.csv and charts/.")
@click.option("--seed", type=int, default=1, show_default=True)
@_friendly
def scenarios(horizon: int, scenario_names: tuple[str, ...], country: str | None, data_dir: Path | None,
              vintage: str | None, scenario_file: Path | None, out: Path, seed: int) -> None:
    """Scenario forecasts, 1-5 years, with 80% and 95% bands, for every series with data.

    \b
    Scenarios (models/scenarios.toml, Osmonaliev 2005):
      baseline     extrapolation: registered addicts +5-7%/yr, drug crime flat to slightly up
      optimistic   addicts -2-3%/yr, trafficking offences +5-6%, other drug crimes -10-15% (3 years)
      pessimistic  drug crime at least +4-5%/yr (2-3 years)
    Each forecast combines the scenario's growth range with the fitted model's uncertainty.
    Add a scenario by writing models/scenarios/NAME.toml (see the comments in models/scenarios.toml).
    True users / PLHIV are forecast by `forecast run`, which fits the prevalence synthesis first.
    """
    from forecast.charts_files import write_fan_charts
    from forecast.console import print_forecasts
    from forecast.dataset import load_dataset
    from forecast.forecasting import scenario_forecasts
    from forecast.scenarios import load_scenarios

    all_sc = load_scenarios(scenario_file)
    unknown = [n for n in scenario_names if n not in all_sc]
    if unknown:
        raise click.BadParameter(f"unknown scenario(s) {', '.join(unknown)}; available: {', '.join(all_sc)}",
                                 param_hint="--scenario")
    chosen = {n: all_sc[n] for n in (scenario_names or all_sc)}
    ds = load_dataset(data_dir, vintage)
    forecasts, history = scenario_forecasts(ds, horizon, chosen, seed=seed)
    country = _canonical_country(country)
    if country:
        forecasts, history = forecasts[forecasts.country == country], history[history.country == country]
        if forecasts.empty:
            raise click.BadParameter(f"no series with data for {country}", param_hint="--country")
    from forecast.outputs import write_csv

    write_csv(forecasts, out / "forecasts.csv")
    write_csv(history, out / "history.csv")
    charts = write_fan_charts(forecasts, history, chosen, out / "charts")
    print_forecasts(forecasts, chosen)
    click.echo(f"Wrote forecasts.csv, history.csv and {len(charts)} fan charts (charts/*.png) to {out}/")


@main.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
@VINTAGE_OPTION
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Folder for backtest.csv (every fold) and backtest_summary.csv.")
@click.option("--seed", type=int, default=1, show_default=True)
@_friendly
def backtest(data_dir: Path | None, vintage: str | None, out: Path, seed: int) -> None:
    """How well did the bands hold out of sample? Rolling-origin backtests, horizons 1-5.

    Every model is refitted at each origin on the years up to it and scored on the years after:
    MASE and CRPS (scaled by the naive in-sample error), and the share of held-out values inside
    the 80% and 95% bands (targets: 75-85% and 90-97%). Run on every embedded series with at
    least 5 points, and on 40 simulated short series (the real ones are too few for coverage).
    """
    from forecast.console import print_backtest
    from forecast.dataset import load_dataset
    from forecast.forecasting import series_table
    from forecast.pipeline import backtest_stage

    summary = backtest_stage(series_table(load_dataset(data_dir, vintage)), out, seed)
    print_backtest(summary)
    click.echo(f"Wrote backtest.csv and backtest_summary.csv to {out}/")


@main.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
@VINTAGE_OPTION
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Folder for every output and report.html / report.pdf.")
@click.option("--horizon", type=HORIZON, default=5, show_default=True, help="Years ahead (1-5).")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same numbers.")
@click.option("--no-report", is_flag=True, help="Skip the HTML/PDF report.")
@_friendly
def run(data_dir: Path | None, vintage: str | None, out: Path, horizon: int, seed: int, no_report: bool) -> None:
    """The main job: estimate, forecast, evaluate and render the report.

    \b
    1. prevalence  true users and PLHIV (Bayesian synthesis + multiplier method)
    2. forecasts   three scenarios x every series, 1-5 years, with bands
    3. backtests   out-of-sample coverage, MASE, CRPS
    4. report      report.html (self-contained) and report.pdf
    Takes about 70 s on 2 cores: ~15 s for the Bayesian model (10 s more the first time on a
    machine, to compile it), ~35 s to draw the charts and render the PDF.
    """
    import time

    from forecast.pipeline import run_pipeline

    t0 = time.perf_counter()
    result = run_pipeline(data_dir, out, horizon=horizon, seed=seed, vintage=vintage, on_stage=_stage,
                          render=not no_report)
    from forecast.console import print_diagnostics, print_prevalence

    prev = result["prevalence"]
    print_prevalence(prev, ("users", "plhiv"), None)
    click.echo(f"Done in {time.perf_counter() - t0:.0f} s. Results in {out}/:")
    for name in sorted(p.name for p in Path(out).iterdir() if p.is_file() and not p.name.startswith(".")):
        click.echo(f"  {out / name}")
    if not prev.verdict.passed:  # loud, in the terminal and on the report's first page
        print_diagnostics(prev.diagnostics, prev.verdict, "Convergence diagnostics")


@main.command()
@click.option("--from", "results", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=Path("reports"), show_default=True, help="A results folder written by `forecast run`.")
@click.option("--out", type=click.Path(path_type=Path), help="Where to write the report (default: the --from folder).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
@_friendly
def report(results: Path, out: Path | None, data_dir: Path | None) -> None:
    """Re-render report.html and report.pdf from saved results, without refitting anything."""
    from forecast.report import render_report

    paths = render_report(results, out or results, data_dir=data_dir)
    for p in paths.values():
        click.echo(f"wrote {p}")


def _canonical_country(country: str | None) -> str | None:
    from forecast.vocab import MODEL_COUNTRIES

    if country is None:
        return None
    return next(c for c in [*MODEL_COUNTRIES, "Central Asia"] if c.lower() == country.lower())


@main.group()
def data() -> None:
    """Inspect and validate data files (observations, multiplier evidence, conflicts)."""


@data.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@_friendly
def data_check(file: Path) -> None:
    """Validate FILE against the data contract (DESIGN.md).

    The kind of table is read from the header (observations, multiplier evidence or conflicts).
    Every problem is printed as one line naming the file, row and column; exit code 2.
    """
    from forecast.validate import check_file

    kind, table = check_file(file)
    click.echo(f"{file}: OK — {len(table)} {kind} rows")


@data.command("show")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
@VINTAGE_OPTION
@_friendly
def data_show(data_dir: Path | None, vintage: str | None) -> None:
    """Summarise the dataset: every series, the years it covers, figures per source."""
    from forecast.dataset import load_dataset
    from forecast.summary import dataset_summary, source_counts
    from forecast.tables import print_table

    ds = load_dataset(data_dir, vintage)
    print_table(dataset_summary(ds.observations), title=f"Series in {ds.folder}")
    print_table(source_counts(ds.observations, ds.multipliers), title="Figures per source")
    click.echo(f"{len(ds.observations)} observations, {len(ds.multipliers)} multiplier evidence rows, "
               f"{len(ds.conflicts)} recorded conflicts.")


@data.command("conflicts")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
@_friendly
def data_conflicts(data_dir: Path | None) -> None:
    """List the recorded conflicts between (and within) sources, each with both refs."""
    from forecast.dataset import load_dataset
    from forecast.tables import print_table

    ds = load_dataset(data_dir)
    cols = ["id", "topic", "says_a", "ref_a", "says_b", "ref_b"]
    print_table(ds.conflicts[cols], title=f"{len(ds.conflicts)} recorded conflicts")


from forecast.cli_calibrate import calibrate, history  # noqa: E402

main.add_command(calibrate)
main.add_command(history)

if __name__ == "__main__":  # pragma: no cover
    main()
