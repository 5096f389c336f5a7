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
    ev = inputs.evidence
    kind = evidence_index(ev, inputs)["likelihood"]
    sign = bound_sign(ev)
    return _likelihood(
        draws_of(idata, "evidence_model"),
        draws_of(idata, "evidence_scale"),
        ev.log_mu.to_numpy(float),
        sign[sign != 0],
        np.asarray(kind),
        float(inputs.config.student_t_nu),
    )


def conflict_table(idata, inputs: SynthesisInputs) -> pd.DataFrame:
    """One row per evidence item: its figure, the LOO shift it causes, its surprise, a flag."""
    ll, cdf = _pointwise(idata, inputs)
    with np.errstate(divide="ignore", invalid="ignore"):
        # an item the draws barely move (a cited share far from its data) has a flat tail: k is nan
        lw, k_hat = az.psislw(-ll.T)  # (evidence, sample)
    w = np.exp(lw)
    ev = inputs.evidence
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
                "pareto_k": float(k_hat[e]),
                "flag": _flag(tail, float(k_hat[e])),
            }
        )
    return pd.DataFrame(rows)


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, 0.5 * cw[-1])])


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
