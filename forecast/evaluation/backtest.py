"""Rolling-origin evaluation of the short-series models.

"Check bands out of sample" (DESIGN.md): every model is refitted at each origin on the data up
to that year only, and scored on the years that follow. Real series are few and short, so
``simulated_short_series`` supplies realistic synthetic ones to get enough folds to measure
coverage to within a few percentage points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast.evaluation.scoring import crps_from_samples, naive_scale, score_table
from forecast.timeseries import MIN_POINTS, fit_many

BACKTEST_COLUMNS = [
    "origin_year",
    "year",
    "horizon",
    "model",
    "y",
    "median",
    "lo_80",
    "hi_80",
    "lo_95",
    "hi_95",
    "crps",
    "covered_80",
    "covered_95",
    "abs_err",
    "scale",
]

#: Models a backtest runs when none are named: the candidates plus the naive benchmarks.
DEFAULT_BACKTEST_MODELS: tuple[str, ...] = (
    "ets_damped",
    "arima",
    "loglinear",
    "bayes_llt",
    "combined",
    "naive",
    "drift",
)


def rolling_origin(
    series: pd.Series,
    model: str | Sequence[str] = DEFAULT_BACKTEST_MODELS,
    horizons: int = 5,
    min_train: int = 4,
    *,
    n_samples: int = 1000,
    seed: int | None = 0,
    bands: str | None = None,
) -> pd.DataFrame:
    """Refit at every observed year from the ``min_train``-th on; score each later observed year.

    ``bands``: the band profile of ``combined`` (``timeseries.registry.BAND_PROFILES``; None: its default).
    Returns one row per (origin, horizon, model) with the columns of ``BACKTEST_COLUMNS``;
    ``scale`` is the naive in-sample MAE of the training window, MASE's denominator.
    An empty frame (same columns) when the series is too short to hold out anything.
    """
    models = [model] if isinstance(model, str) else list(model)
    if min_train < MIN_POINTS:
        raise ValueError(f"min_train must be >= {MIN_POINTS}, got {min_train}")
    s = series.dropna().sort_index()
    years = np.asarray(s.index, dtype=int)
    values = s.to_numpy(dtype=float)
    rows = []
    for i in range(min_train - 1, len(s) - 1):
        origin = int(years[i])
        test = (years > origin) & (years <= origin + horizons)
        if not test.any():
            continue
        train = s.iloc[: i + 1]
        fold_seed = None if seed is None else seed + origin
        fits = fit_many(train, horizons, models, n_samples=n_samples, seed=fold_seed, bands=bands)
        scale = naive_scale(train.to_numpy(dtype=float))
        for name, fc in fits.items():
            summary = fc.summary().set_index("year")
            for year, y in zip(years[test], values[test], strict=True):
                h = int(year - origin)
                draws = fc.samples[:, h - 1]
                row = summary.loc[year]
                rows.append(
                    {
                        "origin_year": origin,
                        "year": int(year),
                        "horizon": h,
                        "model": name,
                        "y": y,
                        "median": row["median"],
                        "lo_80": row["lo_80"],
                        "hi_80": row["hi_80"],
                        "lo_95": row["lo_95"],
                        "hi_95": row["hi_95"],
                        "crps": crps_from_samples(draws, y),
                        "covered_80": bool(row["lo_80"] <= y <= row["hi_80"]),
                        "covered_95": bool(row["lo_95"] <= y <= row["hi_95"]),
                        "abs_err": abs(y - row["median"]),
                        "scale": scale,
                    }
                )
    return pd.DataFrame(rows, columns=BACKTEST_COLUMNS)


def summarise(backtest_df: pd.DataFrame, by_horizon: bool = False, extra_by: Sequence[str] = ()) -> pd.DataFrame:
    """MASE, CRPS (scaled like MASE; ``CRPS_raw`` unscaled), coverage 80/95, n_folds per model.

    ``by_horizon`` adds one row per horizon; ``extra_by`` groups further (e.g. a series id).
    """
    by = ["model", *extra_by] + (["horizon"] if by_horizon else [])
    return score_table(backtest_df, by=by)


def simulated_short_series(n_series: int, rng: np.random.Generator) -> list[pd.Series]:
    """Synthetic annual counts that look like the real ones, to get enough backtest folds.

    Log-scale damped local-linear trend (level 10-50,000, growth rate drifting) with regime
    shifts (about one year in twelve the slope is redrawn and the level jumps, as when a policy,
    a route or a reporting system changes), lognormal reporting noise, Poisson counting noise,
    lengths 6-15, and a missing year or two in about one series in five.
    The generator is deliberately *not* the ``bayes_llt`` model: the jumps and Poisson noise
    make every candidate misspecified, as real data would.
    """
    out = []
    for i in range(n_series):
        length = int(rng.integers(6, 16))
        start = int(rng.integers(1995, 2006))
        level = np.log(10 ** rng.uniform(1, np.log10(50_000)))
        slope = rng.normal(0, 0.15)
        phi = rng.uniform(0.7, 1.0)
        sd_level, sd_slope, sd_obs = rng.uniform(0.02, 0.12), rng.uniform(0, 0.05), rng.uniform(0.02, 0.2)
        log_truth = np.empty(length)
        for t in range(length):
            if t > 0:
                if rng.random() < 1 / 12:  # regime shift
                    slope = rng.normal(0, 0.25)
                    level += rng.normal(0, 0.3)
                level += slope + rng.normal(0, sd_level)
                slope = phi * slope + rng.normal(0, sd_slope)
            log_truth[t] = level
        mean = np.exp(np.clip(log_truth + rng.normal(0, sd_obs, length), -5, 16))
        values = rng.poisson(mean).astype(float)
        years = np.arange(start, start + length)
        s = pd.Series(values, index=pd.Index(years, name="year"), name=f"sim{i:04d}")
        if rng.random() < 0.2 and length >= 8:
            drop = rng.choice(np.arange(2, length - 2), size=int(rng.integers(1, 3)), replace=False)
            s = s.drop(years[drop])
        out.append(s)
    return out
