"""What the run on the previous vintage left: its forecast (scored on the new figures) and its
estimates (to show what the refit moved).

Where the previous forecast comes from, in order: the forecasts.csv stored with the previous
vintage; else the results folder, if its run.json names this data folder and that vintage; else
it is computed now (scenario models only, without the prevalence synthesis), and the calibration
says so.
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
    store: Store, previous: Vintage, previous_ds: Dataset, out: Path | None
) -> tuple[pd.DataFrame, str]:
    """(forecasts, where they come from) for the vintage the new figures are added to."""
    if previous.id != BASE:
        f = read_forecasts(previous.folder / "forecasts.csv")
        if f is not None:
            return f, f"forecasts.csv stored with vintage {previous.id}"
    if out is not None and run_matches(Path(out), store, previous):
        f = read_forecasts(Path(out) / "forecasts.csv")
        if f is not None:
            return f, f"{Path(out) / 'forecasts.csv'} (its run.json names vintage {previous.id} of {store.root})"
    from forecast.scenarios.definitions import load_scenarios
    from forecast.scenarios.forecasts import scenario_forecasts

    f, _ = scenario_forecasts(previous_ds, PREVIOUS_HORIZON, load_scenarios())
    return f, (
        f"computed now from vintage {previous.id} (no stored forecast for it; scenario models, "
        f"horizon {PREVIOUS_HORIZON}, without the prevalence synthesis)"
    )


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
