"""The main job: estimate → scenario forecasts → backtest → report, into one results folder.

Every input (data, priors, scenarios) is read and validated before anything is written; the outputs
are then written into a temporary folder inside the results folder and moved into place at the end
(``core.outputs.output_folder``, which also locks the folder), so a failure anywhere, the fit
included, leaves the results folder as it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from forecast import __version__
from forecast.core.errors import Issue, warn
from forecast.core.outputs import atomic_write_bytes, output_folder, write_csv
from forecast.core.resources import models_file
from forecast.data.dataset import Dataset, load_dataset
from forecast.data.vintages import HISTORY_FILE, TRACK_RECORD_FILE, Store, calibration_history, track_record

if TYPE_CHECKING:
    from forecast.calibration.job import Calibration
    from forecast.prevalence.config import PrevalenceConfig


def forecast_stage(
    ds: Dataset,
    out: Path,
    horizon: int,
    seed: int,
    prevalence=None,
    scenario_file: Path | None = None,
    scenarios: dict | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scenario forecasts into ``out``; ``scenarios`` already read (else read from ``scenario_file``);
    each series' model fitted on ``jobs`` local processes or the Dask cluster at ``scheduler``."""
    from forecast.scenarios.definitions import load_scenarios
    from forecast.scenarios.forecasts import scenario_forecasts

    forecasts, history = scenario_forecasts(
        ds,
        horizon,
        scenarios if scenarios is not None else load_scenarios(scenario_file),
        seed=seed,
        prevalence=prevalence,
        draws_file=out / "forecast_draws.parquet",
        jobs=jobs,
        scheduler=scheduler,
    )
    write_csv(forecasts, out / "forecasts.csv")
    write_csv(history, out / "history.csv")
    return forecasts, history


def backtest_stage(
    history: pd.DataFrame, out: Path, seed: int, jobs: int = 1, scheduler: str | None = None
) -> pd.DataFrame:
    """Rolling-origin backtests into ``out``; one task per series on ``jobs`` local processes, or on
    the Dask cluster at ``scheduler`` (``core.parallel``): the same numbers either way."""
    from forecast.evaluation.evaluate import backtest

    folds, summary = backtest(history, seed=seed, jobs=jobs, scheduler=scheduler)
    summary = summary.rename(columns=str.lower)
    write_csv(folds, out / "backtest.csv")
    write_csv(summary, out / "backtest_summary.csv")
    return summary


def copy_calibration_history(ds: Dataset, out: Path) -> None:
    """The report's track record as known at the run's vintage: the calibration history (per vintage
    and scenario) and every scored figure (track_record.csv), for the vintages up to ``ds.vintage``."""
    store = ds.store or Store(ds.folder)
    ids = [v.id for v in store.vintages()]
    known = set(ids[: ids.index(ds.vintage) + 1]) if ds.vintage in ids else set()
    for table, name in ((calibration_history(store), HISTORY_FILE), (track_record(store), TRACK_RECORD_FILE)):
        if len(table):
            table = table[table.vintage.isin(known)]
        if len(table):
            write_csv(table, out / name)


@dataclass
class Inputs:
    """Everything a run reads, read and validated before anything is written."""

    dataset: Dataset
    config: PrevalenceConfig
    scenarios: dict


def read_inputs(
    data_dir: Path | None = None, vintage: str | None = None, store: Store | None = None, priors: Path | None = None
) -> Inputs:
    """The data (a vintage of ``data_dir``, or of ``store``), the priors (``priors`` or the default)
    and the scenarios, validated (DataError / ConfigError naming the file and row or key)."""
    from forecast.prevalence.config import load_config
    from forecast.scenarios.definitions import load_scenarios

    inputs = Inputs(load_dataset(data_dir, vintage, store=store), load_config(priors), load_scenarios())
    warn_unmatched_exclusions(inputs.config, inputs.dataset)
    return inputs


def warn_unmatched_exclusions(config: PrevalenceConfig, ds: Dataset) -> None:
    """Warn about each ``[[exclude]]`` rule of the priors that matches no figure of the data: a
    typo in it would silently leave in the figure it was written to leave out."""
    obs = ds.observations
    for i, rule in enumerate(config.exclude):
        hit = (
            (obs.country == rule["country"])
            & (obs.indicator == rule["indicator"])
            & (obs.year == rule["year"])
            & obs.source.astype(str).str.startswith(rule["source"])
        )
        if not hit.any():
            source = f", source starting {rule['source']!r}" if rule["source"] else ""
            what = f"{rule['country']} {rule['indicator']} {rule['year']}{source}"
            warn(
                Issue(
                    str(config.path),
                    None,
                    f"exclude[{i}]",
                    f"matches no figure of {ds.folder} (vintage {ds.vintage}): {what}; it leaves nothing out",
                )
            )


def run_pipeline(
    data_dir: Path | None,
    out_dir: Path,
    horizon: int = 5,
    seed: int = 1,
    vintage: str | None = None,
    on_stage=None,
    render: bool = True,
    jobs: int = 1,
    scheduler: str | None = None,
    xlsx: bool = False,
    priors: Path | None = None,
) -> dict:
    """Run every stage on a dataset and write all outputs into ``out_dir``; returns paths and timings.

    Inputs are validated first; the outputs appear in ``out_dir`` only when every stage succeeded.
    ``jobs`` / ``scheduler``: where the series forecasts and backtests run (``core.parallel.map_jobs``). ``xlsx``: also
    write the key tables as one workbook (``WORKBOOK_FILE``) for spreadsheet users.
    """
    inputs = read_inputs(data_dir, vintage, priors=priors)
    out = Path(out_dir)
    with output_folder(out) as tmp:
        result = _stages(inputs, tmp, horizon, seed, on_stage, render, jobs=jobs, scheduler=scheduler)
        if xlsx:
            result["paths"]["xlsx"] = write_workbook(tmp)
    return _moved(result, tmp, out)


#: the workbook of key tables `forecast run --xlsx` writes next to the CSV files
WORKBOOK_FILE = "results.xlsx"
#: its sheets: name -> (CSV file, rows kept)
WORKBOOK_SHEETS = {
    "estimates": ("estimates.csv", lambda df: df[df.method == "synthesis"] if "method" in df else df),
    "forecasts": ("forecasts.csv", None),
    "history": ("history.csv", None),
    "backtest_summary": ("backtest_summary.csv", None),
    "track_record": ("track_record.csv", None),
}


def write_workbook(folder: Path) -> Path:
    """The key tables of a results folder as one .xlsx workbook (one sheet per CSV present)."""
    from forecast.core.outputs import xlsx_bytes

    sheets = {}
    for name, (file, keep) in WORKBOOK_SHEETS.items():
        if (folder / file).exists():
            df = pd.read_csv(folder / file)
            sheets[name] = keep(df) if keep else df
    path = folder / WORKBOOK_FILE
    atomic_write_bytes(path, xlsx_bytes(sheets))
    return path


def _moved(result: dict, tmp: Path, out: Path) -> dict:
    """``result`` with its paths in the temporary folder replaced by their places in ``out``."""
    result["paths"] = {k: out / Path(p).relative_to(tmp) for k, p in result["paths"].items()}
    return result


def _stages(
    inputs: Inputs,
    out: Path,
    horizon: int,
    seed: int,
    on_stage,
    render: bool,
    jobs: int = 1,
    scheduler: str | None = None,
) -> dict:
    say = on_stage or (lambda msg: None)
    ds = inputs.dataset
    timings: dict[str, float] = {}
    t = time.perf_counter()
    say(
        f"1/4 prevalence: Bayesian evidence synthesis on {len(ds.observations)} observations, "
        f"{len(ds.multipliers)} multipliers"
    )
    from forecast.prevalence import estimate

    prevalence = estimate(ds, inputs.config, seed=seed, on_stage=lambda m: say("    " + m))
    prevalence.write(out)
    timings["prevalence"] = time.perf_counter() - t
    say(f"    done in {timings['prevalence']:.1f} s")
    t = time.perf_counter()
    say(f"2/4 scenario forecasts, horizon {horizon} years")
    forecasts, history = forecast_stage(
        ds, out, horizon, seed, prevalence, scenarios=inputs.scenarios, jobs=jobs, scheduler=scheduler
    )
    timings["forecasts"] = time.perf_counter() - t
    say(f"    done in {timings['forecasts']:.1f} s")
    t = time.perf_counter()
    say("3/4 backtests (rolling origin, embedded + simulated series)")
    backtest_stage(history, out, seed, jobs=jobs, scheduler=scheduler)
    timings["backtest"] = time.perf_counter() - t
    say(f"    done in {timings['backtest']:.1f} s")
    meta = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "horizon": horizon,
        "data_dir": str(ds.folder),
        "vintage": ds.vintage,
        "version": __version__,
        "diagnostics_passed": prevalence.verdict.passed,
        "diagnostics_messages": prevalence.verdict.messages,
        "sampling_note": prevalence.sampling_note,
        "priors": str(prevalence.inputs.config.path),
        "scenarios": str(models_file("scenarios.toml")),
        "timings_s": timings,
    }
    atomic_write_bytes(out / "run.json", json.dumps(meta, indent=2).encode())
    copy_calibration_history(ds, out)
    paths = {"results": out}
    if render:
        t = time.perf_counter()
        say("4/4 report (HTML + PDF)")
        from forecast.report import render_report

        paths.update(render_report(out, out, dataset=ds, on_stage=lambda m: say("    " + m)))
        timings["report"] = time.perf_counter() - t
        say(f"    done in {timings['report']:.1f} s")
        meta["timings_s"] = timings
        atomic_write_bytes(out / "run.json", json.dumps(meta, indent=2).encode())
    return {"paths": paths, "timings": timings, "prevalence": prevalence, "forecasts": forecasts}


def refit(
    cal: Calibration,
    store: Store,
    out: Path,
    horizon: int = 5,
    seed: int = 1,
    render: bool = True,
    on_stage: Callable[[str], None] | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> dict:
    """Step 6 of a calibration: the prevalence synthesis and the forecasts on its new vintage
    (``cal.vintage`` of ``store``); copies of forecasts.csv and estimates.csv go into the vintage
    folder (the next calibration scores them) before the report is rendered, so a failing report
    costs only the report (``result["report_error"]``; `forecast report` renders it again)."""
    from forecast.calibration.previous import previous_estimates

    out = Path(out)
    cal.estimates_before = previous_estimates(store, cal.previous, out)
    inputs = read_inputs(vintage=cal.vintage.id, store=store)
    with output_folder(out) as tmp:
        result = _stages(inputs, tmp, horizon, seed, on_stage, render=False, jobs=jobs, scheduler=scheduler)
        for name in ("forecasts.csv", "forecast_draws.parquet", "estimates.csv"):
            if (tmp / name).exists():
                store.add_file(cal.vintage.id, name, (tmp / name).read_bytes())
        if render:
            from forecast.report import render_report

            if on_stage:
                on_stage("4/4 report (HTML + PDF)")
            try:
                report_stage = (lambda m: on_stage("    " + m)) if on_stage else None
                result["paths"].update(render_report(tmp, tmp, data_dir=store.root, on_stage=report_stage))
            except Exception as exc:  # noqa: BLE001 - the calibration and the refit are stored already
                result["report_error"] = f"{type(exc).__name__}: {exc}"
    cal.refit = _moved(result, tmp, out)
    return cal.refit
