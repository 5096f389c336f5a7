"""What the run on the previous vintage left: its forecast (scored on the new figures), its
estimates (to show what the refit moved), and the scenario weights the last calibration left (the
prior of this one).

A forecast is scored from its draws: forecasts.csv (the published bands) together with
forecast_draws.parquet (the paths). Where they come from, in order: the pair stored with the
previous vintage; else the results folder, if its run.json names this data folder and that
vintage; else the forecast is computed now (scenario models only, without the prevalence
synthesis), and the calibration says so (naming a forecasts.csv that has no draws beside it).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from forecast.calibration.scores import QUANTILE_COLUMNS
from forecast.core.errors import DataError, Issue
from forecast.data.dataset import Dataset
from forecast.data.vintages import BASE, Store, Vintage
from forecast.scenarios.draws import DRAWS_FILE, draws_frame, path_matrices, read_draws

PREVIOUS_HORIZON = 5  # the horizon of a previous forecast computed on the fly
_FORECAST_COLUMNS = ["country", "indicator", "scenario", "year", *QUANTILE_COLUMNS]
_ESTIMATE_COLUMNS = ["country", "target", "year", "method", "median"]


def run_matches(out: Path, store: Store, previous: Vintage) -> bool:
    """Whether the results in ``out`` (its run.json) were made from ``previous`` of this store."""
    try:
        meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
        data_dir = Path(meta["data_dir"]).resolve()
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if data_dir != store.root.resolve():
        return False
    run_vintage = meta.get("vintage")
    if run_vintage:
        return run_vintage == previous.id
    if previous.id == BASE:  # run on the default (latest) vintage, and no vintage exists yet
        return True
    try:
        return datetime.fromisoformat(meta["created"]) >= datetime.fromisoformat(previous.date)
    except (KeyError, ValueError, TypeError):
        return False


def _read_results(path: Path, columns: list[str]) -> pd.DataFrame | None:
    """A results table, or None when it is missing, unreadable or lacks ``columns``."""
    try:
        t = pd.read_csv(path)
    except (OSError, ValueError):
        return None
    return t if set(columns) <= set(t.columns) else None


def read_forecasts(path: Path) -> pd.DataFrame | None:
    """A forecasts.csv to score (None: not there, or not one); a non-number in its year or
    quantiles is a DataError naming the file, row and column (fix or remove the file)."""
    f = _read_results(path, _FORECAST_COLUMNS)
    if f is None:
        return None
    issues = []
    for col in ["year", *QUANTILE_COLUMNS]:
        bad = f[col].notna() & pd.to_numeric(f[col], errors="coerce").isna()
        issues += [
            Issue(str(path), int(i) + 2, col, f"'{f.at[i, col]}' is not a number; this forecast cannot be scored")
            for i in f.index[bad]
        ]
    if issues:
        raise DataError(issues)
    return f


def previous_forecast(
    store: Store, previous: Vintage, previous_ds: Dataset, out: Path | None, jobs: int = 1, scheduler: str | None = None
) -> tuple[pd.DataFrame, dict, str]:
    """(forecasts, draws, where they come from) for the vintage the new figures are added to;
    draws: (country, indicator, scenario) -> (years, draws x years)."""
    lacking = []
    candidates = []
    if previous.id != BASE:
        candidates.append((previous.folder, f"stored with vintage {previous.id}"))
    if out is not None and run_matches(Path(out), store, previous):
        candidates.append((Path(out), f"in {Path(out)} (its run.json names vintage {previous.id} of {store.root})"))
    for folder, where in candidates:
        f = read_forecasts(folder / "forecasts.csv")
        if f is None:
            continue
        draws = read_draws(folder / DRAWS_FILE)
        if draws is None:
            lacking.append(str(folder / "forecasts.csv"))
            continue
        return f, path_matrices(draws), f"forecasts.csv and {DRAWS_FILE} {where}"
    from forecast.scenarios.definitions import load_scenarios
    from forecast.scenarios.forecasts import forecast_series, forecast_table

    scenarios = load_scenarios()
    series, _ = forecast_series(previous_ds, PREVIOUS_HORIZON, scenarios, jobs=jobs, scheduler=scheduler)
    why = f"; {', '.join(lacking)} has no {DRAWS_FILE} beside it" if lacking else ""
    return (
        forecast_table(series, scenarios),
        path_matrices(draws_frame(series)),
        (
            f"computed now from vintage {previous.id} (no stored forecast with draws for it{why}; scenario "
            f"models, horizon {PREVIOUS_HORIZON}, without the prevalence synthesis)"
        ),
    )


def previous_weights(store: Store, previous: Vintage) -> tuple[pd.Series | None, str]:
    """(scenario -> weight, the vintage they come from) that the latest calibration with weights, up
    to ``previous``, left; (None, "") when none did (the first calibration: equal priors)."""
    ids = [v.id for v in store.vintages()]
    upto = ids[: ids.index(previous.id) + 1] if previous.id in ids else ids
    for vid in reversed(upto):
        if vid == BASE:
            break
        path = store.get(vid).folder / "scenario_weights.csv"
        w = _read_results(path, ["scenario", "weight"])
        if w is not None and not w.empty:
            return w.set_index("scenario").weight.astype(float), vid
    return None, ""


def previous_estimates(store: Store, previous: Vintage, out: Path) -> pd.DataFrame | None:
    """The synthesis estimates of the previous vintage, if stored (with the vintage, or in ``out``
    when its run.json names it), to show what the refit moved; None when there are none."""
    for path, ok in (
        (previous.folder / "estimates.csv", previous.id != BASE),
        (Path(out) / "estimates.csv", run_matches(Path(out), store, previous)),
    ):
        if ok and (estimates := _read_results(path, _ESTIMATE_COLUMNS)) is not None:
            return estimates
    return None
