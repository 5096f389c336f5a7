"""From a model's forecast paths to a scenario's: the scenario's growth replaces the model's trend,
and only the model's innovation spread is laid over it.

A fitted model's paths spread for two reasons: the model is unsure of its own trend (with 3-15
points, very unsure), and each year brings new shocks (innovations). A scenario that states a
growth range *is* a statement about the trend, so it replaces the first and keeps the second;
laying the model's whole spread over the scenario's rate would count trend uncertainty twice.

``innovation_spread`` separates the two from the paths alone, for any model: each path's yearly
log steps are split into the path's own drift (their mean) and the shocks around it; the typical
within-path variance of the steps is the model's yearly innovation variance. The deviation of each
path from the model's median path is then shrunk, year by year, to the spread those innovations
alone reach by that year (a random walk: sqrt(h) x sigma) — never widened. Exact for a random walk
whose drift is uncertain; for a model whose paths revert to a trend line the model's spread is
already below that and is kept whole (the safe side).

A count with a ceiling (the true number of users or of people living with HIV: at most a cited share
of those aged 15-64, ``ModelPaths.cap``) takes the scenario's rate as logistic growth: the rate moves
logit(count / ceiling), so the count grows at the stated rate while it is far below the ceiling and
slows as it nears it, and no draw passes it. A rate laid over such a count on the log scale would
carry its upper band through the ceiling within five years.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats
from scipy.special import expit, logit

from forecast.scenarios.definitions import MODEL_TREND, Scenario

#: the engine is asked for at least this many years, so that a path's drift can be told from its shocks
MIN_STEPS = 5
IQR_PER_SD = 1.349  # the interquartile range of a normal distribution, in standard deviations


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """A random stream that depends only on the seed and the keys (order of work does not matter)."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


@dataclass(frozen=True)
class ModelPaths:
    """One series' model forecast, split the way a scenario needs it (all arrays (draws, years))."""

    origin: float  # the last figure, where every path starts
    paths: np.ndarray  # the model's own forecast: trend and spread
    spread: np.ndarray  # log-scale deviations around each path's trend: the innovation spread only
    trend: np.ndarray  # the model's median path, log growth from the origin (for "model trend")
    volatility: float  # yearly log-scale innovation sd behind ``spread``
    model: str
    #: (draws, 1) ceilings of a bounded count, or None. When given, ``spread`` holds each draw's
    #: trend-free path and ``trend`` the median path's trend, both on the logit(count / cap) scale.
    cap: np.ndarray | None = None

    def first(self, years: int) -> ModelPaths:
        """The same forecast cut to its first ``years`` years."""
        return replace(self, paths=self.paths[:, :years], spread=self.spread[:, :years], trend=self.trend[:years])


def share_logit(count: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """logit(count / cap), kept finite at 0 and at the ceiling."""
    return logit(np.clip(count / cap, 1e-12, 1 - 1e-9))


def bounded(paths: np.ndarray, level: np.ndarray, cap: np.ndarray, origin: float, model: str) -> ModelPaths:
    """A count below a ceiling: the model's ``paths`` and the same draws without their trend (``level``),
    both (draws, years); ``cap`` (draws,) the ceiling of each draw."""
    cap = np.asarray(cap, float).reshape(-1, 1)
    z_paths, z_level = share_logit(paths, cap), share_logit(level, cap)
    steps = np.diff(np.log(paths), axis=1, prepend=np.log(level[:, :1]))
    trend = np.median(z_paths - z_level, axis=0)
    return ModelPaths(origin, paths, z_level, trend, float(np.median(np.std(steps, axis=0))), model, cap)


def innovation_spread(log_paths: np.ndarray, log_origin: float) -> tuple[np.ndarray, float]:
    """(deviations from the model's median path, shrunk to the innovation spread; yearly sigma).

    Needs at least two years of paths."""
    n, years = log_paths.shape
    if years < 2:
        raise ValueError("the innovation spread needs paths of at least two years")
    steps = np.diff(log_paths, axis=1, prepend=np.full((n, 1), log_origin))
    within = steps.var(axis=1, ddof=1)  # each path's shocks around its own drift
    dof = years - 1
    sigma = float(np.sqrt(np.median(within) / (stats.chi2.median(dof) / dof)))  # median -> variance, normal steps
    deviation = log_paths - np.median(log_paths, axis=0)
    q25, q75 = np.quantile(deviation, [0.25, 0.75], axis=0)
    spread_now = np.maximum((q75 - q25) / IQR_PER_SD, 1e-12)
    shrink = np.minimum(1.0, sigma * np.sqrt(np.arange(1, years + 1)) / spread_now)
    return deviation * shrink, sigma


def from_samples(samples: np.ndarray, origin: float, model: str) -> ModelPaths:
    """A trend model's sample paths (counts), split into trend and innovation spread (log1p scale)."""
    logs = np.log1p(samples)
    spread, sigma = innovation_spread(logs, np.log1p(origin))
    trend = np.median(logs, axis=0) - np.log1p(origin)
    return ModelPaths(origin, samples, spread, trend, sigma, model)


def random_walk(origin: float, sigma: float, steps: int, n: int, rng: np.random.Generator, model: str) -> ModelPaths:
    """A driftless random walk on the log scale: no trend of its own, so its whole spread is innovation."""
    walk = np.cumsum(rng.normal(0, sigma, size=(n, steps)), axis=1)
    paths = np.expm1(np.log1p(origin) + walk).clip(min=0)
    return ModelPaths(origin, paths, walk - np.median(walk, axis=0), np.zeros(steps), sigma, model)


#: how strongly a year's shock is shared by the five countries' series of one indicator (``couple``):
#: 1 = each draw index holds the same quantile of every country's innovation spread (ranked by the
#: path's mean deviation). The countries seize from one flow (the Afghan opiates crossing the region)
#: and the data are too thin to estimate less: in the latest vintage no two countries' seizure series
#: share three years, and the one pair of registers that does (HIV, Kyrgyzstan and Tajikistan) moved
#: together, 0.96 over four changes. Coupled, the quantiles of the countries nearly add up to the
#: region's (its median stays within about 15% of the sum of theirs in every year; a path cannot be the
#: same quantile in every year) and its band is not narrower than theirs added up (a band that is
#: too narrow is a bug). Drawn independently (0), the base vintage's Central Asia heroin median rose
#: +92% in five years while the countries' medians rose +21%: heavy right tails, summed independently,
#: lift the median of the sum.
COUNTRY_SHOCK_CORRELATION = 1.0


def couple(mp: ModelPaths, latent: np.ndarray) -> ModelPaths:
    """The same paths, reordered so that the draw with the k-th smallest ``latent`` value holds the
    path with the k-th smallest innovation deviation (its mean over the years): series coupled through a
    shared ``latent`` (one value per draw) move together, and each series' own forecast (its band,
    year by year) is unchanged, since only the order of its draws changes."""
    if len(latent) != mp.paths.shape[0]:
        raise ValueError(f"{len(latent)} latent values for {mp.paths.shape[0]} draws")
    by_spread = np.argsort(mp.spread.mean(axis=1), kind="stable")
    rank = np.argsort(np.argsort(latent, kind="stable"), kind="stable")
    take = by_spread[rank]
    return replace(mp, paths=mp.paths[take], spread=mp.spread[take])


def shared_latent(
    seed: int, indicator: str, country: str, n: int, rho: float = COUNTRY_SHOCK_CORRELATION
) -> np.ndarray:
    """One value per draw of a one-factor Gaussian copula: a factor shared by every country's series of
    the indicator plus the country's own, so that two countries' values correlate by ``rho``."""
    common = rng_for(seed, "shock", indicator).standard_normal(n)
    if rho >= 1:
        return common
    own = rng_for(seed, "shock", indicator, country).standard_normal(n)
    return np.sqrt(rho) * common + np.sqrt(1 - rho) * own


def rate_key(indicator: str) -> str:
    """Draws of a scenario rate are shared by every country (and every seizure kind) per draw index,
    so a region's total carries the scenario's uncertainty once, as the author states it for the region."""
    return "seizures" if indicator.startswith("seizures_") else indicator


def scenario_paths(mp: ModelPaths, scenario: Scenario, indicator: str, seed: int, gap: int = 0) -> np.ndarray:
    """The scenario's paths over all of ``mp``'s years (``gap`` of them before the first forecast year).

    A growth range replaces the model's trend: each draw takes one yearly rate and keeps it (for the
    scenario's window, then per its ``after_window``), with the model's innovation spread laid over
    it. "Follow the model" returns the model's paths; "as baseline" the baseline's, draw for draw."""
    owner, rule = scenario.rule(indicator)
    if rule.growth_pct is None:
        return mp.paths
    n, steps = mp.paths.shape
    drawn = rng_for(seed, "growth", owner.name, rate_key(indicator)).uniform(*rule.growth_pct, size=(n, 1))
    rate = np.log1p(drawn / 100)
    trend = rate * np.arange(1, steps + 1)
    end = gap + owner.years  # the window counts from the first forecast year
    if owner.after_window == MODEL_TREND and end < steps:
        trend[:, end:] = rate * end + (mp.trend[end:] - mp.trend[end - 1])
    if mp.cap is not None:
        return mp.cap * expit(trend + mp.spread)
    return mp.origin * np.exp(trend + mp.spread)


def never_falls(paths: np.ndarray, origin: float) -> np.ndarray:
    """A cumulative count's paths made non-decreasing from the last figure (running maximum per path)."""
    start = np.full((paths.shape[0], 1), origin)
    return np.maximum.accumulate(np.hstack([start, paths]), axis=1)[:, 1:]
