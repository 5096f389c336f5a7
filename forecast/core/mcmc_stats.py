"""Rank-normalized split R-hat and bulk/tail effective sample sizes of many quantities at once.

Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-normalization, folding, and
localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis
16(2):667-718.

The numbers are ArviZ 0.x's ``az.rhat(method="rank")``, ``az.ess(method="bulk")`` and
``az.ess(method="tail")`` (arviz/stats/diagnostics.py: ``_rhat_rank``, ``_ess_bulk``,
``_ess_tail``), step for step, including its nan and constant-input cases; only the loop over
quantities is gone. ArviZ ranks, autocorrelates and truncates each quantity on its own, ~7 ms
each; here a block of quantities is ranked by one argsort of the pooled split chains (the bulk
R-hat and the bulk ESS share those normal scores), autocorrelated by one FFT and truncated by one
numba loop. Results agree with ArviZ to rounding (a few sums are added in another order), with one
exception: when every split chain of a quantity is constant at its own value, ArviZ's within-chain
variance (``E[x^2] - E[x]^2`` under numba) is rounding noise and its R-hat any huge number or nan;
here R-hat is a huge number or inf (two-pass variance), never nan.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import stats
from scipy.fftpack import next_fast_len  # ArviZ's padding

#: Blom's (1958) offset of the rank backtransform, as in ArviZ
BLOM = 3 / 8
#: the two quantiles whose indicator ESS is the tail ESS (the smaller of the two), as in ArviZ
TAIL_PROBS = np.array([0.05, 0.95])
#: fewer draws per chain give nan, as in ArviZ
MIN_DRAWS = 4
#: quantities computed together: a block's work arrays stay a few MB
BLOCK = 64


def rhat_ess(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-hat (rank method), bulk ESS and tail ESS of each of the k quantities of ``draws``.

    ``draws`` has shape (chain, draw, k); each result has length k. R-hat is the larger of the
    split R-hats of the rank-normalized draws and of the rank-normalized folded draws
    ``|x - median|``; the bulk ESS is that of the rank-normalized split chains; the tail ESS is
    the smaller ESS of the indicators ``x <= q`` at the 5% and 95% quantiles. A quantity with a nan
    draw gets nan everywhere, R-hat needs two chains, and all need ``MIN_DRAWS`` draws per chain.
    """
    x = np.asarray(draws)
    if x.dtype.kind != "f":
        x = x.astype(float)
    n_chain, n_draw, k = x.shape
    out = np.full((3, k), np.nan)
    if n_draw >= MIN_DRAWS:
        for start in range(0, k, BLOCK):
            out[:, start : start + BLOCK] = _rhat_ess(x[:, :, start : start + BLOCK].transpose(2, 0, 1))
    if n_chain < 2:
        out[0] = np.nan
    return out[0], out[1], out[2]


def _rhat_ess(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rhat_ess`` of (k, chain, draw) draws, at least ``MIN_DRAWS`` per chain."""
    invalid = np.isnan(x).any(axis=(1, 2))
    if invalid.any():  # computed on zeros, reported as nan
        x = np.where(invalid[:, None, None], 0, x)

    # split chains: each chain's first and last halves (an odd draw count drops the middle draw)
    half = x.shape[2] // 2
    split = np.concatenate([x[:, :, :half], x[:, :, -half:]], axis=1)  # (k, 2 chain, half)
    z_bulk, median = _z_scale(split)
    z_fold, _ = _z_scale(np.abs(split - median[:, None, None]))
    rhat_bulk, rhat_fold = _rhat(z_bulk), _rhat(z_fold)
    rhat = np.where(rhat_fold > rhat_bulk, rhat_fold, rhat_bulk)  # max(bulk, fold), nan as Python's max

    ess_bulk = _ess(z_bulk)
    low, high = (_ess((split <= q[:, None, None]).astype(float)) for q in _quantiles(x, TAIL_PROBS))
    ess_tail = np.where(high < low, high, low)  # min(low, high), nan as Python's min

    for a in (rhat, ess_bulk, ess_tail):
        a[invalid] = np.nan
    return rhat, ess_bulk, ess_tail


def _z_scale(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal scores of the average ranks of each quantity's pooled draws (ArviZ's ``_z_scale``).

    ``a`` has shape (k, ...) with an even number n of draws per row; ranks are over all draws of a
    row, ties get the average rank, the backtransform is Blom's ``(r - 3/8) / (n - 3/4 + 1)``.
    Returns the scores (shape of ``a``) and the median of each row (as ``np.median``).
    """
    flat = a.reshape(len(a), -1)
    n = flat.shape[1]
    order = np.argsort(flat, axis=1)
    # every average rank is a half-integer: score each possible one once, index by twice the rank
    ranks = np.arange(2, 2 * n + 1) / 2
    scores = stats.norm.ppf((ranks - BLOM) / (n - 2 * BLOM + 1))
    middle = np.take_along_axis(flat, order[:, n // 2 - 1 : n // 2 + 1], axis=1)
    return _scores_of_ranks(flat, order, scores).reshape(a.shape), (middle[:, 0] + middle[:, 1]) / 2


@numba.njit(cache=True)
def _scores_of_ranks(flat, order, scores):  # pragma: no cover - compiled
    """``scores[2 r - 2]`` at each draw of ``flat`` (k, n) whose average rank in its row is r;
    ``order`` sorts each row."""
    k, n = flat.shape
    z = np.empty((k, n))
    for j in range(k):
        first = 0
        while first < n:  # a run of ties: sorted positions first..last, average rank (first + last) / 2 + 1
            value = flat[j, order[j, first]]
            last = first
            while last + 1 < n and flat[j, order[j, last + 1]] == value:
                last += 1
            for p in range(first, last + 1):
                z[j, order[j, p]] = scores[first + last]
            first = last + 1
    return z


def _rhat(z: np.ndarray) -> np.ndarray:
    """Split R-hat of each row of (k, chain, draw) (ArviZ's ``_rhat``): sqrt of the pooled over the
    within-chain variance."""
    n = z.shape[2]
    between = n * z.mean(axis=2).var(axis=1, ddof=1)
    within = z.var(axis=2, ddof=1).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _ess(a: np.ndarray) -> np.ndarray:
    """ESS of each row of (k, chain, draw) (ArviZ's ``_ess``): multi-chain autocorrelations from
    FFT autocovariances, Geyer's initial monotone sequence; a constant row has ESS chain x draw."""
    _, m, n = a.shape
    acov = _mean_autocov(a)
    mean_var = acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n + a.mean(axis=2).var(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[:, None] - acov) / var_plus[:, None]
    tau = _geyer_tau(rho)
    size = m * n
    floor = 1 / np.log10(size)
    ess = size / np.where(floor > tau, floor, tau)  # max(tau, floor), nan as Python's max
    constant = a.max(axis=(1, 2)) - a.min(axis=(1, 2)) < np.finfo(float).resolution
    return np.where(constant, float(size), ess)


def _mean_autocov(a: np.ndarray) -> np.ndarray:
    """Autocovariances at lags 0..draw-1, averaged over the chains, of each row of (k, chain, draw):
    the chain mean of ``arviz.autocov`` (the same zero-padded FFT), with one inverse FFT per row."""
    n = a.shape[2]
    size = next_fast_len(2 * n)
    f = np.fft.rfft(a - a.mean(axis=2, keepdims=True), n=size, axis=2)
    power = (f.real**2 + f.imag**2).mean(axis=1)
    return np.fft.irfft(power, n=size, axis=1)[:, :n] / n


@numba.njit(cache=True)
def _geyer_tau(rho):  # pragma: no cover - compiled
    """Integrated autocorrelation time of each row of ``rho`` (k, lag), truncated by Geyer's
    initial positive sequence and made monotone (ArviZ's ``_ess`` loop, line for line); nan when
    a used autocorrelation is nan."""
    k, n = rho.shape
    tau = np.empty(k)
    rho_t = np.empty(n)
    for j in range(k):
        rho_t[:] = 0.0
        rho_even = 1.0
        rho_odd = rho[j, 1]
        rho_t[0] = rho_even
        rho_t[1] = rho_odd
        # Geyer's initial positive sequence
        t = 1
        while t < n - 3 and rho_even + rho_odd > 0.0:
            rho_even = rho[j, t + 1]
            rho_odd = rho[j, t + 2]
            if rho_even + rho_odd >= 0:
                rho_t[t + 1] = rho_even
                rho_t[t + 2] = rho_odd
            t += 2
        max_t = t - 2
        if rho_even > 0:  # improve estimation
            rho_t[max_t + 1] = rho_even
        # Geyer's initial monotone sequence
        t = 1
        while t <= max_t - 2:
            if rho_t[t + 1] + rho_t[t + 2] > rho_t[t - 1] + rho_t[t]:
                rho_t[t + 1] = (rho_t[t - 1] + rho_t[t]) / 2.0
                rho_t[t + 2] = rho_t[t + 1]
            t += 2
        tau[j] = -1.0 + 2.0 * rho_t[: max_t + 1].sum() + rho_t[max_t + 1]
        if np.isnan(rho_t).any():
            tau[j] = np.nan
    return tau


def _quantiles(x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Type-7 quantiles of each quantity's pooled draws (k, chain, draw) -> (len(probs), k), by
    the arithmetic of scipy's ``mquantiles(alphap=1, betap=1)`` that ArviZ uses."""
    pooled = x.reshape(len(x), -1)
    n = pooled.shape[1]
    aleph = n * probs + (1.0 - probs)
    idx = np.floor(aleph.clip(1, n - 1)).astype(int)
    gamma = (aleph - idx).clip(0, 1)[:, None]
    part = np.partition(pooled, np.unique(np.concatenate([idx - 1, idx])), axis=1)
    return (1.0 - gamma) * part[:, idx - 1].T + gamma * part[:, idx].T
