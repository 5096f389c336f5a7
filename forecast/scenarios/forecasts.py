"""Scenario forecasts, 1-5 years, for every series with data.

For each (country, indicator) the fitted model gives a distribution of future paths (samples).
A scenario then keeps it ("follow the model"), takes the baseline's ("as baseline": the source
gives no figure for the indicator under that scenario), or replaces the model's trend by the
scenario's growth range: each path draws one yearly rate from the range and keeps it, and only the
model's innovation spread is laid over it (``forecast.scenarios.paths``). Cumulative counts never
fall, and Central Asia totals that are the sum of the five countries are forecast as that sum
(``forecast.scenarios.reconcile``), of the countries' draws coupled by index (``paths.couple``).
The paths themselves can be stored (``draws_file``, ``forecast.scenarios.draws``): a calibration
scores them.

Series with fewer than 3 observed years cannot support a trend model: they get a random walk
whose yearly log-scale volatility is pooled from the longer series of the dataset (stated in the
``model`` and ``volatility`` columns), so scenarios still apply, with honest width.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast.core.bands import band_frame
from forecast.core.parallel import map_jobs
from forecast.data.dataset import Dataset, annual_series
from forecast.data.vocab import MODEL_COUNTRIES
from forecast.prevalence.config import load_config
from forecast.scenarios.definitions import Scenario
from forecast.scenarios.draws import write_draws
from forecast.scenarios.paths import (
    MIN_STEPS,
    ModelPaths,
    bounded,
    couple,
    from_samples,
    never_falls,
    random_walk,
    rng_for,
    scenario_paths,
    shared_latent,
)
from forecast.scenarios.reconcile import SeriesForecast, reconcile_regions
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
    "most_likely",
    "volatility",
]
N_SAMPLES = 2000
#: a series whose last figure is older than this many years before the vintage's as-of year is not forecast
MAX_STALE_YEARS = 5
MIN_POOLED_SIGMA = 0.15  # a floor: two points say nothing about volatility
FALLBACK_SIGMA = 0.5  # too few steps to pool: deliberately wide rather than a guess that is too narrow


def series_table(ds: Dataset, exclude: tuple[dict, ...] | None = None) -> pd.DataFrame:
    """history: country, indicator, year, value, source — one figure per year.

    Figures excluded in models/prevalence.toml ``[[exclude]]`` (``exclude``; read from there when
    not given) never enter a series: a figure judged a typo there is a typo here too. Official
    figures come before estimates; where two sources give the same year, the source with more
    figures in the series wins (so a series is spliced from as few sources as possible, and the
    recorded conflicts say where they disagree)."""
    obs = annual_series(ds.observations)
    obs = obs[obs.indicator.isin(FORECAST_INDICATORS) & obs.value.notna()]
    obs = obs[~excluded(obs, load_config().exclude if exclude is None else exclude)]
    out = []
    for _, g in obs.groupby(["country", "indicator"], sort=True):
        size = g.groupby("source").year.nunique()
        g = g.assign(_estimate=(g.kind != "official").astype(int), _size=-g.source.map(size))
        best = g.sort_values(["year", "_estimate", "_size", "source"]).drop_duplicates("year", keep="first")
        out.append(best[["country", "indicator", "year", "value", "source"]])
    cols = ["country", "indicator", "year", "value", "source"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def excluded(obs: pd.DataFrame, exclude: tuple[dict, ...]) -> pd.Series:
    """Rows matching an ``[[exclude]]`` entry: country, indicator, year, and a source starting with its ``source``."""
    hit = pd.Series(False, index=obs.index)
    for x in exclude:
        hit |= (
            (obs.country == x["country"])
            & (obs.indicator == x["indicator"])
            & (obs.year.astype(int) == int(x["year"]))
            & obs.source.astype(str).str.startswith(x.get("source", ""))
        )
    return hit


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


def is_cumulative(indicator: str) -> bool:
    return "cumulative" in indicator


def base_samples(series: pd.Series, steps: int, sigma: float, seed: int, key: str) -> ModelPaths:
    """The model's paths for one observed series over ``steps`` years, split into trend and spread."""
    last = float(series.dropna().iloc[-1])
    n = int(series.notna().sum())
    if n >= MIN_POINTS:
        stream = int(rng_for(seed, key).integers(2**31))
        fs = fit_forecast(series, max(steps, MIN_STEPS), model="combined", n_samples=N_SAMPLES, seed=stream)
        return from_samples(fs.samples, last, "combined (ETS damped, ARIMA, log-linear, Bayesian LLT)").first(steps)
    model = f"random walk, pooled volatility {sigma:.2f} (only {n} point{'s' if n != 1 else ''})"
    return random_walk(last, sigma, steps, N_SAMPLES, rng_for(seed, key, "naive"), model)


def forecast_paths(
    mp: ModelPaths, scenarios: dict[str, Scenario], indicator: str, seed: int, gap: int = 0
) -> dict[str, np.ndarray]:
    """Every scenario's paths for the forecast years (the ``gap`` years before them dropped)."""
    out = {}
    for name, sc in scenarios.items():
        paths = scenario_paths(mp, sc, indicator, seed, gap)
        if is_cumulative(indicator):
            paths = never_falls(paths, mp.origin)
        out[name] = paths[:, gap:]
    return out


def _rows(f: SeriesForecast, scenarios: dict[str, Scenario]) -> list[pd.DataFrame]:
    out = []
    for name, paths in f.paths.items():
        sc = scenarios[name]
        a = sc.for_indicator(f.indicator)
        out.append(
            band_frame(paths).assign(
                country=f.country,
                indicator=f.indicator,
                scenario=name,
                year=f.years,
                model=f.model,
                n_obs=f.n_obs,
                last_year=f.last_year,
                last_value=f.last_value,
                assumption=sc.describe(f.indicator, len(f.years)) + f.note,
                basis=" ".join(a.basis.split()),
                most_likely=sc.most_likely,
                volatility=f.volatility,
            )
        )
    return out


def stale_series(ds: Dataset) -> pd.DataFrame:
    """Series with data that ``scenario_forecasts`` does not forecast: last figure too old."""
    history = series_table(ds)
    last = history.groupby(["country", "indicator"]).year.max().rename("last_year").reset_index()
    if ds.as_of is None:
        return last.iloc[0:0]
    return last[ds.as_of - last.last_year > MAX_STALE_YEARS].reset_index(drop=True)


def true_count_paths(prevalence, target: str, horizon: int, seed: int) -> dict[str, ModelPaths]:
    """Model paths of the true count per country: the synthesis carried forward with its own
    dynamics (prevalence.projection), so every path stays below the ceiling. The trend is what a
    scenario replaces (as logistic growth below that ceiling, ``paths.bounded``); the level's
    uncertainty and the random walk are the spread."""
    from forecast.prevalence.posterior import draws_of
    from forecast.prevalence.projection import project

    idata, inputs = prevalence.idata, prevalence.inputs
    k = inputs.targets.index(target)
    log_n = draws_of(idata, "log_true")[:, k, :, -1]  # (sample, country)
    projected = project(idata, inputs, target, horizon, N_SAMPLES, rng_for(seed, "true", target))
    model = "evidence synthesis (carried forward with its own dynamics)"
    out = {}
    for i, country in enumerate(inputs.countries):
        paths, level, cap = projected[country]
        out[country] = bounded(paths, level, cap, float(np.exp(np.median(log_n[:, i]))), model)
    return out


def scenario_forecasts(
    ds: Dataset,
    horizon: int,
    scenarios: dict[str, Scenario],
    seed: int = 0,
    prevalence=None,
    draws_file: Path | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(forecasts, history) for every series with data, every scenario, ``horizon`` years: the band
    summary of ``forecast_series``' paths, one row per series, scenario and year. With
    ``draws_file`` the paths themselves are written there too (``forecast.scenarios.draws``)."""
    series, history = forecast_series(ds, horizon, scenarios, seed, prevalence, jobs=jobs, scheduler=scheduler)
    if draws_file is not None:
        write_draws(series, draws_file)
    return forecast_table(series, scenarios), history


def forecast_table(series: dict[tuple[str, str], SeriesForecast], scenarios: dict[str, Scenario]) -> pd.DataFrame:
    """forecasts.csv of forecast series: one row per series, scenario and year (``FORECAST_COLUMNS``)."""
    rows = [r for f in series.values() for r in _rows(f, scenarios)]
    return pd.concat(rows, ignore_index=True)[FORECAST_COLUMNS]


def _model_paths(task: tuple[pd.Series, int, float, int, str]) -> ModelPaths:
    """``base_samples`` of one series: a task of ``core.parallel.map_jobs``."""
    return base_samples(*task)


def forecast_series(
    ds: Dataset,
    horizon: int,
    scenarios: dict[str, Scenario],
    seed: int = 0,
    prevalence=None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> tuple[dict[tuple[str, str], SeriesForecast], pd.DataFrame]:
    """Every series' scenario paths (draws), keyed by (country, indicator), and the history behind them.

    Without an as-of year (the base vintage), each series runs from its own last figure:
    years last+1..last+horizon. A calibrated vintage has an as-of year (``ds.as_of``, the year its
    newest figures describe): every series is then forecast for as_of+1..as_of+horizon, from its own
    last figure (the years between are forecast too, unreported, so a series a year or two behind
    gets the wider band it deserves); a series whose last figure is more than ``MAX_STALE_YEARS``
    older than the as-of year is not forecast (``stale_series`` lists them).

    Figures excluded in models/prevalence.toml are left out (the run's own settings when
    ``prevalence`` is given). True users and PLHIV (from the synthesis) follow when ``prevalence``
    is given. Each series' model is fitted as one task of ``core.parallel.map_jobs`` (``jobs``
    local processes, or the Dask cluster at ``scheduler``): its random stream comes from the seed
    and the series' name, so the numbers are the same wherever it runs."""
    if not 1 <= horizon <= 5:
        raise ValueError(f"horizon must be 1 to 5 years, got {horizon}")
    exclude = prevalence.inputs.config.exclude if prevalence is not None else None
    history = series_table(ds, exclude)
    sigmas = pooled_sigmas(history)
    tasks, about = [], []
    for (country, indicator), g in history.groupby(["country", "indicator"], sort=True):
        s = pd.Series(g.value.to_numpy(float), index=g.year.to_numpy(int))
        last_year = int(s.index[-1])
        gap = max(0, ds.as_of - last_year) if ds.as_of is not None else 0
        if gap > MAX_STALE_YEARS:
            continue
        tasks.append((s, gap + horizon, sigmas[family(indicator)], seed, f"{country}/{indicator}"))
        about.append((country, indicator, gap))
    fitted = map_jobs(_model_paths, tasks, jobs=jobs, backend=scheduler)
    series: dict[tuple[str, str], SeriesForecast] = {}
    for (country, indicator, gap), (s, *_), mp in zip(about, tasks, fitted, strict=True):
        last_year, last = int(s.index[-1]), float(s.iloc[-1])
        if country in MODEL_COUNTRIES:  # the countries' shocks move together: see paths.COUNTRY_SHOCK_CORRELATION
            mp = couple(mp, shared_latent(seed, indicator, country, mp.paths.shape[0]))
        series[(country, indicator)] = SeriesForecast(
            country=country,
            indicator=indicator,
            years=np.arange(last_year + gap + 1, last_year + gap + horizon + 1),
            paths=forecast_paths(mp, scenarios, indicator, seed, gap),
            model=mp.model,
            n_obs=len(s),
            last_year=last_year,
            last_value=last,
            volatility=mp.volatility,
        )
    reconcile_regions(series, history, list(scenarios))
    if prevalence is not None:
        hist_true = []
        for target, indicator in TRUE_INDICATORS.items():
            last_year = int(prevalence.inputs.years[-1])
            years = np.arange(last_year + 1, last_year + horizon + 1)
            for country, mp in true_count_paths(prevalence, target, horizon, seed).items():
                series[(country, indicator)] = SeriesForecast(
                    country=country,
                    indicator=indicator,
                    years=years,
                    paths=forecast_paths(mp, scenarios, indicator, seed),
                    model=mp.model,
                    n_obs=np.nan,
                    last_year=last_year,
                    last_value=mp.origin,
                    volatility=mp.volatility,
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
    return series, history
