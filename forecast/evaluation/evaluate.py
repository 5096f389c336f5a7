"""Out-of-sample evaluation of the forecast models: rolling-origin backtests on the embedded
series long enough to hold out years, and on simulated short series (the real ones are too few
to measure coverage to within a few points)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.evaluation.backtest import DEFAULT_BACKTEST_MODELS, rolling_origin, simulated_short_series, summarise

MIN_TRAIN = 4
N_SIMULATED = 40


def backtest(
    history: pd.DataFrame, seed: int = 0, n_simulated: int = N_SIMULATED, models=DEFAULT_BACKTEST_MODELS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(folds, summary): one row per origin/horizon/model, and MASE/CRPS/coverage per model and horizon,
    for series_set = "embedded" (series with >= MIN_TRAIN + 1 points) and "simulated"."""
    folds = []
    for (country, indicator), g in history.groupby(["country", "indicator"]):
        if len(g) < MIN_TRAIN + 1 or indicator.startswith("true_"):
            continue
        s = pd.Series(g.value.to_numpy(float), index=g.year.to_numpy(int))
        f = rolling_origin(s, list(models), horizons=5, min_train=MIN_TRAIN, seed=seed)
        folds.append(f.assign(series_set="embedded", series=f"{country}/{indicator}"))
    rng = np.random.default_rng(seed)
    for s in simulated_short_series(n_simulated, rng):
        f = rolling_origin(s, list(models), horizons=5, min_train=MIN_TRAIN, seed=seed)
        folds.append(f.assign(series_set="simulated", series=str(s.name)))
    folds = pd.concat(folds, ignore_index=True)
    overall = summarise(folds, by_horizon=False, extra_by=["series_set"]).assign(horizon="all")
    by_h = summarise(folds, by_horizon=True, extra_by=["series_set"])
    summary = pd.concat([overall, by_h], ignore_index=True)
    return folds, summary
