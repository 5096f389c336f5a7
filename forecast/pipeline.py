"""The main job: estimate → scenario forecasts → backtest → report, into one results folder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from forecast import __version__
from forecast.core.outputs import atomic_write_bytes, write_csv
from forecast.core.resources import models_file
from forecast.data.dataset import Dataset, load_dataset
from forecast.data.vintages import HISTORY_FILE, TRACK_RECORD_FILE, Store, calibration_history, track_record

if TYPE_CHECKING:
    from forecast.calibration.job import Calibration


def forecast_stage(
    ds: Dataset, out: Path, horizon: int, seed: int, prevalence=None, scenario_file: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from forecast.scenarios.definitions import load_scenarios
    from forecast.scenarios.forecasts import scenario_forecasts

    forecasts, history = scenario_forecasts(
        ds, horizon, load_scenarios(scenario_file), seed=seed, prevalence=prevalence
    )
    write_csv(forecasts, out / "forecasts.csv")
    write_csv(history, out / "history.csv")
    return forecasts, history


def backtest_stage(history: pd.DataFrame, out: Path, seed: int) -> pd.DataFrame:
    from forecast.evaluation.evaluate import backtest

    folds, summary = backtest(history, seed=seed)
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


def run_pipeline(
    data_dir: Path | None,
    out_dir: Path,
    horizon: int = 5,
    seed: int = 1,
    vintage: str | None = None,
    on_stage=None,
    render: bool = True,
) -> dict:
    """Run every stage on a dataset and write all outputs into ``out_dir``; returns paths and timings."""
    say = on_stage or (lambda msg: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    ds = load_dataset(data_dir, vintage)
    say(
        f"1/4 prevalence: Bayesian evidence synthesis on {len(ds.observations)} observations, "
        f"{len(ds.multipliers)} multipliers"
    )
    from forecast.prevalence import estimate

    prevalence = estimate(ds, seed=seed, on_stage=lambda m: say("    " + m))
    prevalence.write(out)
    timings["prevalence"] = time.perf_counter() - t
    t = time.perf_counter()
    say(f"2/4 scenario forecasts, horizon {horizon} years")
    forecasts, history = forecast_stage(ds, out, horizon, seed, prevalence)
    timings["forecasts"] = time.perf_counter() - t
    t = time.perf_counter()
    say("3/4 backtests (rolling origin, embedded + simulated series)")
    backtest_stage(history, out, seed)
    timings["backtest"] = time.perf_counter() - t
    meta = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "horizon": horizon,
        "data_dir": str(ds.folder),
        "vintage": ds.vintage,
        "version": __version__,
        "diagnostics_passed": prevalence.verdict.passed,
        "diagnostics_messages": prevalence.verdict.messages,
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

        paths.update(render_report(out, out, dataset=ds))
        timings["report"] = time.perf_counter() - t
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
) -> dict:
    """Step 6 of a calibration: the prevalence synthesis and the forecasts on its new vintage
    (``cal.vintage`` of ``store``); copies of forecasts.csv and estimates.csv go into the vintage
    folder (the next calibration scores them) before the report is rendered, so a failing report
    costs only the report (``result["report_error"]``; `forecast report` renders it again)."""
    from forecast.calibration.previous import previous_estimates

    out = Path(out)
    cal.estimates_before = previous_estimates(store, cal.previous, out)
    result = run_pipeline(
        store.root, out, horizon=horizon, seed=seed, vintage=cal.vintage.id, on_stage=on_stage, render=False
    )
    for name in ("forecasts.csv", "estimates.csv"):
        if (out / name).exists():
            store.add_file(cal.vintage.id, name, (out / name).read_bytes())
    if render:
        from forecast.report import render_report

        if on_stage:
            on_stage("4/4 report (HTML + PDF)")
        try:
            result["paths"].update(render_report(out, out, data_dir=store.root))
        except Exception as exc:  # noqa: BLE001 - the calibration and the refit are stored already
            result["report_error"] = f"{type(exc).__name__}: {exc}"
    cal.refit = result
    return result
