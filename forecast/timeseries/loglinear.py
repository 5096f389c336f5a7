"""Log-linear trend: OLS of log value on year, with its parameters integrated out."""

from __future__ import annotations

import numpy as np

from forecast.timeseries.conjugate import regression_posterior
from forecast.timeseries.samples import Prepared


def loglinear_log(
    data: Prepared, horizon: int, n: int, rng: np.random.Generator, diagnostics: dict | None = None
) -> np.ndarray:
    """Joint draws of (a, b, sigma) give Student-t marginals. Nothing to report in ``diagnostics``."""
    t = (data.years - data.years.mean()).astype(float)
    X = np.column_stack([np.ones_like(t), t])
    beta, sigma = regression_posterior(X, data.y, len(t) - 2, n, rng)
    future_t = data.last_year - data.years.mean() + np.arange(1, horizon + 1)
    mean = beta[:, [0]] + beta[:, [1]] * future_t[None, :]
    return mean + sigma[:, None] * rng.standard_normal((n, horizon))
