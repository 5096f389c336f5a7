"""The Theta method on the log scale (``theta``), as a full predictive distribution.

Theta (Assimakopoulos & Nikolopoulos 2000) is, as Hyndman & Billah (2003) showed, simple
exponential smoothing with a drift equal to half the slope of the least-squares trend line. It
won the M3 competition's yearly series and is the reference the statsforecast peers are built on.
Here it works on ``log1p`` like every family of the package, and its parameters are integrated
out rather than plugged in, so that its band carries their uncertainty:

- the drift: ``b / 2`` with ``b`` drawn from the exact posterior of the trend line's slope;
- the smoothing weight alpha: a grid of nodes, each weighted by its marginal likelihood;
- the initial level and sigma: closed-form (flat / conjugate) given alpha, as in ``ets_damped``.

Then y_t = l_{t-1} + d + e_t, l_t = l_{t-1} + d + alpha e_t is simulated forward. Subtracting the
drift (y'_t = y_t - d t) leaves plain SES, whose one-step errors are linear in the initial level.
"""

from __future__ import annotations

import numpy as np

from forecast.timeseries.conjugate import regression_posterior, sigma2_posterior_params
from forecast.timeseries.samples import Prepared

#: Smoothing weights integrated over (uniform prior on the nodes).
ALPHA_NODES = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99])


def _ses_linear_form(y: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SES one-step errors as e = z - x * l0 per alpha node, and the end level as a * l0 + c."""
    k = len(alpha)
    coef, const = np.ones(k), np.zeros(k)  # level_{t-1} = coef * l0 + const
    X, z = np.empty((k, len(y))), np.empty((k, len(y)))
    for t, yt in enumerate(y):
        X[:, t] = coef
        z[:, t] = yt - const
        coef, const = (1 - alpha) * coef, (1 - alpha) * const + alpha * yt
    return X, z, coef, const


def theta_log(
    data: Prepared, horizon: int, n: int, rng: np.random.Generator, diagnostics: dict | None = None
) -> np.ndarray:
    """SES with drift = half the trend slope, every parameter integrated out, simulated forward."""
    y = data.y_interp
    t = np.arange(len(y), dtype=float)
    X_trend = np.column_stack([np.ones_like(t), t - t.mean()])
    beta, _ = regression_posterior(X_trend, y, len(y) - 2, n, rng)
    drift_hat = 0.5 * np.linalg.lstsq(X_trend, y, rcond=None)[0][1]
    # alpha and the initial level, given the drift's estimate
    X, z, a_end, c_end = _ses_linear_form(y - drift_hat * t, ALPHA_NODES)
    xtx = np.sum(X**2, axis=1)
    l0_hat = np.sum(X * z, axis=1) / xtx
    sse = np.sum((z - X * l0_hat[:, None]) ** 2, axis=1)
    post_df, post_ss = sigma2_posterior_params(sse, np.full(len(sse), len(y) - 1))
    log_ml = -0.5 * np.log(xtx) - 0.5 * post_df * np.log(post_ss)
    w = np.exp(log_ml - log_ml.max())
    w /= w.sum()
    idx = rng.choice(len(w), size=n, p=w)
    sigma = np.sqrt(post_ss[idx] / rng.chisquare(post_df[idx]))
    l0 = l0_hat[idx] + sigma / np.sqrt(xtx[idx]) * rng.standard_normal(n)
    alpha = ALPHA_NODES[idx]
    # end level on the original scale: detrended level + the drift's contribution so far
    level = a_end[idx] * l0 + c_end[idx] + drift_hat * t[-1]
    drift = 0.5 * beta[:, 1]
    if diagnostics is not None:
        diagnostics.update(alpha=float(alpha.mean()), drift=float(drift_hat), ess_nodes=float(1 / np.sum(w**2)))
    out = np.empty((n, horizon))
    for h in range(horizon):
        e = sigma * rng.standard_normal(n)
        out[:, h] = level + drift + e
        level = level + drift + alpha * e
    return out
