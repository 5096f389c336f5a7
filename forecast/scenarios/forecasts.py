"""Scenario forecasts, 1-5 years, for every series with data.

For each (country, indicator) the fitted model gives a distribution of future paths (samples).
A scenario then either keeps it ("follow the model") or replaces its trend by the scenario's
growth range: each path draws one yearly rate uniformly from the range and keeps it, and the
model's own spread around its median is laid over that path. So the band carries both the
scenario's range and the model's uncertainty.

Series with fewer than 3 observed years cannot support a trend model: they get a random walk
whose yearly log-scale volatility is pooled from the longer series of the dataset (stated in the
``model`` column), so scenarios still apply, with honest width.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from forecast.core.bands import band_frame
from forecast.data.dataset import Dataset, annual_series
from forecast.scenarios.definitions import Scenario
from forecast.timeseries import MIN_POINTS, fit_forecast

#: Indicators forecast when they have data (counts and amounts, not shares or period totals).
FORECAST_INDICATORS = (
    "drug_crimes",
    "trafficking_crimes",
    "possession_crimes",
    "registered_users",
    "registered_hiv_cumulative",
    "registered_hiv_new",
    "seizures_heroin_kg",
    "seizures_opium_kg",
    "seizures_opiates_kg",
    "seizures_cannabis_kg",
    "seizures_hashish_kg",
    "seizures_marijuana_kg",
    "seizures_total_kg",
)
TRUE_INDICATORS = {"users": "true_users", "plhiv": "true_plhiv"}
FORECAST_COLUMNS = [
    "country",
    "indicator",
    "scenario",
    "year",
    "mean",
    "median",
    "lo_80",
    "hi_80",
    "lo_95",
    "hi_95",
    "model",
    "n_obs",
    "last_year",
    "last_value",
    "assumption",
    "basis",
]
N_SAMPLES = 2000
#: a series whose last figure is older than this many years before the vintage's as-of year is not forecast
MAX_STALE_YEARS = 5
MIN_POOLED_SIGMA = 0.15  # a floor: two points say nothing about volatility
FALLBACK_SIGMA = 0.5  # too few steps to pool: deliberately wide rather than a guess that is too narrow


def series_table(ds: Dataset) -> pd.DataFrame:
    """history: country, indicator, year, value, source — one figure per year.

    Official figures come before estimates; where two sources give the same year, the source with
    more figures in the series wins (so a series is spliced from as few sources as possible, and
    the recorded conflicts say where they disagree)."""
    obs = annual_series(ds.observations)
    obs = obs[obs.indicator.isin(FORECAST_INDICATORS) & obs.value.notna()]
    out = []
    for _, g in obs.groupby(["country", "indicator"], sort=True):
        size = g.groupby("source").year.nunique()
        g = g.assign(_estimate=(g.kind != "official").astype(int), _size=-g.source.map(size))
        best = g.sort_values(["year", "_estimate", "_size", "source"]).drop_duplicates("year", keep="first")
        out.append(best[["country", "indicator", "year", "value", "source"]])
    cols = ["country", "indicator", "year", "value", "source"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def family(indicator: str) -> str:
    """Seizures swing far more from year to year than registers and crime counts."""
    return "seizures" if indicator.startswith("seizures_") else "counts"


def pooled_sigmas(history: pd.DataFrame) -> dict[str, float]:
    """Pooled yearly log-scale volatility per indicator family (all series if a family has < 3 steps)."""
    overall = pooled_sigma(history)
    fam = history.indicator.map(family)
    return {f: pooled_sigma(history[fam == f]) if (fam == f).any() else overall for f in ("seizures", "counts")}


def pooled_sigma(history: pd.DataFrame) -> float:
    """Typical yearly change on the log scale, pooled over series with >= 3 points (robust)."""
    steps = []
    for _, g in history.groupby(["country", "indicator"]):
        if len(g) < MIN_POINTS:
            continue
        y = np.log1p(g.value.to_numpy(float))
        dt = np.diff(g.year.to_numpy(float))
        steps.extend(np.diff(y) / np.sqrt(dt))
    if len(steps) < 3:
        return FALLBACK_SIGMA
    mad = np.median(np.abs(np.asarray(steps) - np.median(steps))) * 1.4826
    return float(max(mad, MIN_POOLED_SIGMA))


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def base_samples(series: pd.Series, horizon: int, sigma: float, seed: int, key: str) -> tuple[np.ndarray, str]:
    """Model paths (n, horizon) for one observed series, and the model's name."""
    if series.notna().sum() >= MIN_POINTS:
        stream = int(_rng(seed, key).integers(2**31))
        fs = fit_forecast(series, horizon, model="combined", n_samples=N_SAMPLES, seed=stream)
        return fs.samples, "combined (ETS damped, ARIMA, log-linear, Bayesian LLT)"
    last = float(series.dropna().iloc[-1])
    steps = _rng(seed, key, "naive").normal(0, sigma, size=(N_SAMPLES, horizon))
    paths = np.log1p(last) + np.cumsum(steps, axis=1)
    n = int(series.notna().sum())
    return np.expm1(paths).clip(min=0), f"random walk, pooled volatility {sigma:.2f} (only {n} points)"


def apply_scenario(
    base: np.ndarray, last: float, scenario: Scenario, indicator: str, seed: int, key: str
) -> np.ndarray:
    """Scenario paths from model paths: the scenario's growth range plus the model's spread.

    The drawn rate is kept for the whole horizon ("a steady decrease of 2-3% per year"); where the
    horizon runs past the author's window (``scenario.years``) the assumption text says so. Handing
    over to the model's own trend after the window was tried and rejected: with explosive short
    series it made the optimistic path overtake the baseline."""
    a = scenario.for_indicator(indicator)
    if a.growth_pct is None:
        return base
    n, horizon = base.shape
    g = _rng(seed, key, scenario.name).uniform(*a.growth_pct, size=(n, 1)) / 100
    h = np.arange(1, horizon + 1)[None, :]
    spread = base / np.median(base, axis=0).clip(min=1e-9)
    return last * (1 + g) ** h * spread


def assumption_text(scenario: Scenario, indicator: str, horizon: int) -> str:
    a = scenario.for_indicator(indicator)
    if a.growth_pct is not None and horizon > scenario.years:
        return f"{a.text}, kept past the author's {scenario.years}-year window"
    return a.text


def _rows(country, indicator, years, paths_by_scenario, scenarios, model, n_obs, last_year, last_value):
    out = []
    for name, paths in paths_by_scenario.items():
        a = scenarios[name].for_indicator(indicator)
        s = band_frame(paths).assign(
            country=country,
            indicator=indicator,
            scenario=name,
            year=years,
            model=model,
            n_obs=n_obs,
            last_year=last_year,
            last_value=last_value,
            assumption=assumption_text(scenarios[name], indicator, len(years)),
            basis=a.basis,
        )
        out.append(s)
    return out


def stale_series(ds: Dataset) -> pd.DataFrame:
    """Series with data that ``scenario_forecasts`` does not forecast: last figure too old."""
    history = series_table(ds)
    last = history.groupby(["country", "indicator"]).year.max().rename("last_year").reset_index()
    if ds.as_of is None:
        return last.iloc[0:0]
    return last[ds.as_of - last.last_year > MAX_STALE_YEARS].reset_index(drop=True)


def true_count_paths(prevalence, target: str, horizon: int, seed: int) -> dict[str, tuple[float, np.ndarray]]:
    """Model paths of the true count per country from the synthesis posterior: the last grid year's
    draws carried forward with each draw's own growth and random-walk noise (rate and detection)."""
    from forecast.prevalence.posterior import draws_of

    idata, inputs = prevalence.idata, prevalence.inputs
    k = inputs.targets.index(target)
    log_n = draws_of(idata, "log_true")[:, k, :, -1]  # (sample, country)
    post = idata.posterior
    growth = post["growth"].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()[:, k, :]
    rw = post["random_walk_sd"].stack(sample=("chain", "draw")).to_numpy()[k]
    dw = post["detection_walk_sd"].stack(sample=("chain", "draw")).to_numpy()[k]
    rng = _rng(seed, "true", target)
    take = rng.choice(log_n.shape[0], size=N_SAMPLES, replace=log_n.shape[0] < N_SAMPLES)
    out = {}
    h = np.arange(1, horizon + 1)
    for i, country in enumerate(inputs.countries):
        sd = np.sqrt(rw[take] ** 2 + dw[take] ** 2)[:, None]
        noise = np.cumsum(rng.normal(0, 1, (N_SAMPLES, horizon)) * sd, axis=1)
        paths = np.exp(log_n[take, i][:, None] + growth[take, i][:, None] * h[None, :] + noise)
        out[country] = (float(np.exp(np.median(log_n[:, i]))), paths)
    return out


def scenario_forecasts(
    ds: Dataset, horizon: int, scenarios: dict[str, Scenario], seed: int = 0, prevalence=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(forecasts, history) for every series with data, every scenario, ``horizon`` years.

    Without an as-of year (the base vintage), each series runs from its own last figure:
    years last+1..last+horizon. A calibrated vintage has an as-of year (``ds.as_of``, the year its
    newest figures describe): every series is then forecast for as_of+1..as_of+horizon, from its own
    last figure (the years between are forecast too, unreported, so a series a year or two behind
    gets the wider band it deserves); a series whose last figure is more than ``MAX_STALE_YEARS``
    older than the as-of year is not forecast (``stale_series`` lists them)."""
    if not 1 <= horizon <= 5:
        raise ValueError(f"horizon must be 1 to 5 years, got {horizon}")
    history = series_table(ds)
    sigmas = pooled_sigmas(history)
    rows = []
    for (country, indicator), g in history.groupby(["country", "indicator"], sort=True):
        s = pd.Series(g.value.to_numpy(float), index=g.year.to_numpy(int))
        key = f"{country}/{indicator}"
        last_year, last = int(s.index[-1]), float(s.iloc[-1])
        gap = max(0, ds.as_of - last_year) if ds.as_of is not None else 0
        if gap > MAX_STALE_YEARS:
            continue
        steps = gap + horizon
        base, model = base_samples(s, steps, sigmas[family(indicator)], seed, key)
        years = np.arange(last_year + gap + 1, last_year + steps + 1)
        paths = {name: apply_scenario(base, last, sc, indicator, seed, key)[:, gap:] for name, sc in scenarios.items()}
        rows += _rows(country, indicator, years, paths, scenarios, model, len(s), last_year, last)
    if prevalence is not None:
        hist_true = []
        for target, indicator in TRUE_INDICATORS.items():
            last_year = int(prevalence.inputs.years[-1])
            years = np.arange(last_year + 1, last_year + horizon + 1)
            for country, (last, base) in true_count_paths(prevalence, target, horizon, seed).items():
                key = f"{country}/{indicator}"
                paths = {name: apply_scenario(base, last, sc, indicator, seed, key) for name, sc in scenarios.items()}
                rows += _rows(
                    country,
                    indicator,
                    years,
                    paths,
                    scenarios,
                    "evidence synthesis (posterior carried forward)",
                    np.nan,
                    last_year,
                    last,
                )
            est = prevalence.estimates
            e = est[(est.method == "synthesis") & (est.target == target)]
            hist_true.append(
                pd.DataFrame(
                    {
                        "country": e.country,
                        "indicator": indicator,
                        "year": e.year,
                        "value": e["median"],
                        "source": "synthesis median",
                    }
                )
            )
        history = pd.concat([history, *hist_true], ignore_index=True)
    fc = pd.concat(rows, ignore_index=True)[FORECAST_COLUMNS]
    return fc, history
