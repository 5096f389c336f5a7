"""The model registry: names -> model families, the ``combined`` mixture, and the public verbs.

Every family is a *log sampler*: ``f(data, horizon, n, rng, diagnostics) -> (n, horizon)`` draws
on the log scale, filling ``diagnostics`` with what it has to report. The registry validates the
input once, gives each model its own random stream, and turns the draws into ``ForecastSamples``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from forecast.timeseries.arima import arima_log
from forecast.timeseries.ets import ets_damped_log
from forecast.timeseries.llt import bayes_llt_log, bayes_llt_pymc
from forecast.timeseries.loglinear import loglinear_log
from forecast.timeseries.naive import drift_log, naive_log
from forecast.timeseries.samples import ForecastSamples, Prepared, check_horizon, prepare, to_samples
from forecast.timeseries.theta import theta_log


class LogSampler(Protocol):
    def __call__(
        self, data: Prepared, horizon: int, n: int, rng: np.random.Generator, diagnostics: dict | None = None
    ) -> np.ndarray: ...


_LOG_SAMPLERS: dict[str, LogSampler] = {
    "ets_damped": ets_damped_log,
    "arima": arima_log,
    "loglinear": loglinear_log,
    "bayes_llt": bayes_llt_log,
    "naive": naive_log,
    "drift": drift_log,
    "theta": theta_log,
}

#: The models pooled by ``combined``.
COMBINED_MEMBERS: tuple[str, ...] = ("arima", "bayes_llt", "theta", "naive")

#: Share of ``combined``'s draws each member gives, per history length class (rows: 3-5, 6-9,
#: 10+ observed years; columns: ``COMBINED_MEMBERS``): stacking weights, learned by
#: ``benchmarks/learn_combination.py learn --learn-on even`` (run of 2026-12-02: the mixture with
#: the least mean scaled CRPS, searched in steps of 1/20, on the even-numbered series of M3 +
#: Tourism yearly — regime "last 4 points" for the first row, "last 6 points" for the second,
#: the competitions' full-history split for the third — and checked on the odd-numbered ones;
#: ets_damped, loglinear and drift were offered and got weight 0). See
#: ``benchmarks/results/backtest.md``.
COMBINED_WEIGHTS = np.array(
    [
        [0.30, 0.30, 0.40, 0.00],
        [0.00, 0.80, 0.20, 0.00],
        [0.00, 0.35, 0.55, 0.10],
    ]
)

#: Band calibration of ``combined``: the log-scale spread of the pooled draws around their median
#: is multiplied by ``BAND_SCALE[length class, horizon - 1]`` (same rows as above; horizons past
#: the last column use the last column). Learned on M3 + Tourism (benchmarks/learn_combination.py,
#: 2026-12-02), the factors were 0.63-0.83 (``M3_TOURISM_BAND_SCALE``): they calibrate those
#: collections (held-out cov80/95 79/93% on full histories, 81/96% on 6 points, 82/95% on 4) but
#: make the bands too narrow on the series this toolkit forecasts: `forecast backtest` on the real
#: 2005-2025 folds covered 71/86% and the simulated drug-like series 66/87% (with factor 1: 80/97%
#: and 79/95%). A band too narrow is a bug, so the default keeps the members' own spread (1.0);
#: benchmarks/results/backtest.md gives both. Drug series are not M3 series.
M3_TOURISM_BAND_SCALE = np.array(
    [
        [0.625, 0.65, 0.7, 0.7, 0.675, 0.675],
        [0.675, 0.75, 0.8, 0.8, 0.775, 0.775],
        [0.775, 0.75, 0.8, 0.825, 0.75, 0.775],
    ]
)
BAND_SCALE = np.ones_like(M3_TOURISM_BAND_SCALE)
_LENGTH_CLASS_EDGES = (6, 10)


def length_class(n_observed: int) -> int:
    """Row of ``COMBINED_WEIGHTS`` / ``BAND_SCALE``: 0 for 3-5 observed years, 1 for 6-9, 2 for 10+."""
    return int(np.digitize(n_observed, _LENGTH_CLASS_EDGES))


def band_scale(n_observed: int, horizon: int) -> np.ndarray:
    """The spread factors of ``BAND_SCALE`` for a series of ``n_observed`` years, per horizon."""
    row = BAND_SCALE[length_class(n_observed)]
    return row[np.minimum(np.arange(horizon), len(row) - 1)]


def _allocate(n: int, weights: Sequence[float]) -> list[int]:
    """Split ``n`` draws in proportion to ``weights`` (largest remainder, sums to ``n``)."""
    w = np.asarray(weights, dtype=float)
    exact = n * w / w.sum()
    sizes = np.floor(exact).astype(int)
    sizes[np.argsort(sizes - exact)[: n - sizes.sum()]] += 1
    return sizes.tolist()


def _combined_log(data: Prepared, horizon: int, n: int, rngs: dict[str, np.random.Generator]) -> tuple:
    """Pooled member draws (a mixture), their spread around the median rescaled by ``band_scale``."""
    sizes = _allocate(n, COMBINED_WEIGHTS[length_class(len(data.y))])
    diags: dict[str, dict] = {m: {} for m in COMBINED_MEMBERS}
    pooled = np.concatenate(
        [
            _LOG_SAMPLERS[m](data, horizon, k, rngs[f"combined:{m}"], diags[m])
            for m, k in zip(COMBINED_MEMBERS, sizes, strict=True)
            if k > 0
        ]
    )
    factor = band_scale(len(data.y), horizon)
    median = np.median(pooled, axis=0)
    pooled = median + factor * (pooled - median)
    info = {"members": {m: d for m, d, k in zip(COMBINED_MEMBERS, diags.values(), sizes, strict=True) if k > 0}}
    return pooled, {**info, "sizes": sizes, "band_scale": factor.tolist()}


def fit_many(
    series: pd.Series, horizon: int, models: Sequence[str], n_samples: int = 2000, seed: int | None = 0
) -> dict[str, ForecastSamples]:
    """Several models on one series, each from its own random stream.

    ``combined`` pools draws of each member in proportion to ``COMBINED_WEIGHTS`` (drawn on its
    own streams, so its result does not depend on which other models are asked for): a mixture,
    not an average of quantiles, so disagreement between the models widens the band as it should;
    then its log-scale spread is calibrated by ``BAND_SCALE``.
    """
    data = prepare(series)
    horizon = check_horizon(horizon)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; valid: {sorted(MODELS)}")
    stream_names = [*sorted(_LOG_SAMPLERS), *(f"combined:{m}" for m in COMBINED_MEMBERS)]
    rngs = dict(zip(stream_names, np.random.default_rng(seed).spawn(len(stream_names)), strict=True))
    out: dict[str, ForecastSamples] = {}
    for name in models:
        if name == "combined":
            pooled, diag = _combined_log(data, horizon, n_samples, rngs)
            out[name] = to_samples(data, pooled, name, diag)
        else:
            diag: dict = {}
            log_samples = _LOG_SAMPLERS[name](data, horizon, n_samples, rngs[name], diag)
            out[name] = to_samples(data, log_samples, name, diag)
    return out


def fit_forecast(
    series: pd.Series, horizon: int, model: str = "combined", n_samples: int = 2000, seed: int | None = 0
) -> ForecastSamples:
    """Fit one model to an annual series and draw ``n_samples`` joint future paths.

    ``series``: index = integer years (gaps allowed), values >= 0, NaN = missing.
    Raises ``TooShortError`` below 3 observed years.
    """
    if model == "bayes_llt_pymc":
        return bayes_llt_pymc(series, horizon, n_samples, seed)
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; valid: {sorted(MODELS)} or 'bayes_llt_pymc'")
    return fit_many(series, horizon, [model], n_samples, seed)[model]


def _single(name: str) -> Callable[..., ForecastSamples]:
    def run(series: pd.Series, horizon: int, n_samples: int = 2000, seed: int | None = 0) -> ForecastSamples:
        return fit_many(series, horizon, [name], n_samples, seed)[name]

    run.__name__ = name
    run.__doc__ = f"``fit_forecast(series, horizon, model={name!r})``."
    return run


#: name -> ``f(series, horizon, n_samples=2000, seed=0) -> ForecastSamples``.
MODELS: dict[str, Callable[..., ForecastSamples]] = {
    name: _single(name)
    for name in ("ets_damped", "arima", "loglinear", "bayes_llt", "theta", "combined", "naive", "drift")
}
