"""Learn the ``combined`` forecaster's member weights and its band calibration profiles, and check
each on series it was not learned on.

    python benchmarks/learn_combination.py draw  [--limit N] [--draws F]   # member draws -> npz
    python benchmarks/learn_combination.py learn [--learn-on even] [--draws F]

``draw`` runs every candidate member of ``forecast.timeseries`` (400 log-scale draws each) on

- the folds of ``backtest_statsforecast.py``: M3 + Tourism yearly, regimes standard / last6 / last4;
- rolling-origin folds (4+ points of history, horizons 1..5, the years observed) of two independent
  sets of 300 drug-like simulated series (``forecast.evaluation.backtest.simulated_short_series``,
  seeds ``SIM_SEEDS``: ``simA`` to learn on, ``simB`` to check on), and
- the same rolling-origin folds of the real series of ``forecast backtest`` (base and latest
  vintage; checks only, never learned on).

``learn`` then searches:

1. mixture weights of the members per history length class (stacking: the least mean scaled CRPS
   of the pooled draws, steps of 1/20; regime last4 -> 3-5 points, last6 -> 6-9, standard -> 10+),
   on the even-numbered series of M3 + Tourism, checked on the odd-numbered ones;
2. per length class and horizon, the factor for the log-scale spread of the mixture around its
   median whose 80% and 95% bands cover closest to 80% and 95% (a conformal-style scale: the
   needed factor of a held-out point is ``|log1p(y) - median| / half-width`` of its band), learned
   separately for each *band profile* on its own family of series:
   ``m3_tourism`` on the even-numbered M3 + Tourism series (checked on the odd-numbered), and
   ``drug`` on the drug-like simulated set ``simA`` (checked on ``simB`` and on the real series).

It prints the constants to paste into ``forecast/timeseries/registry.py`` (with a comment naming
the run) and both halves' scores. ``learn`` also prints, per family and roughness of the history,
the factor each family would need: the evidence that one profile cannot serve both families.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from backtest_statsforecast import TAUS, load_folds  # noqa: E402

from forecast.evaluation.scoring import naive_scale  # noqa: E402
from forecast.timeseries.registry import _LOG_SAMPLERS, _ROUGHNESS_EDGES, COMBINED_MEMBERS  # noqa: E402
from forecast.timeseries.samples import LOG_CAP_ABOVE_MAX, prepare  # noqa: E402

CANDIDATES = ("ets_damped", "arima", "loglinear", "bayes_llt", "theta", "naive", "drift")
N_DRAWS = 400
DRAWS = Path("/tmp/bench/member_draws.npz")  # --draws overrides
SIM_SEEDS = {"simA": 12345, "simB": 54321}
N_SIM = 300
SHORT_HORIZON = 5
MAX_TRAIN_KEPT = 60
#: regime -> the history-length class its folds fall in (3-5, 6-9, 10+ points).
REGIME_CLASS = {"last4": 0, "last6": 1, "standard": 2}
UNITS = 20
N_HORIZONS = 6
FACTOR_GRID = np.round(np.arange(0.2, 1.601, 0.025), 3)
ROUGHNESS_EDGES = np.array(_ROUGHNESS_EDGES)
MIN_CELL_POINTS = 60
MIN_ROW_POINTS = 200


# --- draws ------------------------------------------------------------------------------------


def _fold_draws(train: pd.Series, h: int, key) -> np.ndarray:
    data = prepare(train)
    return np.stack(
        [_LOG_SAMPLERS[m](data, h, N_DRAWS, np.random.default_rng([*key, j]), {}) for j, m in enumerate(CANDIDATES)]
    ).astype(np.float32)


def _draw_chunk(folds: list[dict]) -> list[np.ndarray]:
    out = []
    for fold in folds:
        train = fold["train"]
        series = pd.Series(train, index=2000 + np.arange(len(train)))
        out.append(_fold_draws(series, len(fold["test"]), fold["key"]))
    return out


def rolling_folds(series_list: list[pd.Series], label: str) -> list[dict]:
    """Origins from the 4th observed year on; the next 5 years, NaN where not observed."""
    folds = []
    for k, s in enumerate(series_list):
        s = s.dropna().sort_index()
        years, values = s.index.to_numpy(int), s.to_numpy(float)
        for i in range(3, len(s) - 1):
            origin, test = years[i], np.full(SHORT_HORIZON, np.nan)
            ahead = (years > origin) & (years <= origin + SHORT_HORIZON)
            test[years[ahead] - origin - 1] = values[ahead]
            folds.append(
                {"dataset": label, "series": str(k), "regime": "all", "train_series": s.iloc[: i + 1], "test": test}
            )
    return folds


def drug_series() -> dict[str, list[pd.Series]]:
    """The real series ``forecast backtest`` runs on (>= 5 points), per vintage (checks only)."""
    from forecast.data.dataset import load_dataset
    from forecast.scenarios.forecasts import series_table

    out = {}
    for vintage, label in (("base", "realbase"), (None, "reallatest")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = series_table(load_dataset(None, vintage))
        out[label] = [
            pd.Series(g.value.to_numpy(float), index=g.year.to_numpy(int))
            for (_, indicator), g in table.groupby(["country", "indicator"])
            if len(g) >= 5 and not indicator.startswith("true_")
        ]
    return out


def _draw_rolling_chunk(folds: list[dict]) -> list[np.ndarray]:
    return [_fold_draws(f["train_series"], SHORT_HORIZON, f["key"]) for f in folds]


def draw(limit: int | None, jobs: int) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from forecast.evaluation.backtest import simulated_short_series

    folds = load_folds(limit)
    for i, f in enumerate(folds):
        f["key"] = (0, i)
    rolling = []
    for label, seed in SIM_SEEDS.items():
        rolling += rolling_folds(simulated_short_series(N_SIM, np.random.default_rng(seed)), label)
    for label, series in drug_series().items():
        rolling += rolling_folds(series, label)
    for i, f in enumerate(rolling):
        f["key"] = (1, i)
        f["train"] = f["train_series"].to_numpy(float)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        parts = list(pool.map(_draw_chunk, [folds[i::jobs] for i in range(jobs)]))
        parts_r = list(pool.map(_draw_rolling_chunk, [rolling[i::jobs] for i in range(jobs)]))
    draws = [None] * len(folds)
    draws_r = [None] * len(rolling)
    for i in range(jobs):
        for k, d in enumerate(parts[i]):
            draws[i + k * jobs] = d
        for k, d in enumerate(parts_r[i]):
            draws_r[i + k * jobs] = d
    all_folds, all_draws = folds + rolling, draws + draws_r
    meta = pd.DataFrame({k: [f[k] for f in all_folds] for k in ("dataset", "series", "regime")})
    arrays = {}
    for (dataset, regime), sel in meta.groupby(["dataset", "regime"], sort=False).indices.items():
        key = f"{dataset}|{regime}"
        cell = [all_folds[i] for i in sel]
        arrays[key + "|draws"] = np.stack([all_draws[i] for i in sel])
        arrays[key + "|test"] = np.stack([f["test"] for f in cell])
        arrays[key + "|scale"] = np.array([naive_scale(f["train"]) for f in cell])
        arrays[key + "|cap"] = np.array([np.log1p(f["train"].max()) + LOG_CAP_ABOVE_MAX for f in cell])
        arrays[key + "|n"] = np.array([len(f["train"]) for f in cell])
        width = min(MAX_TRAIN_KEPT, max(len(f["train"]) for f in cell))
        arrays[key + "|train"] = np.stack(
            [np.pad(f["train"][-width:], (width - len(f["train"][-width:]), 0), constant_values=np.nan) for f in cell]
        )
    DRAWS.parent.mkdir(parents=True, exist_ok=True)
    np.savez(DRAWS, **arrays)
    print(f"wrote {DRAWS}: {len(folds)} competition folds, {len(rolling)} drug-like / real rolling-origin folds")


# --- evaluation of one configuration ----------------------------------------------------------


def length_class(n: np.ndarray) -> np.ndarray:
    """History length classes of the registry: 3-5, 6-9, 10+ points."""
    return np.digitize(n, [6, 10])


def _pool(draws: np.ndarray, weights: np.ndarray) -> np.ndarray:
    exact = N_DRAWS * np.asarray(weights, dtype=float) / np.sum(weights)
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact)[: N_DRAWS - counts.sum()]] += 1  # largest remainder, as the registry
    return np.concatenate([draws[:, m, :k] for m, k in enumerate(counts) if k > 0], axis=1)


def pooled_draws(cell: dict, weights: np.ndarray) -> np.ndarray:
    """The mixture's log draws per fold; ``weights`` is one row, or one row per length class."""
    weights = np.atleast_2d(weights)
    if len(weights) == 1:
        return _pool(cell["draws"], weights[0])
    cls = length_class(cell["n"])
    out = np.empty((len(cls), N_DRAWS, cell["draws"].shape[3]))
    for k in np.unique(cls):
        sel = cls == k
        out[sel] = _pool(cell["draws"][sel], weights[k])
    return out


def factors_of(cell: dict, spread: np.ndarray | None) -> np.ndarray | None:
    """Per fold and horizon, the profile's factor (horizons past the last column use the last)."""
    if spread is None:
        return None
    h = cell["test"].shape[1]
    cols = np.minimum(np.arange(h), spread.shape[-1] - 1)
    if spread.ndim == 2:
        return spread[length_class(cell["n"])][:, cols]
    return spread[length_class(cell["n"]), roughness_class(cell["train"])][:, cols]


def point_scores(cell: dict, weights: np.ndarray, spread: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per held-out point (observed, scale > 0): scaled CRPS, scaled AE, cover 80 / 95."""
    pooled = pooled_draws(cell, weights)
    med = np.median(pooled, axis=1, keepdims=True)
    factor = factors_of(cell, spread)
    if factor is not None:
        pooled = med + factor[:, None, :] * (pooled - med)
    pooled = np.clip(pooled, 0.0, cell["cap"][:, None, None])
    q = np.expm1(np.quantile(pooled, np.concatenate([TAUS, [0.025, 0.975]]), axis=1))  # (levels, folds, h)
    y = cell["test"]
    qt = q[: len(TAUS)]
    diff = y[None] - qt
    crps = 2 * np.maximum(TAUS[:, None, None] * diff, (TAUS[:, None, None] - 1) * diff).mean(axis=0)
    scale = np.broadcast_to(cell["scale"][:, None], y.shape)
    ok = np.isfinite(y) & (scale > 0)
    s = np.where(scale > 0, scale, 1.0)
    return {
        "sCRPS": (crps / s)[ok],
        "MASE": (np.abs(y - qt[len(TAUS) // 2]) / s)[ok],
        "cov80": ((qt[9] <= y) & (y <= qt[89]))[ok],
        "cov95": ((q[-2] <= y) & (y <= q[-1]))[ok],
    }


def score(cell: dict, weights: np.ndarray, spread: np.ndarray | None) -> dict:
    pts = point_scores(cell, weights, spread)
    return {k: float(v.mean()) for k, v in pts.items()} | {"points": len(pts["sCRPS"])}


def needed_factors(cell: dict, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per fold and horizon, the factor a point needs to fall inside the 80% / 95% band
    (|log1p(y) - median| over the band's half-width on that side); NaN where y is not observed."""
    pooled = pooled_draws(cell, weights)
    q = np.quantile(pooled, [0.025, 0.1, 0.5, 0.9, 0.975], axis=1)
    d = np.log1p(cell["test"]) - q[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        z80 = np.where(d >= 0, d / (q[3] - q[2]), -d / (q[2] - q[1]))
        z95 = np.where(d >= 0, d / (q[4] - q[2]), -d / (q[2] - q[0]))
    bad = ~np.isfinite(cell["test"]) | ~(np.broadcast_to(cell["scale"][:, None], d.shape) > 0)
    z80[bad], z95[bad] = np.nan, np.nan
    return z80, z95


def best_factor(z80: np.ndarray, z95: np.ndarray) -> float:
    """The grid factor whose 80% and 95% bands cover closest to 80% and 95% of these points."""
    z80, z95 = z80[np.isfinite(z80)], z95[np.isfinite(z95)]
    if len(z80) == 0:
        return np.nan
    miss = [abs((z80 <= f).mean() - 0.80) + abs((z95 <= f).mean() - 0.95) for f in FACTOR_GRID]
    return float(FACTOR_GRID[int(np.argmin(miss))])


def load() -> dict[tuple[str, str], dict]:
    """Cells keyed (set, regime); M3 and Tourism also split into their even- and odd-numbered
    series (``M3/even``, ``M3/odd``, ...) so that one half can be learned on and the other checked."""
    raw = np.load(DRAWS)
    cells: dict[tuple[str, str], dict] = {}
    for key in raw.files:
        dataset, regime, what = key.split("|")
        value = raw[key].astype(float) if what == "draws" else raw[key]
        cells.setdefault((dataset, regime), {})[what] = value
        if dataset in ("M3", "Tourism"):
            cells.setdefault((f"{dataset}/even", regime), {})[what] = value[0::2]
            cells.setdefault((f"{dataset}/odd", regime), {})[what] = value[1::2]
    return cells


def objective(cells, keys, weights, spread) -> float:
    pts = [point_scores(cells[k], weights, spread)["sCRPS"] for k in keys]
    return float(np.mean([p.mean() for p in pts]))


def search_weights(cells, keys, spread: np.ndarray | None = None, start: np.ndarray | None = None) -> np.ndarray:
    """Stacking: weights in units of 1/20 of the draws, moved one member to another while the mean
    scaled CRPS over ``keys`` (bands scaled by ``spread``) falls (steps of 4, 2, then 1 unit)."""
    m = len(CANDIDATES)
    units = np.full(m, UNITS // m)
    units[: UNITS - units.sum()] += 1
    if start is not None:
        units = np.round(np.asarray(start) * UNITS).astype(int)
    best = objective(cells, keys, units / UNITS, spread)
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
                    val = objective(cells, keys, cand / UNITS, spread)
                    if val < best - 1e-5:
                        units, best, improved = cand, val, True
    return units / UNITS


def learn_profile(cells, keys, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(factors per (length class, roughness class, horizon), the factor of each (length, roughness)
    row with its horizons pooled, the row's number of points), from the needed factors of every point
    of ``keys`` (``weights``: one row per length class). A horizon with fewer than
    ``MIN_CELL_POINTS`` points takes its row's pooled factor; NaN where the row has too few too."""
    z = {k: needed_factors(cells[k], weights) for k in keys}
    groups = {k: (length_class(cells[k]["n"]), roughness_class(cells[k]["train"])) for k in keys}
    spread = np.full((3, len(ROUGHNESS_EDGES) + 1, N_HORIZONS), np.nan)
    pooled, count = np.full(spread.shape[:2], np.nan), np.zeros(spread.shape[:2], dtype=int)
    for cls, rough in np.ndindex(spread.shape[:2]):
        per_h = []
        for h in range(N_HORIZONS):
            z80, z95 = [], []
            for k in keys:
                sel = (groups[k][0] == cls) & (groups[k][1] == rough)
                if z[k][0].shape[1] > h and sel.any():
                    z80.append(z[k][0][sel, h])
                    z95.append(z[k][1][sel, h])
            per_h.append((np.concatenate(z80), np.concatenate(z95)) if z80 else (np.array([]), np.array([])))
        all80 = np.concatenate([a for a, _ in per_h])
        all95 = np.concatenate([b for _, b in per_h])
        count[cls, rough] = np.isfinite(all80).sum()
        pooled[cls, rough] = best_factor(all80, all95) if count[cls, rough] >= MIN_CELL_POINTS else np.nan
        for h, (z80, z95) in enumerate(per_h):
            enough = np.isfinite(z80).sum() >= MIN_CELL_POINTS
            spread[cls, rough, h] = best_factor(z80, z95) if enough else pooled[cls, rough]
    return spread, pooled, count


def combine_profiles(*learned: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per (length, roughness) row, the row of the family that needs the widest bands there (its
    horizons pooled), among the families with at least ``MIN_ROW_POINTS`` points in the row (else
    the family with the most points): never narrower than a well-measured family needs, and each row
    from one family, so that bands keep widening with the horizon. Returns (profile, the index of
    the family each row comes from)."""
    out = np.full(learned[0][0].shape, np.nan)
    source = np.zeros(out.shape[:2], dtype=int)
    for cls, rough in np.ndindex(out.shape[:2]):
        counts = np.array([c[cls, rough] for _, _, c in learned])
        factors = np.array([p[cls, rough] for _, p, _ in learned])
        ok = (counts >= MIN_ROW_POINTS) & np.isfinite(factors)
        if ok.any():
            pick = int(np.nanargmax(np.where(ok, factors, np.nan)))
        else:
            pick = int(np.argmax(counts))
        out[cls, rough] = learned[pick][0][cls, rough]
        source[cls, rough] = pick
    return fill_gaps(out), source


def fill_gaps(spread: np.ndarray) -> np.ndarray:
    out = spread.copy()
    for row in out.reshape(-1, out.shape[-1]):
        done = np.flatnonzero(~np.isnan(row))
        for h in np.flatnonzero(np.isnan(row)):
            row[h] = row[done[np.argmin(np.abs(done - h))]] if len(done) else 1.0
    return out


def roughness_class(train: np.ndarray) -> np.ndarray:
    """Row of the band profile's second axis, as ``registry.roughness_class`` (NaN-padded rows)."""
    return np.digitize(roughness(train), ROUGHNESS_EDGES)


def roughness(train: np.ndarray) -> np.ndarray:
    """Mean absolute second difference of log1p(history), per row (NaN-padded on the left)."""
    d2 = np.diff(np.log1p(train), n=2, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nan_to_num(np.nanmean(np.abs(d2), axis=1))


def family_table(cells, weights) -> pd.DataFrame:
    """The factor each family needs for its 80/95% bands, per length class and roughness."""
    edges = list(ROUGHNESS_EDGES)
    rows = []
    for (dataset, _regime), cell in cells.items():
        if "/" in dataset:
            continue
        z80, z95 = needed_factors(cell, weights)
        cls, r = length_class(cell["n"]), np.digitize(roughness(cell["train"]), edges)
        family = {"M3": "M3", "Tourism": "Tourism", "simA": "drug-like sim", "simB": "drug-like sim"}.get(dataset)
        family = family or "real drug series"
        for c in np.unique(cls):
            for b in np.unique(r):
                sel = (cls == c) & (r == b)
                rows.append({"family": family, "class": int(c), "roughness": f">= {([0, *edges])[b]}",
                             "z80": z80[sel].ravel(), "z95": z95[sel].ravel()})  # fmt: skip
    df = pd.DataFrame(rows)
    out = []
    for (fam, c, rb), g in df.groupby(["family", "class", "roughness"]):
        z80, z95 = np.concatenate(list(g.z80)), np.concatenate(list(g.z95))
        n = int(np.isfinite(z80).sum())
        if n >= 30:
            out.append(
                {"family": fam, "class": c, "roughness": rb, "points": n, "needed factor": best_factor(z80, z95)}
            )
    return pd.DataFrame(out).pivot_table(index=["class", "roughness"], columns="family", values="needed factor")


def checks(cells, weights, profiles: dict[str, np.ndarray | None]) -> pd.DataFrame:
    """Scores of the mixture under each profile, per set: M3 + Tourism pooled per regime and half
    (even = learned on, odd = held out), the drug-like sets simA (learned on) and simB, the real series."""
    points = []
    for (dataset, regime), cell in cells.items():
        if dataset in ("M3", "Tourism"):
            continue
        group = f"M3+Tourism {dataset.split('/')[1]}" if "/" in dataset else dataset
        w = weights[REGIME_CLASS[regime]] if regime in REGIME_CLASS else weights
        for name, spread in profiles.items():
            pts = point_scores(cell, w, spread)
            points.append(pd.DataFrame(pts).assign(set=group, regime=regime, profile=name))
    df = pd.concat(points, ignore_index=True)
    out = df.groupby(["set", "regime", "profile"], sort=False)[["MASE", "sCRPS", "cov80", "cov95"]].mean()
    return out.assign(points=df.groupby(["set", "regime", "profile"], sort=False).size()).reset_index()


def learn(learn_on: str, joint: bool) -> None:
    cells = load()
    m = len(CANDIDATES)
    even = (
        [k for k in cells if k[0].endswith("/even")] if learn_on == "even" else [k for k in cells if k[0] == learn_on]
    )
    weights = np.zeros((3, m))
    for regime, cls in REGIME_CLASS.items():
        weights[cls] = search_weights(cells, [k for k in even if k[1] == regime])
        print(regime, "weights:", dict(zip(CANDIDATES, weights[cls].round(2).tolist(), strict=True)))
    competition = learn_profile(cells, even, weights)
    drug_like = learn_profile(cells, [("simA", "all")], weights)
    if joint:  # once more: the weights with the least CRPS once the bands are calibrated, then the bands
        default, _ = combine_profiles(competition, drug_like)
        for regime, cls in REGIME_CLASS.items():
            weights[cls] = search_weights(cells, [k for k in even if k[1] == regime], default, weights[cls])
            print(
                regime,
                "weights (calibrated bands):",
                dict(zip(CANDIDATES, weights[cls].round(2).tolist(), strict=True)),
            )
        competition = learn_profile(cells, even, weights)
        drug_like = learn_profile(cells, [("simA", "all")], weights)
    members = [CANDIDATES.index(x) for x in COMBINED_MEMBERS]
    if weights[:, [j for j in range(m) if j not in members]].sum() > 0:
        print("note: a member outside registry.COMBINED_MEMBERS got weight; extend COMBINED_MEMBERS")
    print("points per (length class, roughness class): M3 + Tourism even", competition[2].tolist(),
          "drug-like simA", drug_like[2].tolist())  # fmt: skip
    profiles: dict[str, np.ndarray | None] = {
        "none": None,
        "m3_tourism": fill_gaps(competition[0]),
        "drug": fill_gaps(drug_like[0]),
    }
    profiles["default"], source = combine_profiles(competition, drug_like)
    np.set_printoptions(linewidth=140)
    print("COMBINED_WEIGHTS =", repr(weights[:, members].round(2)))
    for name in ("default", "m3_tourism", "drug"):
        print(f"{name} band profile =", repr(profiles[name]))
    print("DEFAULT_BANDS_SOURCE =", [[("m3_tourism", "drug")[i] for i in row] for row in source.tolist()])
    print("\nfactor each family needs (80/95% bands; rows: length class, roughness of the history):")
    print(family_table(cells, weights).round(3).to_string())
    table = checks(cells, weights, profiles)
    print("\nchecks (M3/Tourism: even = learned on, odd = held out; simA learned on for 'drug'; simB, real: held out):")
    print(table.round(3).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["draw", "learn"])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--learn-on", default="even", help="M3, Tourism, or even (half of each set)")
    parser.add_argument("--draws", default=str(DRAWS), help="the member draws (npz) written by `draw`")
    parser.add_argument("--joint", action="store_true", help="re-learn the weights with the bands calibrated")
    args = parser.parse_args()
    globals()["DRAWS"] = Path(args.draws)
    if args.step == "draw":
        draw(args.limit, args.jobs)
    else:
        learn(args.learn_on, args.joint)


if __name__ == "__main__":
    main()
