"""Scoring the previous forecast on the new figures inside its horizon, from its draws.

Every score is computed from the forecast's stored draws (forecast_draws.parquet, see
``forecast.scenarios.draws``), never from a distribution rebuilt from forecasts.csv's quantiles:
a figure's PIT and CRPS are those of the draws (``forecast.evaluation.scoring``); its log density
and a series' joint log density over all the years it has new figures (``path_scores``) come from
one likelihood definition, ``log_density``: a Gaussian on the log1p scale fitted robustly to the
draws (median, interquartile range, rank correlation between years), so that the paths' own
year-to-year dependence is scored, and a far tail of a few draws cannot decide a weight.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, stats

from forecast.calibration.diff import OBS_MATCH, SERIES_YEAR
from forecast.calibration.weights import indicator_family
from forecast.evaluation.scoring import band_of, crps_from_samples, pit

QUANTILE_COLUMNS = ["lo_95", "lo_80", "median", "hi_80", "hi_95"]
IQR_PER_SD = 1.349  # the interquartile range of a normal distribution, in standard deviations
#: the least log-scale sd a forecast year gets: a flat forecast (all draws equal) is not a point mass
MIN_LOG_SD = 0.01
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
#: path_scores.csv: one row per scored series x scenario: the joint log density of its new figures
PATH_COLUMNS = ["country", "indicator", "family", "scenario", "years", "figures", "log_lik", "log_lik_by_year"]


def log_density(draws: np.ndarray, y) -> float:
    """Log density of the path ``y`` (k years, in the figures' own units) under ``draws`` (n x k).

    A Gaussian on z = log1p(x): centre the draws' median, scale their interquartile range / 1.349
    (at least ``MIN_LOG_SD``), correlation between years from their rank correlation
    (Spearman's rho -> 2 sin(pi rho / 6), exact for Gaussian draws). The log1p Jacobian makes it a
    density in the figures' units, so scenarios are compared on the same scale."""
    z = np.log1p(np.asarray(draws, dtype=float).reshape(len(draws), -1))
    t = np.log1p(np.atleast_1d(np.asarray(y, dtype=float)))
    centre = np.median(z, axis=0)
    q25, q75 = np.quantile(z, [0.25, 0.75], axis=0)
    sd = np.maximum((q75 - q25) / IQR_PER_SD, MIN_LOG_SD)
    k = z.shape[1]
    corr = np.eye(k)
    if k > 1:
        corr = 2 * np.sin(np.pi * _rank_correlation(z) / 6)
        np.fill_diagonal(corr, 1.0)
        corr = _nearest_correlation(corr)
    cov = corr * np.outer(sd, sd)
    return float(stats.multivariate_normal.logpdf(t, centre, cov, allow_singular=False) - t.sum())


def _rank_correlation(z: np.ndarray) -> np.ndarray:
    """Spearman's rho between the columns of ``z``; a constant column is uncorrelated with the rest."""
    r = stats.rankdata(z, axis=0)
    r = r - r.mean(axis=0)
    norm = np.sqrt((r**2).sum(axis=0))
    varies = norm > 0
    r[:, varies] /= norm[varies]
    rho = r.T @ r
    rho[~varies, :] = 0.0
    rho[:, ~varies] = 0.0
    return rho


def _nearest_correlation(c: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """A correlation matrix made positive definite (eigenvalues floored, unit diagonal restored)."""
    w, v = linalg.eigh(c)
    c = (v * np.maximum(w, floor)) @ v.T
    d = np.sqrt(np.diag(c))
    return c / np.outer(d, d)


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


def score_figures(changes: pd.DataFrame, forecasts: pd.DataFrame, draws: dict) -> pd.DataFrame:
    """One row per scored figure x scenario: band, PIT, CRPS, log density (SCORE_COLUMNS).

    ``draws``: (country, indicator, scenario) -> (years, draws x years), ``draws.path_matrices``;
    the band is forecasts.csv's (what was published), every score is the draws'."""
    todo = changes[changes.scored.str.startswith("scored")]
    if todo.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    f = forecasts.merge(todo[[*SERIES_YEAR, "value", "source"]], on=SERIES_YEAR, how="inner")
    f = f.dropna(subset=QUANTILE_COLUMNS)
    first = forecasts.groupby(["country", "indicator", "scenario"]).year.min().rename("first_year")
    f = f.join(first, on=["country", "indicator", "scenario"])
    rows = []
    for r in f.itertuples(index=False):
        paths = _year_draws(draws, r.country, r.indicator, r.scenario, int(r.year))
        if paths is None:
            continue
        y = float(r.value)
        crps = float(crps_from_samples(paths, y))
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
                "pit": float(pit(paths, y)),
                "crps": crps,
                "crps_rel": crps / r.median if r.median > 0 else np.nan,
                "log_density": log_density(paths[:, None], y),
            }
        )
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def _year_draws(draws: dict, country: str, indicator: str, scenario: str, year: int) -> np.ndarray | None:
    hit = draws.get((country, indicator, scenario))
    if hit is None or year not in hit[0]:
        return None
    years, m = hit
    return m[:, int(np.flatnonzero(years == year)[0])]


def path_scores(scores: pd.DataFrame, draws: dict) -> pd.DataFrame:
    """One row per series x scenario with scored figures: the joint log density of all its scored
    years under the series' draws (``log_density`` of the path), beside the sum of the years' own
    (``log_lik_by_year``, what treating the years as independent would give)."""
    rows = []
    for (country, indicator, scenario), g in scores.groupby(["country", "indicator", "scenario"], sort=True):
        years, m = draws[(country, indicator, scenario)]
        g = g.sort_values("year")
        cols = [int(np.flatnonzero(years == y)[0]) for y in g.year]
        rows.append(
            {
                "country": country,
                "indicator": indicator,
                "family": indicator_family(indicator),
                "scenario": scenario,
                "years": " ".join(str(int(y)) for y in g.year),
                "figures": len(g),
                "log_lik": log_density(m[:, cols], g.value.to_numpy(float)),
                "log_lik_by_year": float(g.log_density.sum()),
            }
        )
    return pd.DataFrame(rows, columns=PATH_COLUMNS)
