"""What the evidence says about each estimation method's bias: its prior beside its posterior.

Every figure of one method (field sampling, rapid assessment, expert judgement, a generic norm, ...)
shares one bias, log(figure / truth), with a cited prior in models/prevalence.toml
([evidence.method_bias]). The posterior says where the data put it, as a factor: "figures of this
method run at 2.1 (0.9-4.8) times the truth". ``narrowed`` is the posterior sd over the prior sd:
near 1, the data say nothing about the method (a lone figure: its bias and the truth cannot be told
apart); well below 1, the rest of the evidence pins it.

A method is flagged when the posterior median of its bias lies in the outer 5% of its prior
(two-sided): its figures sit further from the rest of the evidence than the literature's spread of
that method allows, which is what a planted bias on a method with peers looks like
(benchmarks/sbc.py). Item-level conflicts are in conflict.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from forecast.prevalence.inputs import SynthesisInputs
from forecast.prevalence.posterior import draws_of

METHOD_ALPHA = 0.05
Z90 = stats.norm.ppf(0.95)
COLUMNS = [
    "method",
    "figures",
    "countries",
    "prior_factor",
    "prior_lo_90",
    "prior_hi_90",
    "factor",
    "lo_90",
    "hi_90",
    "narrowed",
    "prior_tail_probability",
    "flag",
]


def method_bias_table(idata, inputs: SynthesisInputs) -> pd.DataFrame:
    """One row per method with a bias term: its figures, prior and posterior factor, a flag."""
    if not inputs.methods or "method_bias" not in idata.posterior:
        return pd.DataFrame(columns=COLUMNS)
    draws = draws_of(idata, "method_bias")  # (sample, method)
    ev = inputs.evidence
    rows = []
    for j, method in enumerate(inputs.methods):
        mean, sd = inputs.config.method_bias[method]
        b = draws[:, j]
        median = float(np.median(b))
        tail = float(2 * stats.norm.sf(abs(median - mean) / sd))
        mine = ev[ev.method == method]
        rows.append(
            {
                "method": method,
                "figures": len(mine),
                "countries": ", ".join(sorted(mine.country.unique())),
                "prior_factor": float(np.exp(mean)),
                "prior_lo_90": float(np.exp(mean - Z90 * sd)),
                "prior_hi_90": float(np.exp(mean + Z90 * sd)),
                "factor": float(np.exp(median)),
                "lo_90": float(np.exp(np.quantile(b, 0.05))),
                "hi_90": float(np.exp(np.quantile(b, 0.95))),
                "narrowed": float(np.std(b) / sd),
                "prior_tail_probability": tail,
                "flag": _flag(tail, median > mean),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _flag(tail: float, high: bool) -> str:
    if tail >= METHOD_ALPHA:
        return ""
    side = "above" if high else "below"
    return f"CONFLICT: its figures run further {side} the rest of the evidence than its prior allows"
