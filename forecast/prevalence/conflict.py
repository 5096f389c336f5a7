"""Which evidence pulls where: leave-one-out shifts and how surprising each source is to the rest.

For every piece of evidence k we need the posterior *without* k. Refitting once per source is
slow, so we reweight the full posterior draws by 1 / p(y_k | theta) with Pareto-smoothed
importance sampling (PSIS-LOO, Vehtari et al. 2024); its Pareto k says when that shortcut is
unreliable (k > 0.7), and the table says so. p(y_k | theta) is the model's own likelihood
(model.evidence_likelihood, the distributions build_model observes), evaluated at the posterior
draws of each item's model value and scale; tests/test_prevalence.py holds it equal to PyMC's
``pm.compute_log_likelihood``.

* shift: how far the synthesis for the source's own country and year moves when k is left out
  (ratio of posterior medians, in percent).
* surprise: the LOO probability integral transform of k's figure under the rest of the evidence,
  turned into a two-sided tail probability. Below 0.05 the source is flagged as conflicting.
"""

from __future__ import annotations

import functools

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt

from forecast.data.vocab import REGION
from forecast.prevalence.inputs import SynthesisInputs, bound_sign, evidence_index
from forecast.prevalence.model import evidence_likelihood
from forecast.prevalence.posterior import draws_of

SURPRISE_ALPHA = 0.05
PARETO_K_MAX = 0.7


@functools.cache
def _likelihood_function(kind: tuple[int, ...], nu: float):
    """The model's own evidence likelihood, compiled for many draws at once.

    (model value, scale) per draw and item, figures and bound signs -> (log-likelihood, CDF) per
    draw and item. For a point figure the CDF is P(figure <= observed); for a bound, the
    probability that it holds (its likelihood). Cached per evidence layout: simulation checks
    refit one layout many times.
    """
    mu, scale = pt.matrix("evidence_model"), pt.matrix("evidence_scale")
    y, sign = pt.vector("evidence_log_mu"), pt.vector("evidence_bound_sign")
    ll, cdf = pt.zeros_like(mu), pt.zeros_like(mu)
    # float64 constants: by default PyTensor stores a Python float such as the 2.0 in PyMC's normal
    # CDF as float32 where that is exact, and its square root then loses digits
    with pytensor.config.change_flags(cast_policy="numpy+floatX"):
        for name, (rows, dist, observed) in evidence_likelihood(mu, scale, y, sign, np.array(kind), nu).items():
            logp = pm.logp(dist, observed)
            ll = pt.set_subtensor(ll[:, rows], logp)
            cdf = pt.set_subtensor(cdf[:, rows], pt.exp(logp if name == "bounds" else pm.logcdf(dist, observed)))
    return pytensor.function([mu, scale, y, sign], [ll, cdf], on_unused_input="ignore")


def _pointwise(idata, inputs: SynthesisInputs) -> tuple[np.ndarray, np.ndarray]:
    """(log-likelihood, CDF of the observed figure) per draw and evidence item: (sample, evidence)."""
    ev = inputs.evidence
    kind = evidence_index(ev, inputs)["likelihood"]
    sign = bound_sign(ev)
    f = _likelihood_function(tuple(int(k) for k in kind), float(inputs.config.student_t_nu))
    return f(
        draws_of(idata, "evidence_model"),
        draws_of(idata, "evidence_scale"),
        ev.log_mu.to_numpy(float),
        sign[sign != 0],
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
