"""Which evidence pulls where: leave-one-out shifts and how surprising each source is to the rest.

For every piece of evidence k we need the posterior *without* k. Refitting once per source is
slow, so we reweight the full posterior draws by 1 / p(y_k | theta) with Pareto-smoothed
importance sampling (PSIS-LOO, Vehtari et al. 2024); its Pareto k says when that shortcut is
unreliable (k > 0.7), and the table says so.

* shift: how far the synthesis for the source's own country and year moves when k is left out
  (ratio of posterior medians, in percent).
* surprise: the LOO probability integral transform of k's figure under the rest of the evidence,
  turned into a two-sided tail probability. Below 0.05 the source is flagged as conflicting.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
from scipy import stats

from forecast.prevalence.evidence import REGION
from forecast.prevalence.synthesis import LOGISTIC_SCALE, SynthesisInputs, draws_of

SURPRISE_ALPHA = 0.05
PARETO_K_MAX = 0.7


def _pointwise(idata, inputs: SynthesisInputs) -> tuple[np.ndarray, np.ndarray]:
    """(log-likelihood, CDF of the observed figure) per draw and evidence item: (sample, evidence)."""
    mu = idata.posterior["evidence_model"].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
    sd = idata.posterior["evidence_scale"].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
    ev = inputs.evidence
    y = ev.log_mu.to_numpy()[None, :]
    z = (y - mu) / sd
    is_reg = ev.quantity.isin(["register", "treated"]).to_numpy()[None, :]
    nu = inputs.config.student_t_nu
    ll = np.where(is_reg, stats.norm.logpdf(z) - np.log(sd), stats.t.logpdf(z, nu) - np.log(sd))
    cdf = np.where(is_reg, stats.norm.cdf(z), stats.t.cdf(z, nu))
    for code, sign in (("lower", 1.0), ("upper", -1.0)):
        b = (ev.bound == code).to_numpy()[None, :]
        margin = sign * (-z)  # standardised distance of the model beyond the bound
        ll = np.where(b, -np.logaddexp(0, -LOGISTIC_SCALE * margin), ll)
        # for a bound, "cdf" is the probability the bound holds; surprise when it is small
        cdf = np.where(b, 1 / (1 + np.exp(-LOGISTIC_SCALE * margin)), cdf)
    return ll, cdf


def conflict_table(idata, inputs: SynthesisInputs) -> pd.DataFrame:
    """One row per evidence item: its figure, the LOO shift it causes, its surprise, a flag."""
    ll, cdf = _pointwise(idata, inputs)
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
