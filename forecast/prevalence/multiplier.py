"""The multiplier method: true count = registered count x multiplier, with the multiplier's own
uncertainty (log-normal from its stated range), one estimate per piece of multiplier evidence.

This is what the sources themselves do (12 x 6,243 ~ 75,000); the synthesis puts all of them
together. Showing both side by side is the sensitivity table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from forecast.data import vocab
from forecast.data.dataset import Dataset, annual_series
from forecast.data.vocab import REGION
from forecast.prevalence.config import PrevalenceConfig
from forecast.prevalence.evidence import log_spread

REGISTER = {"users": "registered_users", "plhiv": "registered_hiv_cumulative"}
MAX_YEAR_GAP = 2
Z80, Z95 = stats.norm.ppf(0.9), stats.norm.ppf(0.975)


def _register(ds: Dataset, target: str, country: str, year: int) -> tuple[float, int, str] | None:
    """The register count the multiplier applies to: same year, else the nearest within 2 years."""
    obs = annual_series(ds.observations)
    reg = obs[(obs.indicator == REGISTER[target]) & obs.value.notna()]
    if country == REGION:
        own = reg[reg.country == REGION]
        if own.empty:  # sum the countries, in a year where at least four report
            per_year = reg[reg.country.isin(vocab.MODEL_COUNTRIES)].groupby("year")
            sums = {y: (g.drop_duplicates("country").value.sum(), len(g.country.unique())) for y, g in per_year}
            ok = {y: s for y, (s, n) in sums.items() if n >= 4}
            if not ok:
                return None
            y = min(ok, key=lambda y: abs(y - year))
            return (ok[y], int(y), "sum of country registers") if abs(y - year) <= MAX_YEAR_GAP else None
        reg = own
    else:
        reg = reg[reg.country == country]
    if reg.empty:
        return None
    reg = reg.assign(gap=(reg.year - year).abs()).sort_values(["gap", "year"])
    best = reg.iloc[0]
    if best.gap > MAX_YEAR_GAP:
        return None
    return float(best.value), int(best.year), str(best.ref)


def multiplier_estimates(ds: Dataset, cfg: PrevalenceConfig) -> pd.DataFrame:
    """estimates.csv rows with method ``multiplier:<id>``, for every users/plhiv multiplier."""
    rows = []
    for _, m in ds.multipliers[ds.multipliers.target.isin(REGISTER)].iterrows():
        reg = _register(ds, m.target, m.country, int(m.year))
        if reg is None:
            continue
        count, reg_year, reg_ref = reg
        bound, mu, sd = log_spread(m.value, m.low, m.high, cfg, cfg.point_log_sd)
        centre = np.log(count) + mu
        rows.append(
            {
                "country": m.country,
                "target": m.target,
                "year": reg_year,
                "method": f"multiplier:{m.id}",
                "mean": float(np.exp(centre + sd**2 / 2)),
                "median": float(np.exp(centre)),
                "lo_80": float(np.exp(centre - Z80 * sd)),
                "hi_80": float(np.exp(centre + Z80 * sd)),
                "lo_95": float(np.exp(centre - Z95 * sd)),
                "hi_95": float(np.exp(centre + Z95 * sd)),
                "multiplier": m.value if pd.notna(m.value) else np.exp(mu),
                "registered": count,
                "bound": bound,
                "evidence_method": m.method,
                "source": m.source,
            }
        )
    return pd.DataFrame(rows)
