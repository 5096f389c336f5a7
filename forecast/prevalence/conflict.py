"""Which evidence pulls where: leave-one-out shifts and how surprising each source is to the rest.

For every piece of evidence k we need the posterior *without* k. Refitting once per source is
slow, so we reweight the full posterior draws by 1 / p(y_k | theta) with Pareto-smoothed
importance sampling (PSIS-LOO, Vehtari et al. 2024); its Pareto k says when that shortcut is
unreliable (k > 0.7), and the table says so. p(y_k | theta) is the model's own likelihood
(model.evidence_likelihood, the distributions build_model observes, written out in NumPy),
evaluated at the posterior draws of each item's model value and scale; tests/test_prevalence.py
holds it equal to PyMC's ``pm.compute_log_likelihood``.

* shift: how far the synthesis for the source's own country and year moves when k is left out
  (ratio of posterior medians, in percent).
* surprise: the LOO probability integral transform of k's figure under the rest of the evidence,
  turned into a two-sided tail probability. Below 0.05 the source is flagged as conflicting.
* expected range: the figures the rest of the evidence expects (expected_low - expected_high, in
  the figure's units); outside it the source would be flagged. Its width is how large a bias the
  table can notice at all: a lone figure of a method whose bias prior is wide (a generic norm)
  could be several times off and stay inside.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
from scipy import special

from forecast.data.vocab import REGION
from forecast.prevalence.inputs import SynthesisInputs, bound_sign, evidence_index
from forecast.prevalence.model import LOGISTIC_SCALE, evidence_rows
from forecast.prevalence.posterior import draws_of

SURPRISE_ALPHA = 0.05
PARETO_K_MAX = 0.7


def _likelihood(mu: np.ndarray, scale: np.ndarray, y: np.ndarray, sign: np.ndarray, kind: np.ndarray, nu: float):
    """The model's evidence likelihood (model.evidence_likelihood), in NumPy for many draws at once.

    (model value, scale) per draw and item, figures, bound signs and likelihood kinds ->
    (log-likelihood, CDF) per draw and item. For a point figure the CDF is P(figure <= observed);
    for a bound, the probability that it holds (its likelihood). The same formulas PyMC's
    StudentT and Bernoulli(logit_p) use (tests/test_prevalence.py holds them equal to
    ``pm.compute_log_likelihood``); written out because compiling them through PyTensor cost
    ~11 s on a machine that had never compiled them.
    """
    ll, cdf = np.zeros_like(mu), np.zeros_like(mu)
    rows = evidence_rows(kind)
    if "estimates" in rows:
        r = rows["estimates"]
        z = (y[r] - mu[:, r]) / scale[:, r]
        const = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
        ll[:, r] = const - np.log(scale[:, r]) - (nu + 1) / 2 * np.log1p(z * z / nu)
        cdf[:, r] = special.stdtr(nu, z)
    if "bounds" in rows:
        r = rows["bounds"]
        margin = sign * (mu[:, r] - y[r]) / scale[:, r]
        ll[:, r] = -np.logaddexp(0.0, -LOGISTIC_SCALE * margin)  # log P(the bound holds)
        cdf[:, r] = np.exp(ll[:, r])
    return ll, cdf


def _pointwise(idata, inputs: SynthesisInputs) -> tuple[np.ndarray, np.ndarray]:
    """(log-likelihood, CDF of the observed figure) per draw and evidence item: (sample, evidence)."""
    return _likelihood(*_draws(idata, inputs))


def _draws(idata, inputs: SynthesisInputs) -> tuple:
    """What the likelihood reads: model value and scale per draw and item, figures, bound signs,
    likelihood kinds, Student-t degrees of freedom."""
    ev = inputs.evidence
    kind = evidence_index(ev, inputs)["likelihood"]
    sign = bound_sign(ev)
    return (
        draws_of(idata, "evidence_model"),
        draws_of(idata, "evidence_scale"),
        ev.log_mu.to_numpy(float),
        sign[sign != 0],
        np.asarray(kind),
        float(inputs.config.student_t_nu),
    )


def _expected_range(mu, scale, w, kind, sign, nu, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The range of each figure (log scale) that the rest of the evidence expects: outside it, the
    figure would be flagged. (low, high) per item, nan on a side that cannot be flagged.

    One draw of the figure the model predicts per posterior draw (Student-t for a point figure, the
    hidden logistic figure for a bound), weighted by the item's LOO weights ``w`` (item, sample):
    a point figure is flagged outside the 2.5-97.5% quantiles, "at least X" above the 95% quantile,
    "at most X" below the 5% quantile. The bias a figure would need before the table notices it.
    """
    rng = np.random.default_rng(seed)
    rows = evidence_rows(kind)
    low, high = np.full(mu.shape[1], np.nan), np.full(mu.shape[1], np.nan)
    noise = np.zeros_like(mu)
    if "estimates" in rows:
        r = rows["estimates"]
        noise[:, r] = rng.standard_t(nu, size=(mu.shape[0], r.size))
    if "bounds" in rows:
        r = rows["bounds"]
        noise[:, r] = rng.logistic(0.0, 1.0 / LOGISTIC_SCALE, size=(mu.shape[0], r.size))
    v = mu + scale * noise
    q = _weighted_quantiles(v, w, (0.025, 0.975, 0.05, 0.95))
    if "estimates" in rows:
        r = rows["estimates"]
        low[r], high[r] = q[0.025][r], q[0.975][r]
    if "bounds" in rows:
        r = rows["bounds"]
        low[r] = np.where(sign < 0, q[0.05][r], np.nan)
        high[r] = np.where(sign > 0, q[0.95][r], np.nan)
    return low, high


def _weighted_quantiles(v: np.ndarray, w: np.ndarray, levels) -> dict[float, np.ndarray]:
    """The quantiles at ``levels`` of each column of v (sample, item) under the weights w (item, sample)."""
    order = np.argsort(v, axis=0)
    cw = np.cumsum(np.take_along_axis(w.T, order, axis=0), axis=0)
    out = {}
    for a in levels:
        at = (cw < a * cw[-1:]).sum(axis=0)
        out[a] = np.take_along_axis(v, np.take_along_axis(order, at[None, :], axis=0), axis=0)[0]
    return out


def conflict_table(idata, inputs: SynthesisInputs) -> pd.DataFrame:
    """One row per evidence item: its figure, the LOO shift it causes, its surprise, a flag."""
    draws = _draws(idata, inputs)
    ll, cdf = _likelihood(*draws)
    # an item the draws barely move (a cited share far from its data) has a flat tail: k is nan;
    # ArviZ's Pareto fit overflows exp() for weights it then drops as 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lw, k_hat = az.psislw(-ll.T)  # (evidence, sample)
    w = np.exp(lw)
    mu, scale, _, sign, kind, nu = draws
    low, high = np.exp(_expected_range(mu, scale, w, kind, sign, nu))
    ev = inputs.evidence
    high = np.where(ev.quantity == "share", np.minimum(high, 1.0), high)  # a share is at most 1
    log_n = draws_of(idata, "log_true")  # (sample, target, country, year)
    rows = []
    for e, r in ev.reset_index(drop=True).iterrows():
        kt = inputs.targets.index(r.target)
        j = int(r.year - inputs.years[0])
        if r.country == REGION:
            x = np.log(np.exp(log_n[:, kt, :, j]).sum(axis=1))
        else:
            x = log_n[:, kt, inputs.countries.index(r.country), j]
        full = float(np.median(x))
        loo = _weighted_median(x, w[e])
        pit = float(np.sum(w[e] * cdf[:, e]))
        tail = pit if r.bound != "point" else 2 * min(pit, 1 - pit)
        rows.append(
            {
                "evidence_id": r.evidence_id,
                "target": r.target,
                "quantity": r.quantity,
                "method": r.method,
                "group": r.group,
                "country": r.country,
                "year": int(r.year),
                "figure": _figure(r),
                "source": r.source,
                "ref": r.ref,
                "synthesis_median": float(np.exp(full)),
                "without_median": float(np.exp(loo)),
                "shift_pct": float((np.exp(full - loo) - 1) * 100),
                "tail_probability": tail,
                "expected_low": float(low[e]),
                "expected_high": float(high[e]),
                "pareto_k": float(k_hat[e]),
                "flag": _flag(tail, float(k_hat[e])),
            }
        )
    return pd.DataFrame(rows)


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    return float(_weighted_quantiles(x[:, None], w[None, :], (0.5,))[0.5][0])


def _figure(r) -> str:
    def f(v):
        return f"{v:,.4g}" if v < 100 else f"{v:,.0f}"

    if pd.notna(r.value) and pd.notna(r.low) and pd.notna(r.high) and r.low != r.high:
        return f"{f(r.value)} ({f(r.low)}-{f(r.high)})"
    if pd.notna(r.value):
        return f(r.value)
    if pd.notna(r.low) and pd.notna(r.high):
        return f"{f(r.low)}-{f(r.high)}"
    return f">= {f(r.low)}" if pd.notna(r.low) else f"<= {f(r.high)}"


def _flag(tail: float, k: float) -> str:
    parts = []
    if tail < SURPRISE_ALPHA:
        parts.append("CONFLICT: at odds with the rest of the evidence")
    if k > PARETO_K_MAX:
        parts.append("influential: the synthesis leans on this source (LOO approximate)")
    return "; ".join(parts)
