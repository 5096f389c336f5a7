"""Command line: a thin shell over the Python API (see ``forecast --help``).

Exit codes: 0 success, 2 bad input or usage (one line per problem naming file, row, column),
1 internal failure. A Bayesian fit that fails its convergence checks is reported loudly (terminal
and report), not by the exit code. One module per command family; shared handling in common.py.
"""

from __future__ import annotations

import click

from forecast.cli import calibrate, data, estimate, forecasts, run


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


for command in (
    estimate.estimate,
    forecasts.scenarios,
    forecasts.backtest,
    run.run,
    run.report,
    data.data,
    calibrate.calibrate,
    calibrate.history,
):
    main.add_command(command)
