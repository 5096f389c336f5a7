"""The forecast type (predictive samples) and what every model does before and after sampling.

Before: validate the series at the boundary and put it on the log scale (``prepare``).
After: back-transform the log-scale draws to counts for the years after the last observation
(``to_samples``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast.core.bands import band_frame

#: Fewest observed years any model accepts; below this there is no trend *and* noise to estimate.
MIN_POINTS = 3

#: Log-scale samples are capped this far above the largest observation (e**15 ~ 3 million
#: times). Only absurd tail draws of heavy-tailed predictive distributions are touched; the cap
#: keeps ``expm1`` finite so that means and CRPS stay computable.
LOG_CAP_ABOVE_MAX = 15.0


class TooShortError(ValueError):
    """A series has fewer observed years than a model can learn anything from."""


@dataclass
class ForecastSamples:
    """Predictive samples of one series: row = one joint draw of the future path."""

    years: np.ndarray
    samples: np.ndarray
    model: str
    diagnostics: dict = field(default_factory=dict)

    def quantiles(self, qs: Sequence[float]) -> pd.DataFrame:
        """Quantiles per future year; columns are the requested probabilities."""
        qs = list(qs)
        values = np.quantile(self.samples, qs, axis=0).T
        return pd.DataFrame(values, index=pd.Index(self.years, name="year"), columns=qs)

    def summary(self) -> pd.DataFrame:
        """The table every consumer wants: year, then the project's one band summary."""
        return band_frame(self.samples, year=self.years)


@dataclass(frozen=True)
class Prepared:
    """A validated series on the log scale, kept both as observed points and on a full grid."""

    years: np.ndarray  # observed years, sorted, int
    y: np.ndarray  # log1p(value) at those years

    @property
    def last_year(self) -> int:
        return int(self.years[-1])

    @property
    def grid_years(self) -> np.ndarray:
        return np.arange(self.years[0], self.years[-1] + 1)

    @property
    def y_grid(self) -> np.ndarray:
        """Log values on every year from first to last observation, NaN where missing."""
        out = np.full(len(self.grid_years), np.nan)
        out[self.years - self.years[0]] = self.y
        return out

    @property
    def y_interp(self) -> np.ndarray:
        """Log values on the full grid, gaps filled by linear interpolation (ETS/ARIMA need it)."""
        return np.interp(self.grid_years, self.years, self.y)


def prepare(series: pd.Series) -> Prepared:
    """Validate at the boundary: integer years, no duplicates, values >= 0, >= 3 observed."""
    if not isinstance(series, pd.Series):
        raise TypeError(f"expected a pandas Series indexed by year, got {type(series).__name__}")
    s = series.dropna()
    try:
        years = np.asarray(s.index, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"series index must be integer years, got {s.index.dtype}") from err
    if not np.all(np.isfinite(years)) or not np.all(years == np.round(years)):
        raise ValueError("series index must be integer years")
    years = years.astype(int)
    values = np.asarray(s.to_numpy(), dtype=float)
    name = f"series {series.name!r}" if series.name is not None else "series"
    if len(np.unique(years)) != len(years):
        dup = sorted({int(y) for y in years if (years == y).sum() > 1})
        raise ValueError(f"{name} has duplicate years: {dup}")
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must hold finite values >= 0 (counts or kg)")
    if len(values) < MIN_POINTS:
        listed = ", ".join(str(y) for y in sorted(years)) or "none"
        raise TooShortError(
            f"{name}: forecasting needs at least {MIN_POINTS} observed years, got {len(values)} ({listed})"
        )
    order = np.argsort(years)
    return Prepared(years=years[order], y=np.log1p(values[order]))


def check_horizon(horizon: int) -> int:
    """A horizon is a positive whole number of years."""
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive whole number of years, got {horizon!r}")
    return int(horizon)


def to_samples(data: Prepared, log_samples: np.ndarray, model: str, diagnostics: dict | None = None) -> ForecastSamples:
    """Back-transform log-scale draws to counts (>= 0) for the years after the last observation."""
    horizon = log_samples.shape[1]
    capped = np.clip(log_samples, 0.0, data.y.max() + LOG_CAP_ABOVE_MAX)
    return ForecastSamples(
        years=np.arange(data.last_year + 1, data.last_year + 1 + horizon),
        samples=np.expm1(capped),
        model=model,
        diagnostics=diagnostics or {},
    )
