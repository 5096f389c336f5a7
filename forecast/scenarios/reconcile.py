"""Central Asia totals that agree with the countries: bottom-up reconciliation of the paths.

Where the region's figures are the sum of the five countries' (the source adds them up: Central
Asia heroin 2006 = 3,651.2 kg = the five countries' 2006 figures), the region's forecast paths are
the sum of the countries' paths, draw by draw — each draw index already shares the scenario's
drawn rate across the countries (``paths.rate_key``), so the total carries it once, and the same
quantile of every country's innovation spread (``paths.couple``), so that the total's median tells
the countries' story instead of being lifted by independent right tails. Where the
region has its own series but the countries' do not add up to it or are missing, the region keeps
its own forecast and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.vocab import MODEL_COUNTRIES, REGION

#: the region's figure and the countries' sum agree within rounding
SUM_TOLERANCE = 0.005


@dataclass
class SeriesForecast:
    """One series' forecast: the scenarios' paths over the reported years, and what the rows say."""

    country: str
    indicator: str
    years: np.ndarray
    paths: dict[str, np.ndarray]  # scenario -> (draws, len(years))
    model: str
    n_obs: float
    last_year: int
    last_value: float
    volatility: float
    note: str = ""  # appended to every scenario's assumption


def sums_to_region(history: pd.DataFrame, indicator: str) -> tuple[bool, str]:
    """Is the region's latest figure the sum of the five countries' figures for that year? (and why not)"""
    h = history[history.indicator == indicator]
    region = h[h.country == REGION]
    if region.empty:
        return False, "no region series"
    year = int(region.year.max())
    value = float(region.loc[region.year == year, "value"].iloc[0])
    countries = h[(h.year == year) & h.country.isin(MODEL_COUNTRIES)]
    missing = [c for c in MODEL_COUNTRIES if c not in set(countries.country)]
    if missing:
        return False, f"no {year} figure for {', '.join(missing)}"
    total = float(countries.value.sum())
    if abs(total - value) > SUM_TOLERANCE * max(value, 1.0):
        return False, f"the countries' {year} figures add up to {total:,.0f}, not {value:,.0f}"
    return True, ""


def reconcile_regions(
    series: dict[tuple[str, str], SeriesForecast], history: pd.DataFrame, scenario_names: list[str]
) -> None:
    """Replace, in place, each region forecast by the sum of the countries' paths where it is their sum;
    otherwise keep the region's own and say why in its note."""
    for (country, indicator), region in series.items():
        if country != REGION:
            continue
        adds_up, why = sums_to_region(history, indicator)
        parts = [series.get((c, indicator)) for c in MODEL_COUNTRIES]
        absent = [c for c, p in zip(MODEL_COUNTRIES, parts, strict=True) if p is None]
        if adds_up and absent:
            why = f"no forecast for {', '.join(absent)} (too few or too old figures)"
        elif adds_up and not all(set(region.years) <= set(p.years) for p in parts):
            why = "the countries' forecasts cover other years"
        if why:
            region.note = f"; the region's own series, not the sum of the countries: {why}"
            continue
        region.paths = {
            s: np.sum([p.paths[s][:, np.isin(p.years, region.years)] for p in parts], axis=0) for s in scenario_names
        }
        region.model = "sum of the five countries' forecasts, draw by draw"
        region.volatility = float("nan")
        region.note = "; Central Asia = the sum of the five countries' paths, draw by draw"
