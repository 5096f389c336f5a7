"""Convergence diagnostics of a Bayesian fit: R-hat, bulk/tail ESS, divergences — with a verdict."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.core.mcmc_stats import rhat_ess

RHAT_MAX = 1.01
ESS_MIN = 400


@dataclass
class Verdict:
    passed: bool
    messages: list[str]


def diagnostics_table(
    idata, var_names: list[str] | None = None, model: str = "prevalence", only: dict | None = None
) -> pd.DataFrame:
    """One row per variable: worst R-hat, smallest bulk and tail ESS over its elements, divergences.

    Constant quantities (e.g. a fixed evidence scale) have no R-hat and are skipped. ``only`` maps a
    variable to a boolean mask of the elements that are judged (e.g. the cells a table publishes).
    R-hat (rank) and the ESS are ArviZ's, computed for all elements of all variables at once
    (``forecast.core.mcmc_stats``).
    """
    post = idata.posterior
    names = var_names or [v for v in post.data_vars if not v.endswith("_z")]
    rows = []
    div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    judged = {}  # the draws (chain, draw, *shape) of each variable that varies
    for name in names:
        if float(post[name].std()) != 0.0:
            judged[name] = post[name].transpose("chain", "draw", ...).to_numpy()
    sizes = [int(np.prod(x.shape[2:])) for x in judged.values()]
    if judged:  # every element of every variable at once, as (chain, draw, element)
        flat = [x.reshape(*x.shape[:2], n) for x, n in zip(judged.values(), sizes, strict=True)]
        stats = rhat_ess(np.concatenate(flat, axis=2))
    offsets = np.cumsum([0, *sizes])
    for (name, x), lo, hi in zip(judged.items(), offsets[:-1], offsets[1:], strict=True):
        rhat, ess_b, ess_t = (a[lo:hi].reshape(x.shape[2:]) for a in stats)
        if only and name in only:
            keep = np.asarray(only[name], dtype=bool)
            rhat, ess_b, ess_t = (np.where(keep, a, np.nan) for a in (rhat, ess_b, ess_t))
        varying = np.isfinite(rhat)
        if not varying.any():
            continue
        rows.append(
            {
                "model": model,
                "variable": name,
                "size": int(varying.sum()),
                "r_hat_max": float(np.nanmax(rhat)),
                "ess_bulk_min": float(np.nanmin(ess_b)),
                "ess_tail_min": float(np.nanmin(ess_t)),
                "divergences": div,
            }
        )
    t = pd.DataFrame(rows)
    t["pass"] = (
        (t.r_hat_max <= RHAT_MAX) & (t.ess_bulk_min >= ESS_MIN) & (t.ess_tail_min >= ESS_MIN) & (t.divergences == 0)
    )
    return t


def verdict(table: pd.DataFrame) -> Verdict:
    """Overall pass/fail with the reasons, in words a reader can act on."""
    msgs = []
    worst_r = table.r_hat_max.max()
    if worst_r > RHAT_MAX:
        bad = table.loc[table.r_hat_max.idxmax(), "variable"]
        msgs.append(f"R-hat {worst_r:.3f} > {RHAT_MAX} ({bad}): chains disagree; run longer or check the model")
    for col, label in (("ess_bulk_min", "bulk ESS"), ("ess_tail_min", "tail ESS")):
        low = table[col].min()
        if low < ESS_MIN:
            bad = table.loc[table[col].idxmin(), "variable"]
            msgs.append(f"{label} {low:.0f} < {ESS_MIN} ({bad}): too few effective draws; increase draws")
    div = int(table.divergences.max()) if len(table) else 0
    if div:
        msgs.append(f"{div} divergent transitions: the posterior may be biased; raise target_accept")
    return Verdict(passed=not msgs, messages=msgs)
