"""Accuracy and calibration metrics computed from predictive samples.

A forecast here is a distribution (a matrix of draws), so it is scored as one: CRPS rewards
sharpness *and* calibration, interval hits and PIT values check calibration alone, and MASE
checks the median against the naive forecast, scale-free so that series of 10 and 50,000 can be
averaged together.

Conventions: ``samples`` has draws on axis 0 — shape ``(n_draws,)`` for one target or
``(n_draws, k)`` for ``k`` targets — and ``y`` is a scalar or shape ``(k,)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Coverage a calibrated band should reach out of sample, per nominal level: what the backtests,
#: the terminal and the report call "calibrated".
COVERAGE_TARGETS = {80: (0.75, 0.85), 95: (0.90, 0.97)}
#: where a figure fell in a forecast's bands (``band_of``)
INSIDE_80, INSIDE_95 = "inside 80", "inside 95"


def _as_draws(samples: np.ndarray, y) -> tuple[np.ndarray, np.ndarray, bool]:
    """Draws as (n, k), truth as (k,), and whether the caller passed a single target."""
    s = np.asarray(samples, dtype=float)
    scalar = s.ndim == 1
    s = s[:, None] if scalar else s
    y_arr = np.broadcast_to(np.asarray(y, dtype=float), (s.shape[1],))
    return s, y_arr, scalar


def _unwrap(values: np.ndarray, scalar: bool):
    return float(values[0]) if scalar else values


def crps_from_samples(samples: np.ndarray, y) -> float | np.ndarray:
    """Continuous ranked probability score, E|X - y| - E|X - X'| / 2 (lower is better).

    Exact for the empirical distribution of the draws, in O(n log n) via the sorted-sample
    identity E|X - X'| = 2 / n^2 * sum_i (2i - n - 1) x_(i). For a point mass it reduces to the
    absolute error, which is why CRPS and MAE share units and can be compared.
    """
    s, y_arr, scalar = _as_draws(samples, y)
    n = s.shape[0]
    x = np.sort(s, axis=0)
    abs_err = np.mean(np.abs(x - y_arr), axis=0)
    weights = (2 * np.arange(1, n + 1) - n - 1)[:, None]
    spread = np.sum(weights * x, axis=0) * 2 / n**2
    return _unwrap(abs_err - 0.5 * spread, scalar)


def crps_from_quantiles(quantiles: np.ndarray, levels: Sequence[float], y) -> float | np.ndarray:
    """CRPS approximated as twice the mean pinball loss over evenly spread quantile levels.

    For forecasts that give only intervals (e.g. statsforecast): CRPS = 2 * integral over tau of
    the pinball loss, so many symmetric levels (0.01 ... 0.99) give a close Riemann sum.
    ``quantiles`` has shape (len(levels),) or (len(levels), k).
    """
    q, y_arr, scalar = _as_draws(quantiles, y)
    tau = np.asarray(levels, dtype=float)[:, None]
    diff = y_arr - q
    pinball = np.maximum(tau * diff, (tau - 1) * diff)
    return _unwrap(2 * pinball.mean(axis=0), scalar)


def naive_scale(insample: Sequence[float], m: int = 1) -> float:
    """Mean absolute lag-``m`` change of the training data: MASE's denominator.

    Missing values are dropped first, so a gap counts as one step (documented approximation).
    """
    x = np.asarray(insample, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) <= m:
        return float("nan")
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def mase(y_true, y_pred_median, insample: Sequence[float], m: int = 1) -> float:
    """Mean absolute scaled error: forecast MAE / in-sample naive MAE (< 1 beats naive).

    Returns NaN when the training data are flat (scale 0), rather than an infinite score.
    """
    scale = naive_scale(insample, m)
    err = np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred_median, dtype=float))
    if not np.isfinite(scale) or scale <= 0:
        return float("nan")
    return float(np.mean(err) / scale)


def interval_bounds(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval (e.g. 0.8 -> 10%..90% quantiles) of the draws, per target."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.8; got {level}")
    s = np.asarray(samples, dtype=float)
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return lo, hi


def interval_hit(samples: np.ndarray, y, level: float) -> bool | np.ndarray:
    """Whether the truth falls inside the central ``level`` interval (bounds included)."""
    s, y_arr, scalar = _as_draws(samples, y)
    lo, hi = interval_bounds(s, level)
    hit = (y_arr >= lo) & (y_arr <= hi)
    return bool(hit[0]) if scalar else hit


def pit(samples: np.ndarray, y) -> float | np.ndarray:
    """Probability integral transform: share of draws below the truth (ties count half).

    Calibrated forecasts give PIT values uniform on [0, 1]; a U shape means bands too narrow.
    The mid-rank for ties keeps counts (and forecasts clipped at zero) unbiased.
    """
    s, y_arr, scalar = _as_draws(samples, y)
    below = np.mean(s < y_arr, axis=0)
    equal = np.mean(s == y_arr, axis=0)
    return _unwrap(below + 0.5 * equal, scalar)


def score_table(forecasts: pd.DataFrame, by: Sequence[str] = ("model",)) -> pd.DataFrame:
    """Summarise scored forecast rows (one per target) into accuracy and calibration per group.

    Needs columns ``y, median, lo_80, hi_80, lo_95, hi_95`` plus ``scale`` (naive in-sample MAE)
    and ``crps`` when available. Scaled errors (``abs_err / scale``) are averaged so that series
    of very different size weigh alike; rows whose scale is 0 or missing are left out of MASE
    and CRPS (they cannot be scaled) but still count for coverage.
    """
    df = forecasts.copy()
    df["abs_err"] = (df["y"] - df["median"]).abs()
    scale = df["scale"].where(df["scale"] > 0) if "scale" in df else np.nan
    df["_scaled_err"] = df["abs_err"] / scale
    df["_covered_80"] = (df["y"] >= df["lo_80"]) & (df["y"] <= df["hi_80"])
    df["_covered_95"] = (df["y"] >= df["lo_95"]) & (df["y"] <= df["hi_95"])
    aggs = {
        "MASE": ("_scaled_err", "mean"),
        "coverage_80": ("_covered_80", "mean"),
        "coverage_95": ("_covered_95", "mean"),
        "n_folds": ("y", "size"),
    }
    if "crps" in df:
        df["_scaled_crps"] = df["crps"] / scale
        aggs["CRPS"] = ("_scaled_crps", "mean")
        aggs["CRPS_raw"] = ("crps", "mean")
    out = df.groupby(list(by), sort=True).agg(**aggs).reset_index()
    order = [*by, "MASE", "CRPS", "CRPS_raw", "coverage_80", "coverage_95", "n_folds"]
    return out[[c for c in order if c in out.columns]]


def band_of(y: float, row) -> str:
    """Where the figure falls in the forecast's bands: inside 80, inside 95, outside 95 (high/low)."""
    if row.lo_80 <= y <= row.hi_80:
        return INSIDE_80
    if row.lo_95 <= y <= row.hi_95:
        return INSIDE_95
    return "outside 95 (high)" if y > row.hi_95 else "outside 95 (low)"
