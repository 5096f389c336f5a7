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
#: ``benchmarks/learn_combination.py learn --learn-on even`` (run of 2026-12-02 on the draws of
#: ``draw``: the mixture with the least mean scaled CRPS, searched in steps of 1/20, on the
#: even-numbered series of M3 + Tourism yearly — regime "last 4 points" for the first row, "last 6
#: points" for the second, the competitions' full-history split for the third — and checked on the
#: odd-numbered ones; ets_damped, loglinear and drift were offered and got weight 0). See
#: ``benchmarks/results/backtest.md``.
COMBINED_WEIGHTS = np.array(
    [
        [0.20, 0.25, 0.50, 0.05],
        [0.00, 0.85, 0.15, 0.00],
        [0.00, 0.30, 0.55, 0.15],
    ]
)

_LENGTH_CLASS_EDGES = (6, 10)
#: Roughness classes of the band calibration: mean |second difference| of log1p(history) below
#: 0.03 (smooth: steady growth), 0.03-0.1, 0.1-0.3, 0.3 and more (jumpy, like most drug series).
_ROUGHNESS_EDGES = (0.03, 0.1, 0.3)

#: Band calibration of ``combined``: the log-scale spread of the pooled draws around their median
#: is multiplied by ``profile[length class, roughness class, horizon - 1]`` (horizons past the last
#: column use the last column). A factor is conformal: the one whose 80% and 95% bands cover
#: closest to 80% and 95% of the held-out points of its cell (a point needs the factor
#: |log1p(y) - median| / band half-width on its side). Learned by
#: ``benchmarks/learn_combination.py learn`` (run of 2026-12-02, the weights above; a horizon with
#: < 60 points takes its row's factor with all horizons pooled) on two families of series:
#:
#: - ``m3_tourism``: the even-numbered series of M3 + Tourism yearly (three regimes). Held out
#:   (odd-numbered): cov80/95 78/94% (full history), 81/96% (6 points), 82/95% (4 points); on
#:   drug-like simulated series it gives 69-71/88-91%: too narrow there (real series 76-79/94-96%).
#: - ``drug``: 300 drug-like simulated series (``simulated_short_series``, seed 12345, every origin
#:   from 4 points, horizons 1-5). Held out: 300 others (seed 54321) 79/94%, 300 more (seed 2026)
#:   78/94%; the real series of ``forecast backtest`` (latest vintage, 87 points) 82/97%; on
#:   M3 + Tourism 90-93/97-98%: too wide there.
#:
#: The two families need different factors at the same length and roughness (M3 / Tourism about
#: 0.4-0.9, drug-like series about 0.9-1.5: their short histories hide regime shifts), so no one
#: learned factor calibrates both. A band too narrow is a bug, so ``default`` takes, per (length,
#: roughness) row, the row of the family that needs the wider bands there, among the families
#: with >= 200 points in the row (else the one with the most points): each row from one family,
#: so bands keep widening with the horizon. Held out: M3 + Tourism odd-numbered 83/96% (full
#: history), 85/97% (6 points), 90/97% (4 points); drug-like 78/93% (seed 54321), 78/94% (seed 1,
#: `forecast backtest`'s), 77/93% (seed 2026); real 80/100% (base vintage), 82/97% (latest).
#: ``benchmarks/results/backtest.md`` measures all of them side by side.
BAND_PROFILES: dict[str, np.ndarray] = {
    "m3_tourism": np.array(
        [
            [
                [0.3, 0.4, 0.45, 0.475, 0.475, 0.45],
                [0.575, 0.65, 0.7, 0.725, 0.7, 0.675],
                [0.85, 0.675, 0.775, 0.8, 0.725, 0.75],
                [0.875, 1.075, 1.0, 0.85, 0.85, 0.9],
            ],
            [
                [0.45, 0.55, 0.725, 0.7, 0.675, 0.625],
                [0.675, 0.825, 0.825, 0.775, 0.8, 0.775],
                [0.825, 0.75, 0.725, 0.825, 0.775, 0.775],
                [0.85, 0.95, 0.975, 0.95, 0.775, 0.875],
            ],
            [
                [0.425, 0.45, 0.55, 0.6, 0.575, 0.55],
                [0.7, 0.75, 0.825, 0.775, 0.825, 0.8],
                [0.825, 0.775, 0.9, 0.9, 0.85, 0.95],
                [0.9, 0.85, 0.95, 0.825, 0.825, 0.825],
            ],
        ]
    ),
    "drug": np.array(
        [
            [
                [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                [1.05, 1.25, 1.4, 1.4, 1.4, 1.4],
                [0.9, 1.075, 1.0, 1.05, 1.1, 1.05],
                [0.925, 0.925, 0.925, 0.95, 1.0, 0.95],
            ],
            [
                [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                [1.6, 1.6, 1.6, 1.6, 1.6, 1.6],
                [1.1, 1.05, 1.05, 0.975, 0.975, 1.05],
                [0.925, 0.9, 0.95, 0.925, 0.95, 0.925],
            ],
            [
                [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                [1.175, 1.375, 1.2, 1.2, 1.2, 1.2],
                [0.9, 0.9, 0.95, 0.975, 0.975, 0.975],
            ],
        ]
    ),
}
#: Where each (length class, roughness class) row of the ``default`` profile comes from (the
#: family that needs the wider bands there, among those with >= 200 points in the row).
DEFAULT_BANDS_SOURCE = (
    ("m3_tourism", "drug", "drug", "drug"),
    ("m3_tourism", "m3_tourism", "drug", "drug"),
    ("m3_tourism", "m3_tourism", "drug", "drug"),
)
BAND_PROFILES["default"] = np.array(
    [
        [BAND_PROFILES[family][cls, rough] for rough, family in enumerate(row)]
        for cls, row in enumerate(DEFAULT_BANDS_SOURCE)
    ]
)
BAND_PROFILES["none"] = np.ones_like(BAND_PROFILES["default"])
#: The profile ``combined`` uses unless ``bands=`` names another.
DEFAULT_BANDS = "default"


def length_class(n_observed: int) -> int:
    """First axis of ``COMBINED_WEIGHTS`` / a band profile: 0 for 3-5 observed years, 1 for 6-9, 2 for 10+."""
    return int(np.digitize(n_observed, _LENGTH_CLASS_EDGES))


def roughness(data: Prepared) -> float:
    """Mean absolute second difference of the observed log1p values (0 below 3 points)."""
    d2 = np.diff(data.y, n=2)
    return float(np.mean(np.abs(d2))) if len(d2) else 0.0


def roughness_class(rough: float) -> int:
    """Second axis of a band profile: 0 below 0.03, 1 below 0.1, 2 below 0.3, else 3."""
    return int(np.digitize(rough, _ROUGHNESS_EDGES))


def check_bands(bands: str | None) -> str:
    """The band profile's name (``None`` -> ``DEFAULT_BANDS``); an unknown one lists the valid ones."""
    name = DEFAULT_BANDS if bands is None else bands
    if name not in BAND_PROFILES:
        raise ValueError(f"unknown band profile {bands!r}; valid: {sorted(BAND_PROFILES)}")
    return name


def band_scale(n_observed: int, horizon: int, rough: float = 0.0, bands: str | None = None) -> np.ndarray:
    """The spread factors of band profile ``bands`` for a series of ``n_observed`` years and
    roughness ``rough``, per horizon 1..``horizon``."""
    row = BAND_PROFILES[check_bands(bands)][length_class(n_observed), roughness_class(rough)]
    return row[np.minimum(np.arange(horizon), len(row) - 1)]


def _allocate(n: int, weights: Sequence[float]) -> list[int]:
    """Split ``n`` draws in proportion to ``weights`` (largest remainder, sums to ``n``)."""
    w = np.asarray(weights, dtype=float)
    exact = n * w / w.sum()
    sizes = np.floor(exact).astype(int)
    sizes[np.argsort(sizes - exact)[: n - sizes.sum()]] += 1
    return sizes.tolist()


def _combined_log(
    data: Prepared, horizon: int, n: int, rngs: dict[str, np.random.Generator], bands: str | None = None
) -> tuple:
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
    rough = roughness(data)
    factor = band_scale(len(data.y), horizon, rough, bands)
    median = np.median(pooled, axis=0)
    pooled = median + factor * (pooled - median)
    info = {"members": {m: d for m, d, k in zip(COMBINED_MEMBERS, diags.values(), sizes, strict=True) if k > 0}}
    return pooled, {
        **info,
        "sizes": sizes,
        "bands": check_bands(bands),
        "roughness": rough,
        "band_scale": factor.tolist(),
    }


def fit_many(
    series: pd.Series,
    horizon: int,
    models: Sequence[str],
    n_samples: int = 2000,
    seed: int | None = 0,
    *,
    bands: str | None = None,
) -> dict[str, ForecastSamples]:
    """Several models on one series, each from its own random stream.

    ``combined`` pools draws of each member in proportion to ``COMBINED_WEIGHTS`` (drawn on its
    own streams, so its result does not depend on which other models are asked for): a mixture,
    not an average of quantiles, so disagreement between the models widens the band as it should;
    then its log-scale spread is calibrated by the band profile ``bands`` (``BAND_PROFILES``; None:
    ``DEFAULT_BANDS``), per length class, roughness of the history and horizon.
    """
    bands = check_bands(bands)
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
            pooled, diag = _combined_log(data, horizon, n_samples, rngs, bands)
            out[name] = to_samples(data, pooled, name, diag)
        else:
            diag: dict = {}
            log_samples = _LOG_SAMPLERS[name](data, horizon, n_samples, rngs[name], diag)
            out[name] = to_samples(data, log_samples, name, diag)
    return out


def fit_forecast(
    series: pd.Series,
    horizon: int,
    model: str = "combined",
    n_samples: int = 2000,
    seed: int | None = 0,
    *,
    bands: str | None = None,
) -> ForecastSamples:
    """Fit one model to an annual series and draw ``n_samples`` joint future paths.

    ``series``: index = integer years (gaps allowed), values >= 0, NaN = missing.
    ``bands``: the band profile of ``combined`` (``BAND_PROFILES``; None: ``DEFAULT_BANDS``).
    Raises ``TooShortError`` below 3 observed years.
    """
    if model == "bayes_llt_pymc":
        return bayes_llt_pymc(series, horizon, n_samples, seed)
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; valid: {sorted(MODELS)} or 'bayes_llt_pymc'")
    return fit_many(series, horizon, [model], n_samples, seed, bands=bands)[model]


def _single(name: str) -> Callable[..., ForecastSamples]:
    def run(
        series: pd.Series, horizon: int, n_samples: int = 2000, seed: int | None = 0, *, bands: str | None = None
    ) -> ForecastSamples:
        return fit_many(series, horizon, [name], n_samples, seed, bands=bands)[name]

    run.__name__ = name
    run.__doc__ = f"``fit_forecast(series, horizon, model={name!r})``."
    return run


#: name -> ``f(series, horizon, n_samples=2000, seed=0) -> ForecastSamples``.
MODELS: dict[str, Callable[..., ForecastSamples]] = {
    name: _single(name)
    for name in ("ets_damped", "arima", "loglinear", "bayes_llt", "theta", "combined", "naive", "drift")
}
