"""Out-of-sample evaluation of the forecast models: rolling-origin backtests on the embedded
series long enough to hold out years, and on simulated short series (the real ones are too few
to measure coverage to within a few points)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.core.parallel import map_jobs
from forecast.evaluation.backtest import DEFAULT_BACKTEST_MODELS, rolling_origin, simulated_short_series, summarise

MIN_TRAIN = 4
N_SIMULATED = 40


def backtest(
    history: pd.DataFrame,
    seed: int = 0,
    n_simulated: int = N_SIMULATED,
    models=DEFAULT_BACKTEST_MODELS,
    jobs: int = 1,
    scheduler: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(folds, summary): one row per origin/horizon/model, and MASE/CRPS/coverage per model and horizon,
    for series_set = "embedded" (series with >= MIN_TRAIN + 1 points) and "simulated".

    Each series is one task of ``core.parallel.map_jobs`` (``jobs`` local processes, or the Dask
    cluster at ``scheduler``); its random streams come from ``seed`` and its own origins only, so the
    numbers are the same for any ``jobs`` and any engine."""
    tasks: list[SeriesTask] = []
    for (country, indicator), g in history.groupby(["country", "indicator"]):
        if len(g) < MIN_TRAIN + 1 or indicator.startswith("true_"):
            continue
        s = pd.Series(g.value.to_numpy(float), index=g.year.to_numpy(int))
        tasks.append(SeriesTask(s, "embedded", f"{country}/{indicator}", tuple(models), seed))
    rng = np.random.default_rng(seed)
    for s in simulated_short_series(n_simulated, rng):
        tasks.append(SeriesTask(s, "simulated", str(s.name), tuple(models), seed))
    folds = pd.concat(map_jobs(backtest_series, tasks, jobs=jobs, backend=scheduler), ignore_index=True)
    overall = summarise(folds, by_horizon=False, extra_by=["series_set"]).assign(horizon="all")
    by_h = summarise(folds, by_horizon=True, extra_by=["series_set"])
    summary = pd.concat([overall, by_h], ignore_index=True)
    return folds, summary


@dataclass(frozen=True)
class SeriesTask:
    """One series' rolling-origin backtest: everything a worker needs, seed included."""

    series: pd.Series
    series_set: str
    name: str
    models: tuple[str, ...]
    seed: int


def backtest_series(task: SeriesTask) -> pd.DataFrame:
    """The folds of one series (a top-level function, so joblib and Dask workers can pickle it)."""
    f = rolling_origin(task.series, list(task.models), horizons=5, min_train=MIN_TRAIN, seed=task.seed)
    return f.assign(series_set=task.series_set, series=task.name)
