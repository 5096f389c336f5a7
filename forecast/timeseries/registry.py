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
}

#: The models pooled by ``combined``, with equal weight.
COMBINED_MEMBERS: tuple[str, ...] = ("ets_damped", "arima", "loglinear", "bayes_llt")


def fit_many(
    series: pd.Series, horizon: int, models: Sequence[str], n_samples: int = 2000, seed: int | None = 0
) -> dict[str, ForecastSamples]:
    """Several models on one series, each from its own random stream.

    ``combined`` pools ``n_samples / 4`` draws of each member (drawn on its own streams, so
    its result does not depend on which other models are asked for): a mixture, not an average
    of quantiles, so disagreement between the models widens the band as it should.
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
            sizes = [len(a) for a in np.array_split(np.arange(n_samples), len(COMBINED_MEMBERS))]
            diags: dict[str, dict] = {m: {} for m in COMBINED_MEMBERS}
            pooled = np.concatenate(
                [
                    _LOG_SAMPLERS[m](data, horizon, k, rngs[f"combined:{m}"], diags[m])
                    for m, k in zip(COMBINED_MEMBERS, sizes, strict=True)
                ]
            )
            out[name] = to_samples(data, pooled, name, {"members": diags, "sizes": sizes})
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
    name: _single(name) for name in ("ets_damped", "arima", "loglinear", "bayes_llt", "combined", "naive", "drift")
}
