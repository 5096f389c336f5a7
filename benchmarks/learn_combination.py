"""Learn the ``combined`` forecaster's member weights and per-horizon band scale on one data set,
and check them on another it was not learned on.

    python benchmarks/learn_combination.py draw   [--limit N]   # member draws of every fold -> npz
    python benchmarks/learn_combination.py learn  [--learn-on M3]

``draw`` runs every candidate member of ``forecast.timeseries`` on the folds of
``backtest_statsforecast.py`` (M3 + Tourism yearly, regimes standard / last6 / last4) and keeps
their log-scale draws. ``learn`` then searches, on the ``--learn-on`` set only:

1. mixture weights of the members per history length class (stacking: minimise the mean scaled
   CRPS of the pooled draws; regime last4 -> 3-5 points, last6 -> 6-9, standard -> 10+), and
2. a scale factor per horizon and history length class for the log-scale spread of the mixture
   around its median, the one whose 80% and 95% bands cover closest to 80% and 95%,

and prints the scores on the learning set (in-sample) and on the other set (held out). The
constants it prints are pasted into ``forecast/timeseries/registry.py`` with a comment naming the
run; ``backtest_statsforecast.py`` then measures the resulting default forecaster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from backtest_statsforecast import REGIMES, TAUS, load_folds  # noqa: E402

from forecast.evaluation.scoring import naive_scale  # noqa: E402
from forecast.timeseries.registry import _LOG_SAMPLERS  # noqa: E402
from forecast.timeseries.samples import LOG_CAP_ABOVE_MAX, prepare  # noqa: E402

CANDIDATES = ("ets_damped", "arima", "loglinear", "bayes_llt", "theta", "naive", "drift")
N_DRAWS = 400
DRAWS = Path("/tmp/bench/member_draws.npz")


def _draw_chunk(folds: list[dict]) -> list[np.ndarray]:
    out = []
    for i, fold in enumerate(folds):
        train = fold["train"]
        data = prepare(pd.Series(train, index=2000 + np.arange(len(train))))
        h = len(fold["test"])
        draws = np.stack(
            [_LOG_SAMPLERS[m](data, h, N_DRAWS, np.random.default_rng([i, j]), {}) for j, m in enumerate(CANDIDATES)]
        )
        out.append(draws.astype(np.float32))
    return out


def draw(limit: int | None, jobs: int) -> None:
    from concurrent.futures import ProcessPoolExecutor

    folds = load_folds(limit)
    chunks = [folds[i::jobs] for i in range(jobs)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        parts = list(pool.map(_draw_chunk, chunks))
    draws = [None] * len(folds)
    for i in range(jobs):
        for k, d in enumerate(parts[i]):
            draws[i + k * jobs] = d
    meta = pd.DataFrame({k: [f[k] for f in folds] for k in ("dataset", "series", "regime")})
    arrays = {}
    for regime in REGIMES:
        for dataset in meta["dataset"].unique():
            sel = np.flatnonzero((meta["regime"] == regime) & (meta["dataset"] == dataset))
            key = f"{dataset}|{regime}"
            arrays[key + "|draws"] = np.stack([draws[i] for i in sel])
            arrays[key + "|test"] = np.stack([folds[i]["test"] for i in sel])
            arrays[key + "|scale"] = np.array([naive_scale(folds[i]["train"]) for i in sel])
            arrays[key + "|cap"] = np.array([np.log1p(folds[i]["train"].max()) + LOG_CAP_ABOVE_MAX for i in sel])
            arrays[key + "|n"] = np.array([len(folds[i]["train"]) for i in sel])
    DRAWS.parent.mkdir(parents=True, exist_ok=True)
    np.savez(DRAWS, **arrays)
    print(f"wrote {DRAWS}")


# --- evaluation of one configuration --------------------------------------------------------


def length_class(n: np.ndarray) -> np.ndarray:
    """History length classes of the band calibration: 3-5, 6-9, 10+ points."""
    return np.digitize(n, [6, 10])


def score(cell: dict, weights: np.ndarray, spread: np.ndarray | None) -> dict:
    """Scores of the mixture with ``weights`` and band scale ``spread[length_class, horizon]``."""
    draws = cell["draws"]  # (folds, members, N, h)
    counts = np.round(weights / weights.sum() * N_DRAWS).astype(int)
    pooled = np.concatenate([draws[:, m, :k] for m, k in enumerate(counts) if k > 0], axis=1)
    med = np.median(pooled, axis=1, keepdims=True)
    if spread is not None:
        h = pooled.shape[2]
        factor = spread[length_class(cell["n"])][:, None, :h]
        pooled = med + factor * (pooled - med)
    pooled = np.clip(pooled, 0.0, cell["cap"][:, None, None])
    q_levels = np.concatenate([TAUS, [0.025, 0.975]])
    q = np.expm1(np.quantile(pooled, q_levels, axis=1))  # (levels, folds, h)
    y = cell["test"][None]
    qt = q[: len(TAUS)]
    tau = TAUS[:, None, None]
    diff = y - qt
    crps = 2 * np.maximum(tau * diff, (tau - 1) * diff).mean(axis=0)
    scale = cell["scale"][:, None]
    ok = np.broadcast_to(scale > 0, crps.shape)
    med_raw = qt[len(TAUS) // 2]
    return {
        "MASE": float((np.abs(y[0] - med_raw) / np.where(scale > 0, scale, 1))[ok].mean()),
        "sCRPS": float((crps / np.where(scale > 0, scale, 1))[ok].mean()),
        "cov80": float(((qt[9] <= y[0]) & (y[0] <= qt[89]))[ok].mean()),
        "cov95": float(((q[-2] <= y[0]) & (y[0] <= q[-1]))[ok].mean()),
    }


def load() -> dict[tuple[str, str], dict]:
    """Cells keyed (set, regime); each data set also split into its even- and odd-numbered
    series (``M3/even``, ``M3/odd``, ...) so that one half can be learned on and the other checked."""
    raw = np.load(DRAWS)
    cells: dict[tuple[str, str], dict] = {}
    for key in raw.files:
        dataset, regime, what = key.split("|")
        value = raw[key].astype(float) if what == "draws" else raw[key]
        cells.setdefault((dataset, regime), {})[what] = value
        cells.setdefault((f"{dataset}/even", regime), {})[what] = value[0::2]
        cells.setdefault((f"{dataset}/odd", regime), {})[what] = value[1::2]
    return cells


def selection(learn_on: str, cells) -> tuple[list, list]:
    """(learning keys, held-out keys): ``M3`` -> learn on M3, check on Tourism; ``even`` -> learn
    on the even-numbered series of both sets, check on the odd-numbered ones."""
    if learn_on == "even":
        learn = [k for k in cells if k[0].endswith("/even")]
        held = [k for k in cells if k[0].endswith("/odd")]
    else:
        learn = [k for k in cells if k[0] == learn_on]
        held = [k for k in cells if "/" not in k[0] and k[0] != learn_on]
    return learn, held


def table(cells, weights, spread, keys=None) -> pd.DataFrame:
    keys = keys or [k for k in cells if "/" not in k[0]]
    rows = [{"dataset": d, "regime": r, **score(cells[(d, r)], weights, spread)} for d, r in keys]
    return pd.DataFrame(rows)


def objective(cells, keys, weights, spread) -> float:
    return float(np.mean([score(cells[k], weights, spread)["sCRPS"] for k in keys]))


def search_weights(cells, keys) -> np.ndarray:
    """Stacking: weights in units of 1/20 of the draws, moved one member to another while the mean
    scaled CRPS over ``keys`` falls (steps of 4, 2, then 1 unit)."""
    m = len(CANDIDATES)
    units = np.full(m, UNITS // m)
    units[: UNITS - units.sum()] += 1
    best = objective(cells, keys, units / UNITS, None)
    for step in (4, 2, 1):
        improved = True
        while improved:
            improved = False
            for i in range(m):
                for j in range(m):
                    if i == j or units[j] < step:
                        continue
                    cand = units.copy()
                    cand[i] += step
                    cand[j] -= step
                    val = objective(cells, keys, cand / UNITS, None)
                    if val < best - 1e-5:
                        units, best, improved = cand, val, True
    return units / UNITS


def search_spread(cells, keys, weights: np.ndarray, cls: int, horizons: int) -> np.ndarray:
    """Per horizon, the spread factor whose 80% and 95% bands cover closest to 80% and 95% of the
    learning set's points (least sum of absolute coverage errors)."""
    grid = np.round(np.arange(0.3, 1.51, 0.025), 3)
    out = np.ones(horizons)
    for h in range(horizons):
        subs = []
        for k in keys:
            c = cells[k]
            if c["draws"].shape[3] <= h:
                continue
            sub = dict(c)
            sub["draws"], sub["test"] = c["draws"][..., h : h + 1], c["test"][:, h : h + 1]
            subs.append((sub, len(c["test"])))
        if not subs:
            out[h] = out[h - 1]
            continue
        miss = []
        for f in grid:
            spread = np.full((3, 1), f)
            scores = [(score(s, weights, spread), n) for s, n in subs]
            total = sum(n for _, n in subs)
            cov80 = sum(sc["cov80"] * n for sc, n in scores) / total
            cov95 = sum(sc["cov95"] * n for sc, n in scores) / total
            miss.append(abs(cov80 - 0.80) + abs(cov95 - 0.95))
        out[h] = grid[int(np.argmin(miss))]
    return out


#: regime -> the history-length class its folds fall in (3-5, 6-9, 10+ points).
REGIME_CLASS = {"last4": 0, "last6": 1, "standard": 2}
UNITS = 20


def learn(learn_on: str) -> None:
    cells = load()
    keys, held = selection(learn_on, cells)
    m = len(CANDIDATES)
    print("members alone (all sets), sCRPS and MASE:")
    alone = pd.concat([table(cells, np.eye(m)[j], None).assign(member=name) for j, name in enumerate(CANDIDATES)])
    for metric in ("sCRPS", "MASE", "cov80"):
        print(alone.pivot_table(index="member", columns=["regime", "dataset"], values=metric).round(3))
    weights = np.zeros((3, m))
    spread = np.ones((3, 6))
    for regime, cls in REGIME_CLASS.items():
        rk = [k for k in keys if k[1] == regime]
        weights[cls] = search_weights(cells, rk)
        spread[cls] = search_spread(cells, rk, weights[cls], cls, 6)
        print(regime, "weights:", dict(zip(CANDIDATES, weights[cls].round(2).tolist(), strict=True)))
        print(regime, "spread:", spread[cls].tolist())
    print("WEIGHTS =", repr(weights.round(2)))
    print("SPREAD =", repr(spread))
    for label in ("equal weights, no scale", "learned weights, no scale", "learned weights and scale"):
        for name, ks in (("learned on (in-sample)", keys), ("held out", held)):
            rows = []
            for k in ks:
                cls = REGIME_CLASS[k[1]]
                w = np.full(m, 1.0 / m) if label.startswith("equal") else weights[cls]
                sp = spread if label.endswith("and scale") else None
                rows.append({"dataset": k[0], "regime": k[1], **score(cells[k], w, sp)})
            print(f"\n{label}, {name}:")
            print(pd.DataFrame(rows).round(3).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["draw", "learn"])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--learn-on", default="M3", help="M3, Tourism, or even (half of each set)")
    args = parser.parse_args()
    if args.step == "draw":
        draw(args.limit, args.jobs)
    else:
        learn(args.learn_on)


if __name__ == "__main__":
    main()
