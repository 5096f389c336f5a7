"""A small ARIMA on the log scale (``arima``): ARIMA(p,1,0), p in {0,1}, with or without drift.

The candidates are compared by AICc on the exact Gaussian likelihood (AR(1) start from its
stationary distribution), as statsmodels computes it: phi on a fine grid with mean and sigma
profiled out, equal to statsmodels' ``ARIMA(...).fit().aicc`` (tested) at a hundredth of its
time. The chosen model's phi, mean growth and sigma are then drawn from their exact posterior
and simulated.

MA terms are left out on purpose: on short series the MA(1) estimate runs to the
non-invertible boundary (theta -> -1), a deterministic trend whose bands do not widen.
"""

from __future__ import annotations

import numpy as np

from forecast.timeseries.conjugate import sigma2_posterior_params
from forecast.timeseries.samples import Prepared

#: (p, drift) candidates; see the module docstring for why there is no MA term.
CANDIDATES: tuple[tuple[int, bool], ...] = ((0, True), (0, False), (1, True), (1, False))
_AR_GRID = np.linspace(-0.99, 0.99, 397)


def _aicc(loglik: float, k: int, nobs: int) -> float:
    return -2 * loglik + 2 * k + 2 * k * (k + 1) / (nobs - k - 1)


def _prais_winsten(d: np.ndarray, phi: np.ndarray, drift: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Whiten AR(1) differences for each phi: the exact likelihood becomes a regression.

    Returns the whitened target (g, m), the whitened mean regressor (or None without drift)
    and sqrt(1 - phi^2), the Jacobian of the first (stationary) observation.
    """
    phi = np.asarray(phi, dtype=float)[:, None]
    scale0 = np.sqrt(1 - phi**2)
    dz = np.concatenate([scale0 * d[0], d[1:] - phi * d[:-1]], axis=1)
    ones = None
    if drift:
        ones = np.concatenate([scale0, np.broadcast_to(1 - phi, (len(phi), len(d) - 1))], axis=1)
    return dz, ones, scale0[:, 0]


def _ar_mean_fit(dz: np.ndarray, ones: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GLS mean, its X'X and the residual sum of squares, per phi."""
    if ones is None:
        return np.zeros(len(dz)), np.ones(len(dz)), np.sum(dz**2, axis=1)
    xtx = np.sum(ones**2, axis=1)
    mu = np.sum(ones * dz, axis=1) / xtx
    return mu, xtx, np.sum((dz - mu[:, None] * ones) ** 2, axis=1)


def candidate_aicc(y: np.ndarray, p: int, drift: bool) -> float:
    """AICc of ARIMA(p,1,0) +/- drift from the exact likelihood, maximised over a phi grid."""
    d = np.diff(y)
    m, k = len(d), p + int(drift) + 1
    dz, ones, scale0 = _prais_winsten(d, _AR_GRID if p else np.zeros(1), drift)
    _, _, sse = _ar_mean_fit(dz, ones)
    sse = np.maximum(sse, 1e-12 * m)  # a perfectly flat history must not give log(0)
    ll = -0.5 * m * (np.log(2 * np.pi * sse / m) + 1) + np.log(scale0)
    return _aicc(float(ll.max()), k, m)


def _select(y: np.ndarray) -> tuple[int, bool, dict[str, float]]:
    """Pick ARIMA(p,1,0) +/- drift by AICc (exact likelihood)."""
    aicc: dict[str, float] = {}
    best, best_score = (0, True), np.inf
    for p, drift in CANDIDATES:
        k = p + int(drift) + 1  # + sigma2
        if len(y) - 1 - k - 1 <= 0:  # AICc undefined: too few differences for this model
            continue
        try:
            score = candidate_aicc(y, p, drift)
        except (ValueError, np.linalg.LinAlgError):
            continue
        aicc[f"ARIMA({p},1,0){'+drift' if drift else ''}"] = score
        if np.isfinite(score) and score < best_score:
            best, best_score = (p, drift), score
    return best[0], best[1], aicc


def arima_log(
    data: Prepared, horizon: int, n: int, rng: np.random.Generator, diagnostics: dict | None = None
) -> np.ndarray:
    """Chosen ARIMA(p,1,0): dy_t - mu = phi (dy_{t-1} - mu) + e_t, parameters drawn, simulated.

    The posterior is exact on the exact likelihood: phi on a grid (uniform prior), mu flat,
    sigma^2 conjugate. The mean parameterisation keeps the long-run growth at mu whatever phi
    is (with an intercept c instead, c / (1 - phi) explodes as phi -> 1 on short series).
    """
    y = data.y_interp
    p, drift, aicc = _select(y)
    d = np.diff(y)
    phis = _AR_GRID if p else np.zeros(1)
    dz, ones, scale0 = _prais_winsten(d, phis, drift)
    mu_hat, xtx, sse = _ar_mean_fit(dz, ones)
    post_df, post_ss = sigma2_posterior_params(sse, np.full(len(phis), len(d) - int(drift)))
    log_ml = np.log(scale0) - 0.5 * np.log(xtx) - 0.5 * post_df * np.log(post_ss)
    w = np.exp(log_ml - log_ml.max())
    idx = rng.choice(len(phis), size=n, p=w / w.sum())
    sigma = np.sqrt(post_ss[idx] / rng.chisquare(post_df[idx]))
    mu = mu_hat[idx] + (sigma / np.sqrt(xtx[idx]) * rng.standard_normal(n) if drift else 0.0)
    phi = phis[idx]
    if diagnostics is not None:
        diagnostics.update(
            order=f"ARIMA({p},1,0){'+drift' if drift else ''}",
            aicc=aicc,
            phi_mean=float(phi.mean()),
            drift_mean=float(np.mean(mu)),
        )
    level, dev = np.full(n, y[-1]), d[-1] - mu
    out = np.empty((n, horizon))
    for h in range(horizon):
        dev = phi * dev + sigma * rng.standard_normal(n)
        level = level + mu + dev
        out[:, h] = level
    return out
