"""bayes_llt engines side by side: quadrature grid (default) vs PyMC (NUTS/nutpie) on the same folds.

Usage: python benchmarks/bayes_engines.py [N]   (N simulated short series, default 8; prints a table)
Moved out of ``backtest_statsforecast.py`` unchanged; its last result is quoted in
``forecast/timeseries/llt.py``.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.evaluation.backtest import simulated_short_series  # noqa: E402
from forecast.timeseries import fit_forecast  # noqa: E402
from forecast.timeseries.llt import bayes_llt_pymc  # noqa: E402

HORIZONS, MIN_TRAIN = 5, 4


def bayes_engines(series: list[pd.Series], max_origins: int = 3) -> pd.DataFrame:
    """Grid (default) vs PyMC engine of bayes_llt on the same folds: time and coverage."""
    logging.getLogger("pymc").setLevel(logging.ERROR)
    rows = []
    for s in series:
        obs = s.dropna().sort_index()
        origins = list(obs.index[MIN_TRAIN - 1 : len(obs) - 1])[-max_origins:]
        for origin in origins:
            train = obs[obs.index <= origin]
            test = obs[(obs.index > origin) & (obs.index <= origin + HORIZONS)]
            for engine in ("grid", "pymc"):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if engine == "grid":
                        fc = fit_forecast(train, HORIZONS, "bayes_llt")
                    else:
                        fc = bayes_llt_pymc(train, HORIZONS)
                seconds = time.perf_counter() - t0
                summ = fc.summary().set_index("year")
                for year, y in test.items():
                    r = summ.loc[year]
                    rows.append(
                        {
                            "engine": engine,
                            "series": s.name,
                            "origin": origin,
                            "seconds": seconds,
                            "y": y,
                            "covered_80": r["lo_80"] <= y <= r["hi_80"],
                            "covered_95": r["lo_95"] <= y <= r["hi_95"],
                            "divergences": fc.diagnostics.get("divergences", 0),
                            "r_hat_max": fc.diagnostics.get("r_hat_max", np.nan),
                            "ess_bulk_min": fc.diagnostics.get("ess_bulk_min", np.nan),
                        }
                    )
    df = pd.DataFrame(rows)
    fits = df.drop_duplicates(["engine", "series", "origin"])
    out = df.groupby("engine").agg(
        coverage_80=("covered_80", "mean"), coverage_95=("covered_95", "mean"), n_points=("y", "size")
    )
    out["s_per_fit"] = fits.groupby("engine")["seconds"].mean()
    out["fits"] = fits.groupby("engine").size()
    out["fits_with_divergences"] = fits.groupby("engine")["divergences"].apply(lambda d: (d > 0).sum())
    out["max_r_hat"] = fits.groupby("engine")["r_hat_max"].max()
    out["min_ess_bulk"] = fits.groupby("engine")["ess_bulk_min"].min()
    return out.reset_index()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    print(bayes_engines(simulated_short_series(n, np.random.default_rng(7))).to_string())
