"""ETS(A, Ad, N) on the log scale (``ets_damped``), every parameter integrated out.

The recursion is statsmodels' ``ETSModel(error="add", trend="add", damped_trend=True)`` exactly
(tests/test_tsmodels.py checks it against statsmodels' fitted values and likelihood). Given the
smoothing parameters (alpha, beta, phi) the one-step errors are linear in the initial state x0,
so x0 and sigma have a closed-form posterior. (alpha, beta, phi) are integrated over a grid of
nodes inside statsmodels' bounds, each weighted by its marginal likelihood, so the band carries
smoothing-parameter uncertainty too: on short series the maximum-likelihood estimate sits at
alpha = beta = 0 (a deterministic damped trend), and a plug-in band is too narrow.
"""

from __future__ import annotations

import numpy as np

from forecast.timeseries.conjugate import sigma2_posterior_params
from forecast.timeseries.samples import Prepared

#: Prior on the nodes: uniform in alpha and phi, beta ~ Exponential(mean 0.2). Short series
#: cannot tell beta apart, and a uniform prior up to beta = alpha lets noise feed the trend,
#: which compounds into absurd 5-year tails (99.9% quantile 1000x the data on noisy 6-point
#: series). Measured on 150 simulated series: scaled CRPS 1.57 -> 1.45, coverage 80/94 -> 75/92.
ETS_BETA_PRIOR_MEAN = 0.2


def _smoothing_grid() -> np.ndarray:
    """(alpha, beta, phi) nodes inside statsmodels' default bounds, beta <= alpha."""
    alphas = np.array([1e-4, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9999])
    beta_frac = np.array([1e-4, 0.1, 0.25, 0.5, 0.75, 1.0])
    phis = np.array([0.8, 0.85, 0.9, 0.94, 0.98])
    a, f, p = np.meshgrid(alphas, beta_frac, phis, indexing="ij")
    nodes = np.column_stack([a.ravel(), np.maximum(a * f, 1e-4).ravel(), p.ravel()])
    return np.unique(nodes, axis=0)


#: The quadrature nodes over (alpha, beta, phi), one row per node.
SMOOTHING_NODES = _smoothing_grid()


def linear_form(y: np.ndarray, alpha, beta, phi) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Write ETS(A,Ad,N) one-step errors as ``e = z - X @ x0`` and the end state as A x0 + c.

    Innovation form: yhat_t = w x_{t-1}, e_t = y_t - yhat_t, x_t = F x_{t-1} + g e_t with
    x = (level, trend), w = (1, phi), F = [[1, phi], [0, phi]], g = (alpha, beta). Then
    x_t = D x_{t-1} + g y_t with D = F - g w, which is linear in the initial state x0.
    Parameters are arrays of nodes (leading axis = node); shapes (k,t,2), (k,t), (k,2,2), (k,2).
    """
    alpha, beta, phi = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (alpha, beta, phi))
    k = len(phi)
    d00, d01 = 1.0 - alpha, phi * (1.0 - alpha)  # D = [[1-a, phi(1-a)], [-b, phi(1-b)]]
    d10, d11 = -beta, phi * (1.0 - beta)
    a00, a01, a10, a11 = np.ones(k), np.zeros(k), np.zeros(k), np.ones(k)  # A = D^t
    c0, c1 = np.zeros(k), np.zeros(k)
    X, z = np.empty((k, len(y), 2)), np.empty((k, len(y)))
    for t, yt in enumerate(y):
        X[:, t, 0], X[:, t, 1] = a00 + phi * a10, a01 + phi * a11
        z[:, t] = yt - (c0 + phi * c1)
        a00, a01, a10, a11 = (
            d00 * a00 + d01 * a10,
            d00 * a01 + d01 * a11,
            d10 * a00 + d11 * a10,
            d10 * a01 + d11 * a11,
        )
        c0, c1 = d00 * c0 + d01 * c1 + alpha * yt, d10 * c0 + d11 * c1 + beta * yt
    A = np.stack([np.stack([a00, a01], 1), np.stack([a10, a11], 1)], 1)
    return X, z, A, np.stack([c0, c1], 1)


def batched_least_squares(X: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node: estimate, (X'X)^-1 and residual sum of squares of z = X x0 + e."""
    xtx = np.einsum("kti,ktj->kij", X, X) + 1e-10 * np.eye(X.shape[2])
    xtx_inv = np.linalg.inv(xtx)
    est = np.einsum("kij,kj->ki", xtx_inv, np.einsum("kti,kt->ki", X, z))
    sse = np.sum((z - np.einsum("kti,ki->kt", X, est)) ** 2, axis=1)
    return est, xtx_inv, sse


def ets_damped_log(
    data: Prepared, horizon: int, n: int, rng: np.random.Generator, diagnostics: dict | None = None
) -> np.ndarray:
    """Damped-trend ETS with initial states, sigma and the smoothing parameters integrated out,
    simulated forward on the log scale."""
    y = data.y_interp
    nodes = SMOOTHING_NODES
    X, z, A, c = linear_form(y, *nodes.T)
    x0_hat, xtx_inv, sse = batched_least_squares(X, z)
    post_df, post_ss = sigma2_posterior_params(sse, np.full(len(sse), len(y) - 2))
    # marginal likelihood of each node, x0 (flat prior) and sigma (conjugate) integrated out
    log_ml = -0.5 * np.linalg.slogdet(np.linalg.inv(xtx_inv))[1] - 0.5 * post_df * np.log(post_ss)
    log_post = log_ml - nodes[:, 1] / ETS_BETA_PRIOR_MEAN
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    idx = rng.choice(len(w), size=n, p=w)
    sigma = np.sqrt(post_ss[idx] / rng.chisquare(post_df[idx]))
    chol = np.linalg.cholesky(xtx_inv[idx] + 1e-12 * np.eye(2))
    x0 = x0_hat[idx] + sigma[:, None] * np.einsum("kij,kj->ki", chol, rng.standard_normal((n, 2)))
    level, trend = (np.einsum("kij,kj->ki", A[idx], x0) + c[idx]).T
    alpha, beta, phi = nodes[idx].T
    if diagnostics is not None:
        diagnostics.update(
            alpha=float(alpha.mean()),
            beta=float(beta.mean()),
            phi=float(phi.mean()),
            ess_nodes=float(1 / np.sum(w**2)),
        )
    out = np.empty((n, horizon))
    for h in range(horizon):
        e = sigma * rng.standard_normal(n)
        out[:, h] = level + phi * trend + e
        level, trend = level + phi * trend + alpha * e, phi * trend + beta * e
    return out
