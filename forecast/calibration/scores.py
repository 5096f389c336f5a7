"""Scoring the previous forecast on the new figures inside its horizon: band, PIT, CRPS, log density.

A forecasts.csv row gives the 2.5/10/50/90/97.5% quantiles, not draws. The forecast distribution
is rebuilt as a monotone CDF through those quantiles on the log1p scale, with normal tails fitted
to the outer quantiles (``QuantileForecast``); PIT and the density follow from its CDF, and its
CRPS is the project's one CRPS (``forecast.evaluation.scoring.crps_from_quantiles``) on its
quantile function at ``CRPS_LEVELS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from forecast.calibration.diff import OBS_MATCH, SERIES_YEAR
from forecast.evaluation.scoring import band_of, crps_from_quantiles

LEVELS = np.array([0.025, 0.1, 0.5, 0.9, 0.975])
QUANTILE_COLUMNS = ["lo_95", "lo_80", "median", "hi_80", "hi_95"]
#: 1,000 evenly spread quantile levels (0.0005 ... 0.9995): twice the mean pinball loss over them is
#: the CRPS to within 3e-5 relative (against adaptive quadrature of its definition, in
#: tests/test_calibrate.py), far below the differences between scenarios
CRPS_LEVELS = (np.arange(1000) + 0.5) / 1000
#: calibration.csv: one row per scored figure x scenario of the previous forecast
SCORE_COLUMNS = [
    "country",
    "indicator",
    "year",
    "value",
    "source",
    "scenario",
    "horizon",
    "median",
    "lo_80",
    "hi_80",
    "lo_95",
    "hi_95",
    "band",
    "pit",
    "crps",
    "crps_rel",
    "log_density",
]

_PROBIT = stats.norm.ppf(LEVELS)  # the quantile levels on the standard-normal scale


@dataclass(frozen=True)
class QuantileForecast:
    """A forecast distribution rebuilt from its 2.5/10/50/90/97.5% quantiles.

    On z = log1p(x) the probit of the CDF, u(z) = Phi^-1(F(z)), is taken as piecewise linear
    through the five quantiles and extended linearly beyond the outer ones. So F is monotone and
    passes through every quantile, the density peaks around the median (a flat density between
    quantiles would not reward being near it), each segment is a piece of a normal curve (exactly
    normal when the quantiles are), and the tails are the normals fitted to the two outer
    quantiles on each side.
    """

    knots: np.ndarray  # log1p of the quantiles, strictly increasing

    @classmethod
    def from_quantiles(cls, q) -> QuantileForecast:
        z = np.log1p(np.maximum(np.asarray(q, dtype=float), 0.0))
        for i in range(1, len(z)):  # equal quantiles (a flat forecast) get a sliver of width
            z[i] = max(z[i], z[i - 1] + 1e-6 * (1 + abs(z[i - 1])))
        return cls(z)

    @property
    def _slopes(self) -> np.ndarray:
        return np.diff(_PROBIT) / np.diff(self.knots)

    def _probit(self, z) -> tuple[np.ndarray, np.ndarray]:
        """u(z) and du/dz."""
        z = np.asarray(z, dtype=float)
        k, slopes = self.knots, self._slopes
        seg = np.clip(np.searchsorted(k, z, side="right") - 1, 0, len(k) - 2)
        return _PROBIT[seg] + (z - k[seg]) * slopes[seg], slopes[seg]

    def cdf(self, x) -> np.ndarray:
        return stats.norm.cdf(self._probit(np.log1p(np.asarray(x, dtype=float)))[0])

    def ppf(self, p) -> np.ndarray:
        """The quantile function, the inverse of ``cdf`` (the same piecewise-linear probit, inverted)."""
        u = stats.norm.ppf(np.asarray(p, dtype=float))
        k, slopes = self.knots, self._slopes
        seg = np.clip(np.searchsorted(_PROBIT, u, side="right") - 1, 0, len(k) - 2)
        return np.expm1(k[seg] + (u - _PROBIT[seg]) / slopes[seg])

    def pit(self, y: float) -> float:
        return float(self.cdf(y))

    def logpdf(self, y: float) -> float:
        """Log density at ``y`` in the figure's own units (log1p Jacobian included)."""
        z = math.log1p(y)
        u, slope = self._probit(z)
        return float(stats.norm.logpdf(u) + np.log(slope) - z)  # dz/dx = 1 / (1 + x)

    def crps(self, y: float) -> float:
        """CRPS in the figure's units: the project's pinball-loss CRPS on this distribution's quantiles."""
        return float(crps_from_quantiles(self.ppf(CRPS_LEVELS), CRPS_LEVELS, y))


def scoring_status(changes: pd.DataFrame, forecasts: pd.DataFrame) -> pd.DataFrame:
    """Fill the ``scored`` column: why each new or revised observation is (not) scored."""
    changes = changes.copy()
    if changes.empty:
        return changes
    spans = forecasts.groupby(["country", "indicator"]).agg(first=("year", "min"), last=("year", "max"))
    is_obs = changes.table == "observations"
    changes.loc[~is_obs, "scored"] = "evidence for the synthesis"
    changes.loc[is_obs & (changes.status == "restated"), "scored"] = ""
    cand = changes[is_obs & (changes.status != "restated")]
    # one figure per series and year is scored: the official one when both kinds come
    pick = cand.assign(_rank=(cand.kind != "official").astype(int)).sort_values("_rank")
    chosen = set(pick.drop_duplicates(OBS_MATCH).index)
    for i, r in cand.iterrows():
        key = (r.country, r.indicator)
        part = [x for x in (r.get("period", ""), r.get("scope", "")) if isinstance(x, str) and x]
        if part:
            why = f"kept, not scored: not an annual national figure ({'; '.join(part)})"
        elif key not in spans.index:
            why = "new data: no previous forecast for this series"
        elif r.year < spans.loc[key, "first"]:
            why = "new data: inside the series' past years"
        elif r.year > spans.loc[key, "last"]:
            why = f"new data: beyond the forecast horizon (ran to {spans.loc[key, 'last']})"
        elif pd.isna(r.value):
            why = "not scored: a range without a central value"
        elif i not in chosen:
            why = "not scored: the official figure for that year is scored"
        else:
            why = f"scored ({r.year - spans.loc[key, 'first'] + 1} y ahead)"
        changes.at[i, "scored"] = why
    return changes


def score_figures(changes: pd.DataFrame, forecasts: pd.DataFrame) -> pd.DataFrame:
    """One row per scored figure x scenario: band, PIT, CRPS, log density (SCORE_COLUMNS)."""
    todo = changes[changes.scored.str.startswith("scored")]
    if todo.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    f = forecasts.merge(todo[[*SERIES_YEAR, "value", "source"]], on=SERIES_YEAR, how="inner")
    f = f.dropna(subset=QUANTILE_COLUMNS)
    first = forecasts.groupby(["country", "indicator", "scenario"]).year.min().rename("first_year")
    f = f.join(first, on=["country", "indicator", "scenario"])
    rows = []
    for r in f.itertuples(index=False):
        dist = QuantileForecast.from_quantiles([getattr(r, c) for c in QUANTILE_COLUMNS])
        y = float(r.value)
        crps = dist.crps(y)
        rows.append(
            {
                "country": r.country,
                "indicator": r.indicator,
                "year": int(r.year),
                "value": y,
                "source": r.source,
                "scenario": r.scenario,
                "horizon": int(r.year - r.first_year + 1),
                "median": r.median,
                "lo_80": r.lo_80,
                "hi_80": r.hi_80,
                "lo_95": r.lo_95,
                "hi_95": r.hi_95,
                "band": band_of(y, r),
                "pit": dist.pit(y),
                "crps": crps,
                "crps_rel": crps / r.median if r.median > 0 else np.nan,
                "log_density": dist.logpdf(y),
            }
        )
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
