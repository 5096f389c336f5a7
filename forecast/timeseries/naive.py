"""The benchmarks: random walk (``naive``) and random walk with drift (``drift``).

Both use the observed years as they are: a step over a gap of g years counts as g yearly steps.
"""

from __future__ import annotations

import numpy as np

from forecast.timeseries.conjugate import regression_posterior, scaled_inv_chi2
from forecast.timeseries.samples import Prepared


def _step_lengths(data: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Year-to-year log changes and the number of years each spans (gaps span more than one)."""
    return np.diff(data.y), np.diff(data.years).astype(float)


def naive_log(
    data: Prepared, horizon: int, n: int, rng: np.random.Generator, diagnostics: dict | None = None
) -> np.ndarray:
    """Random walk: tomorrow = today; step variance sigma^2 per year, sigma integrated out.

    Nothing to report in ``diagnostics``.
    """
    dy, gap = _step_lengths(data)
    sse = float(np.sum(dy**2 / gap))
    sigma = np.sqrt(scaled_inv_chi2(sse, len(dy), n, rng))
    steps = sigma[:, None] * rng.standard_normal((n, horizon))
    return data.y[-1] + np.cumsum(steps, axis=1)


def drift_log(
    data: Prepared, horizon: int, n: int, rng: np.random.Generator, diagnostics: dict | None = None
) -> np.ndarray:
    """Random walk with drift; the drift's own uncertainty widens bands ~h (fpp3's drift method).

    A step over g years is N(g * drift, g * sigma^2): weighted least squares on the steps.
    Nothing to report in ``diagnostics``.
    """
    dy, gap = _step_lengths(data)
    w = 1.0 / np.sqrt(gap)
    beta, sigma = regression_posterior((gap * w)[:, None], dy * w, len(dy) - 1, n, rng)
    steps = beta + sigma[:, None] * rng.standard_normal((n, horizon))
    return data.y[-1] + np.cumsum(steps, axis=1)
