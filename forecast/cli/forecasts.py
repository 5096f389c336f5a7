"""`forecast scenarios` and `forecast backtest`: scenario forecasts and how well bands held."""

from __future__ import annotations

from pathlib import Path

import click

from forecast.cli.common import (
    DATA_OPTION,
    HORIZON,
    JOBS_OPTION,
    SCHEDULER_OPTION,
    SEED_OPTION,
    VINTAGE_OPTION,
    canonical_country,
    countries,
    friendly,
    out_option,
)


@click.command()
@click.option(
    "--horizon",
    type=HORIZON,
    default=5,
    show_default=True,
    help="Years ahead (1-5) after each series' last observation.",
)
@click.option(
    "--scenario",
    "scenario_names",
    multiple=True,
    help="Only these scenarios (repeatable). Default: all in models/scenarios.toml and models/scenarios/*.toml.",
)
@click.option("--country", type=countries(), help="Only this country's series.")
@DATA_OPTION
@VINTAGE_OPTION
@click.option(
    "--scenarios",
    "scenario_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A scenario file to use instead of models/scenarios.toml.",
)
@out_option("forecasts.csv, forecast_draws.parquet, history.csv and charts/")
@SEED_OPTION
@JOBS_OPTION
@SCHEDULER_OPTION
@friendly
def scenarios(
    horizon: int,
    scenario_names: tuple[str, ...],
    country: str | None,
    data_dir: Path | None,
    vintage: str | None,
    scenario_file: Path | None,
    out: Path,
    seed: int,
    jobs: int,
    scheduler: str | None,
) -> None:
    """Scenario forecasts, 1-5 years, with 80% and 95% bands, for every series with data.

    \b
    Scenarios (models/scenarios.toml, Osmonaliev 2005):
      baseline     extrapolation: registered addicts +5-7%/yr, drug crime flat to slightly up
      optimistic   addicts -2-3%/yr, trafficking offences +5-6%, other drug crimes -10-15% (3 years)
      pessimistic  drug crime at least +4-5%/yr (2-3 years)
    Each forecast combines the scenario's growth range with the fitted model's uncertainty.
    Add a scenario by writing models/scenarios/NAME.toml (see the comments in models/scenarios.toml).
    True users / PLHIV are forecast by `forecast run`, which fits the prevalence synthesis first.
    Each series' model and each chart is one task: --jobs N runs them on N processes, --scheduler
    on a Dask cluster; the numbers and files are the same either way.
    """
    from forecast.cli.console import print_forecasts
    from forecast.data.dataset import load_dataset
    from forecast.report.chart_files import write_fan_charts
    from forecast.scenarios.definitions import load_scenarios
    from forecast.scenarios.draws import DRAWS_FILE, draws_bytes, draws_frame
    from forecast.scenarios.forecasts import forecast_series, forecast_table

    all_sc = load_scenarios(scenario_file)
    unknown = [n for n in scenario_names if n not in all_sc]
    if unknown:
        raise click.BadParameter(
            f"unknown scenario(s) {', '.join(unknown)}; available: {', '.join(all_sc)}", param_hint="--scenario"
        )
    chosen = {n: all_sc[n] for n in (scenario_names or all_sc)}
    ds = load_dataset(data_dir, vintage)
    series, history = forecast_series(ds, horizon, chosen, seed=seed, jobs=jobs, scheduler=scheduler)
    forecasts = forecast_table(series, chosen)
    country = canonical_country(country)
    if country:
        series = {k: f for k, f in series.items() if k[0] == country}
        forecasts, history = forecasts[forecasts.country == country], history[history.country == country]
        if forecasts.empty:
            raise click.BadParameter(f"no series with data for {country}", param_hint="--country")
    from forecast.core.outputs import atomic_write_bytes, output_folder, write_csv

    with output_folder(out) as tmp:
        write_csv(forecasts, tmp / "forecasts.csv")
        atomic_write_bytes(tmp / DRAWS_FILE, draws_bytes(draws_frame(series)))
        write_csv(history, tmp / "history.csv")
        charts = write_fan_charts(forecasts, history, chosen, tmp / "charts", jobs=jobs, scheduler=scheduler)
    print_forecasts(forecasts, chosen)
    click.echo(f"Wrote forecasts.csv, {DRAWS_FILE}, history.csv and {len(charts)} fan charts (charts/*.png) to {out}/")


@click.command()
@DATA_OPTION
@VINTAGE_OPTION
@out_option("backtest.csv (every fold) and backtest_summary.csv")
@SEED_OPTION
@JOBS_OPTION
@SCHEDULER_OPTION
@friendly
def backtest(
    data_dir: Path | None, vintage: str | None, out: Path, seed: int, jobs: int, scheduler: str | None
) -> None:
    """How well did the bands hold out of sample? Rolling-origin backtests, horizons 1-5.

    Every model is refitted at each origin on the years up to it and scored on the years after:
    MASE and CRPS (scaled by the naive in-sample error), and the share of held-out values inside
    the 80% and 95% bands (targets: 75-85% and 90-97%). Run on every embedded series with at
    least 5 points, and on 40 simulated short series (the real ones are too few for coverage).
    Each series is one task: --jobs N runs them on N processes, --scheduler on a Dask cluster;
    the numbers are the same either way.
    """
    from forecast.cli.console import print_backtest
    from forecast.core.outputs import output_folder
    from forecast.data.dataset import load_dataset
    from forecast.pipeline import backtest_stage
    from forecast.scenarios.forecasts import series_table

    series = series_table(load_dataset(data_dir, vintage))
    with output_folder(out) as tmp:
        summary = backtest_stage(series, tmp, seed, jobs=jobs, scheduler=scheduler)
    print_backtest(summary)
    click.echo(f"Wrote backtest.csv and backtest_summary.csv to {out}/")
