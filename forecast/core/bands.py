"""The one band summary of draws: mean, median and the central 80% and 95% intervals.

Every table of the project that summarises draws (estimates.csv, forecasts.csv, the model
samples) uses these columns, in this order, computed here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: summary columns, in the order of DESIGN.md's output contracts
BAND_COLUMNS = ("mean", "median", "lo_80", "hi_80", "lo_95", "hi_95")
#: the quantile level of each quantile column
LEVELS = {"median": 0.5, "lo_80": 0.1, "hi_80": 0.9, "lo_95": 0.025, "hi_95": 0.975}


def band_summary(draws: np.ndarray) -> dict[str, np.ndarray]:
    """Summary over axis 0 (the draws): a dict of BAND_COLUMNS, each of shape ``draws.shape[1:]``."""
    draws = np.asarray(draws, dtype=float)
    q = np.quantile(draws, list(LEVELS.values()), axis=0)
    return {"mean": draws.mean(axis=0), **dict(zip(LEVELS, q, strict=True))}


def band_frame(draws: np.ndarray, **columns) -> pd.DataFrame:
    """``band_summary`` of (draws, k) as a k-row DataFrame, after the given leading ``columns``."""
    return pd.DataFrame({**columns, **band_summary(draws)})
