"""Tables of the synthesis' posterior: the true counts (estimates.csv rows) and the share the register catches."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.core.bands import band_summary
from forecast.data.vocab import REGION
from forecast.prevalence.inputs import SynthesisInputs


def draws_of(idata, name: str) -> np.ndarray:
    """Posterior draws of a variable as (sample, ...): chains and draws stacked on the first axis."""
    x = idata.posterior[name]
    return x.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()


def target_years(inputs: SynthesisInputs, target: str) -> np.ndarray:
    """Years reported for a target: from its first evidence year to the end of the grid."""
    first = int(inputs.evidence.loc[inputs.evidence.target == target, "year"].min())
    return inputs.years[inputs.years >= first]


def reported_mask(inputs: SynthesisInputs) -> np.ndarray:
    """Boolean (target, country, year): the cells estimates.csv reports (see ``target_years``)."""
    mask = np.zeros((len(inputs.targets), len(inputs.countries), len(inputs.years)), dtype=bool)
    for k, target in enumerate(inputs.targets):
        mask[k, :, np.isin(inputs.years, target_years(inputs, target))] = True
    return mask


def synthesis_estimates(idata, inputs: SynthesisInputs) -> pd.DataFrame:
    """estimates.csv rows (method = synthesis) for every country, target and reported year; rates
    per 100,000 of the whole population and per 1,000 of those aged 15-64 (the population times
    models/prevalence.toml's ``adult_share_15_64``: the data hold no age structure)."""
    rows = []
    pop = inputs.population.set_index("country").population
    adults = inputs.config.adult_share
    draws = np.exp(draws_of(idata, "log_true"))
    places = [(c, draws[:, :, i, :], pop[c]) for i, c in enumerate(inputs.countries)]
    places.append((REGION, draws.sum(axis=2), pop.sum()))
    for k, target in enumerate(inputs.targets):
        for y in target_years(inputs, target):
            j = int(y - inputs.years[0])
            for place, d, p in places:
                s = {name: float(v) for name, v in band_summary(d[:, k, j]).items()}
                rows.append(
                    {
                        "country": place,
                        "target": target,
                        "year": int(y),
                        "method": "synthesis",
                        **s,
                        "per_100k_median": s["median"] / p * 1e5,
                        "per_100k_lo_95": s["lo_95"] / p * 1e5,
                        "per_100k_hi_95": s["hi_95"] / p * 1e5,
                        "pct_population_median": s["median"] / p * 100,
                        **{f"per_1000_15_64_{q}": s[q] / (p * adults) * 1e3 for q in ("median", "lo_80", "hi_80")},
                    }
                )
    return pd.DataFrame(rows)


def detection_table(idata, inputs: SynthesisInputs) -> pd.DataFrame:
    """Posterior share caught: for users the share on the drug register (register coverage), for
    PLHIV the share diagnosed (living diagnosed / living with HIV); and its inverse, the multiple."""
    rows = []
    d = np.exp(draws_of(idata, "log_detection"))
    for k, target in enumerate(inputs.targets):
        for y in target_years(inputs, target):
            j = int(y - inputs.years[0])
            for i, c in enumerate(inputs.countries):
                m = 1 / d[:, k, i, j]
                q = np.quantile(m, [0.5, 0.025, 0.975])
                rows.append(
                    {
                        "country": c,
                        "target": target,
                        "year": int(y),
                        "detection_median": float(np.median(d[:, k, i, j])),
                        "multiple_median": q[0],
                        "multiple_lo_95": q[1],
                        "multiple_hi_95": q[2],
                    }
                )
    return pd.DataFrame(rows)
