"""Validation of the prevalence synthesis against known truth (simulation-based calibration).

    nice .venv/bin/python benchmarks/sbc.py        # ~25 min on 2 cores; writes benchmarks/results/sbc.md
    .venv/bin/python benchmarks/sbc.py --n 4 --n-bias 2 --exact 2 --draws 200 --skip-timing --out /tmp/s.md

1. Coverage: ``--n`` datasets simulated from the model's own generative process with the layout of
   the embedded evidence (forecast/prevalence/simulate.py); the model, compiled once, is refitted
   to each (``with_data``). For every reported (target, country, year) cell: does the central
   50/80/90/95% posterior interval of log(true count) cover the truth, and where does the truth
   rank among thinned posterior draws. A calibrated model covers 90% of truths with its 90%
   intervals; the target band is 85-95%.
2. Biased source and biased method: in the first ``--n-bias`` datasets one figure (cycling over the multipliers and
   the point size estimates, ``bias_items``) is multiplied by ``--bias`` (x4) and refitted; how
   often does ``conflict_table`` flag it (tail probability < 0.05), against how often it flags the
   same item unbiased, split by whether the unbiased fit's expected range for the figure made the
   bias noticeable at all. In the first ``--n-method`` datasets every figure of ``--method`` is
   given a bias ``--method-sd`` prior sds above its prior mean: is the method flagged in
   method_biases.csv (forecast/prevalence/methods.py), and is the planted factor covered?
3. Exact SBC: ``--exact`` more datasets without rejecting absurd prior draws, so the data come
   from exactly the prior the model uses (the main pass rejects absurd draws, see simulate.py).
4. Fit time: cold (a fresh interpreter running ``forecast estimate`` end to end, compilation
   included) and warm (sampling only, compiled model reused), on the embedded data.

Sampler settings default to models/prevalence.toml (what users get). Nothing here is tuned to
pass: the numbers are what the model does.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecast.core.diagnostics import ESS_MIN, RHAT_MAX, diagnostics_table, verdict  # noqa: E402
from forecast.core.errors import InputError  # noqa: E402
from forecast.core.parallel import check_jobs, check_scheduler, default_scheduler, map_jobs  # noqa: E402
from forecast.data.dataset import load_dataset  # noqa: E402
from forecast.prevalence import DIAGNOSED  # noqa: E402
from forecast.prevalence.conflict import conflict_table  # noqa: E402
from forecast.prevalence.inputs import prepare  # noqa: E402
from forecast.prevalence.methods import method_bias_table  # noqa: E402
from forecast.prevalence.model import build_model  # noqa: E402
from forecast.prevalence.sampler import compile_model, fit  # noqa: E402
from forecast.prevalence.simulate import (  # noqa: E402
    HYPERPARAMETERS,  # noqa: E402
    calibration_table,
    inject_bias,
    inject_method_bias,
    refit,
    simulate,
)

LEVELS = (0.5, 0.8, 0.9, 0.95)
N_RANKS = 99
RANK_BINS = 10
SCALARS = HYPERPARAMETERS  # whose SBC ranks are checked (independent across datasets)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def diagnose(idata) -> tuple[bool, bool, str]:
    """(all checks pass, log_true alone passes, first failure message)."""
    table = diagnostics_table(idata, [v for v in DIAGNOSED if v in idata.posterior], model="sbc")
    v = verdict(table)
    lt = table[table.variable == "log_true"]
    return v.passed, bool(lt["pass"].all()), (v.messages[0] if v.messages else "")


def scalar_ranks(idata, sim, targets) -> dict[str, int]:
    """SBC rank of each scalar hyperparameter of one dataset."""
    out = {}
    for name in SCALARS:
        post = idata.posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
        thin = post[np.linspace(0, len(post) - 1, N_RANKS).round().astype(int)]
        out[name] = int((thin < np.asarray(sim.latent[name])).sum())
    return out


def bias_items(inputs) -> list[str]:
    """Where a bias is planted: every multiplier (each the only figure of its method) and every
    point size estimate (rapid assessments: six figures of one method, so the method's bias is
    pinned by the other five and one figure off can stand out)."""
    ev = inputs.evidence
    keep = (ev.quantity == "multiplier") | ((ev.quantity == "size") & (ev.bound == "point"))
    return ev.loc[keep, "evidence_id"].tolist()


def flagged(conflicts: pd.DataFrame, item: str) -> tuple[bool, float]:
    row = conflicts.set_index("evidence_id").loc[item]
    return bool("CONFLICT" in row.flag and row.tail_probability < 0.05), float(row.tail_probability)


def time_cold(seed: int) -> tuple[float, int]:
    """Wall time of ``forecast estimate`` in a fresh interpreter (imports + compile + sample + write)."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        code = "import sys; from forecast.cli import main; sys.argv[0] = 'forecast'; main()"
        proc = subprocess.run(
            [sys.executable, "-c", code, "estimate", "--out", out, "--seed", str(seed)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        return time.perf_counter() - t0, proc.returncode


def fit_one(task: tuple) -> dict:
    """One dataset of an SBC pass, refitted (and refitted again with one item biased): a task of
    ``forecast.core.parallel.map_jobs``, so a pass runs in this process, on local workers or on a
    Dask cluster with the same numbers (the model is compiled in the task: 5 ms, numba's disk cache)."""
    i, sim, cfg, seed, item, bias, plant = task
    compiled = compile_model(sim.inputs)
    targets = sim.inputs.targets
    t0 = time.perf_counter()
    idata = refit(sim, compiled, seed=seed, config=cfg)
    fit_s = time.perf_counter() - t0
    ok, ok_log_true, why = diagnose(idata)
    cal = calibration_table(idata, sim, LEVELS, N_RANKS).assign(dataset=i, passed=ok)
    conf = conflict_table(idata, sim.inputs)
    flags = [
        {
            "dataset": i,
            "evidence_id": r.evidence_id,
            "quantity": r.quantity,
            "flagged": "CONFLICT" in r.flag and r.tail_probability < 0.05,
            "tail_probability": r.tail_probability,
        }
        for _, r in conf.iterrows()
    ]
    fit_row = {
        "dataset": i,
        "fit_s": fit_s,
        "passed": ok,
        "log_true_passed": ok_log_true,
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "why": why,
        "coverage_90": cal.covered_90.mean(),
        "between_source_sd": float(sim.latent["between_source_sd"]),
    }
    msg = f"{i}: {fit_s:.0f} s, {'ok' if ok else 'FAILED ' + why}, cover90 {cal.covered_90.mean():.2f}"
    bias_row = None
    if item is not None:
        biased = inject_bias(sim, item, bias)
        b_idata = refit(biased, compiled, seed=seed, config=cfg)
        b_ok, _, _ = diagnose(b_idata)
        hit, tail = flagged(conflict_table(b_idata, biased.inputs), item)
        base_hit, base_tail = flagged(conf, item)
        base = conf.set_index("evidence_id").loc[item]
        figure = math.exp(float(sim.inputs.evidence.set_index("evidence_id").log_mu[item]))
        planted = figure * bias
        bias_row = {
            "dataset": i,
            "item": item,
            "method": base.method,
            # the unbiased fit's range for the figure (leaving it out): outside it, a planted
            # figure can be flagged; inside it, the rest of the evidence cannot tell
            "noticeable": bool(planted > base.expected_high or planted < base.expected_low),  # nan: open side
            "room": base.expected_high / figure,
            "biased_flagged": hit,
            "biased_tail": tail,
            "unbiased_flagged": base_hit,
            "unbiased_tail": base_tail,
            "biased_fit_passed": b_ok,
        }
        msg += f"; bias x{bias:g} on {item}: flagged {hit} (tail {tail:.3f}) vs unbiased {base_hit}"
    method_row = None
    if plant is not None:
        method, k = plant
        mean, sd = sim.inputs.config.method_bias[method]
        planted = inject_method_bias(sim, method, mean + k * sd)
        m_idata = refit(planted, compiled, seed=seed, config=cfg)
        m_ok, _, _ = diagnose(m_idata)
        got = method_bias_table(m_idata, planted.inputs).set_index("method").loc[method]
        base = method_bias_table(idata, sim.inputs).set_index("method").loc[method]
        method_row = {
            "dataset": i,
            "method": method,
            "k_sd": k,
            "planted_factor": math.exp(mean + k * sd),
            "flagged": bool(got.flag),
            "covered_90": bool(got.lo_90 <= math.exp(mean + k * sd) <= got.hi_90),
            "factor": got.factor,
            "narrowed": got.narrowed,
            "unbiased_flagged": bool(base.flag),
            "planted_fit_passed": m_ok,
        }
        msg += f"; {method} planted at +{k:g} sd (x{math.exp(mean + k * sd):.3g}): flagged {bool(got.flag)}"
    scalars = {"dataset": i, **scalar_ranks(idata, sim, targets)}
    return {
        "cells": cal,
        "fit": fit_row,
        "scalars": scalars,
        "flags": flags,
        "bias": bias_row,
        "method": method_row,
        "msg": msg,
    }


def sbc_pass(batch, cfg, args, label: str, items: list[str] = (), n_bias: int = 0, n_method: int = 0) -> dict:
    """Refit every dataset of ``batch`` (``--jobs`` local processes, or the Dask cluster at
    ``--scheduler``); calibration, diagnostics, conflict flags (and the bias experiments)."""
    t_loop = time.perf_counter()
    ks = args.method_sd
    tasks = [
        (
            i,
            sim,
            cfg,
            args.seed + i,
            items[i % len(items)] if i < n_bias else None,
            args.bias,
            (args.method, ks[i % len(ks)]) if i < n_method else None,
        )
        for i, sim in enumerate(batch.datasets)
    ]
    where = f"on the Dask cluster at {args.scheduler}" if args.scheduler else f"on {args.jobs} process(es)"
    log(f"{label}s: refitting {len(tasks)} datasets {where}")
    done = map_jobs(fit_one, tasks, jobs=args.jobs, backend=args.scheduler)
    for d in done:
        log(f"{label} {d['msg']}")
    return {
        "cells": pd.concat([d["cells"] for d in done], ignore_index=True),
        "fits": pd.DataFrame([d["fit"] for d in done]),
        "scalars": pd.DataFrame([d["scalars"] for d in done]),
        "bias": pd.DataFrame([d["bias"] for d in done if d["bias"] is not None]),
        "method": pd.DataFrame([d["method"] for d in done if d["method"] is not None]),
        "flags": pd.DataFrame([f for d in done for f in d["flags"]]),
        "attempted": batch.attempted,
        "rejected": batch.rejected,
        "loop_s": time.perf_counter() - t_loop,
    }


def run(args) -> dict:
    res: dict = {"started": dt.datetime.now().isoformat(timespec="seconds")}
    inputs = prepare(load_dataset())
    cfg = inputs.config
    sbc_cfg = dataclasses.replace(
        cfg, draws=args.draws or cfg.draws, tune=args.tune or cfg.tune, chains=args.chains or cfg.chains
    )
    res["sampler"] = (sbc_cfg.chains, sbc_cfg.draws, sbc_cfg.tune, sbc_cfg.target_accept)
    res["default_sampler"] = f"{cfg.chains} x {cfg.draws} + {cfg.tune} tune"
    res["evidence_cells"] = {(r.target, r.country, int(r.year)) for r in inputs.evidence.itertuples()}
    model = build_model(inputs)

    t0 = time.perf_counter()
    compiled = compile_model(inputs)
    res["compile_s"] = time.perf_counter() - t0
    log(f"compiled in {res['compile_s']:.0f} s")

    if not args.skip_timing:
        res["load_before_timing"] = os.getloadavg()
        res["cold_s"], res["cold_exit"] = time_cold(args.seed)
        log(f"cold forecast estimate: {res['cold_s']:.0f} s (exit {res['cold_exit']})")
        warm = []
        for s in range(args.seed, args.seed + 2):
            t0 = time.perf_counter()
            fit(inputs, seed=s, progress=False, compiled=compiled)
            warm.append(time.perf_counter() - t0)
        res["warm_s"] = warm
        log(f"warm sampling (default settings): {', '.join(f'{w:.0f} s' for w in warm)}")

    batch = simulate(inputs, n=args.n, seed=args.seed, model=model, reject=not args.no_reject)
    log(f"simulated {args.n} datasets: {batch.attempted} prior draws, rejected {batch.rejected}")
    res["main"] = sbc_pass(batch, sbc_cfg, args, "dataset", bias_items(inputs), args.n_bias, args.n_method)
    if args.exact:
        exact = simulate(inputs, n=args.exact, seed=args.seed + 1, model=model, reject=False)
        res["exact"] = sbc_pass(exact, sbc_cfg, args, "exact")
    res["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    return res


def markdown(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A pipe table (no tabulate dependency)."""

    def cell(v):
        return format(v, floatfmt) if isinstance(v, float | np.floating) else str(v)

    rows = [" | ".join(map(str, df.columns)), " | ".join("---" for _ in df.columns)]
    rows += [" | ".join(cell(v) for v in r) for r in df.itertuples(index=False)]
    return "\n".join(f"| {r} |" for r in rows)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _cluster_ci(cells: pd.DataFrame, col: str, reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of a coverage, resampling whole datasets (cells of one dataset share a draw)."""
    per = cells.groupby("dataset")[col].agg(["sum", "count"])
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(per), size=(reps, len(per)))
    covs = per["sum"].to_numpy()[idx].sum(axis=1) / per["count"].to_numpy()[idx].sum(axis=1)
    return tuple(np.quantile(covs, [0.025, 0.975]))


def _uniformity(ranks: np.ndarray) -> tuple[list[int], float]:
    counts = np.histogram(ranks, bins=RANK_BINS, range=(-0.5, N_RANKS + 0.5))[0]
    return counts.tolist(), float(stats.chisquare(counts).pvalue)


def ecdf_band(ranks: np.ndarray, reps: int = 4000, alpha: float = 0.05, seed: int = 0) -> tuple[bool, float, float]:
    """Simultaneous ECDF test of uniform ranks (in the spirit of Säilynoja, Bürkner & Vehtari 2022,
    Stat Comput 32:32): the largest gap between the ranks' ECDF and the uniform CDF over 0..N_RANKS,
    against the (1 - alpha) quantile of that gap in ``reps`` samples of the same size drawn uniform.
    A band of that half-width around the uniform CDF holds the whole ECDF with probability
    1 - alpha under calibration. Returns (inside the band, largest gap, band half-width)."""
    grid = np.arange(N_RANKS + 1)
    cdf = (grid + 1) / (N_RANKS + 1)

    def gap(r):
        return np.abs(np.searchsorted(np.sort(r), grid, side="right") / len(r) - cdf).max()

    rng = np.random.default_rng(seed)
    null = np.array([gap(rng.integers(0, N_RANKS + 1, len(ranks))) for _ in range(reps)])
    width = float(np.quantile(null, 1 - alpha))
    observed = float(gap(np.asarray(ranks)))
    return observed <= width, observed, width


def one_cell_per_dataset(cells: pd.DataFrame, target: str, seed: int = 0) -> np.ndarray:
    """The rank of one reported cell drawn at random from each dataset: independent across datasets,
    so uniform under calibration without the within-dataset correlation that pooling all cells has."""
    rng = np.random.default_rng(seed)
    g = cells[cells.target == target].groupby("dataset")
    return np.array([grp["rank"].to_numpy()[rng.integers(len(grp))] for _, grp in g])


def coverage_table(cells: pd.DataFrame, by: list[str] | None) -> pd.DataFrame:
    """Coverage at each level, a dataset-clustered CI for 90%, and the bias of the posterior median."""
    groups = [("all", cells)] if not by else list(cells.groupby(by))
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        row = {"group": " / ".join(map(str, key)), "cells": len(g)}
        for level in LEVELS:
            row[f"{round(level * 100)}%"] = _pct(g[f"covered_{round(level * 100)}"].mean())
        lo, hi = _cluster_ci(g, "covered_90")
        row["90% CI (bootstrap over datasets)"] = f"{_pct(lo)}-{_pct(hi)}"
        err = g["median"] - g["log_true"]
        row["median - truth (log)"] = f"{err.mean():+.3f}"
        row["posterior sd (log)"] = f"{g['sd'].mean():.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


def _diagnostics_lines(fits: pd.DataFrame) -> list[str]:
    diverged = fits.divergences[fits.divergences > 0]
    lines = [
        f"- {int((~fits.passed).sum())} of {len(fits)} fits failed at least one check (R-hat <= {RHAT_MAX}, bulk and "
        f"tail ESS >= {ESS_MIN}, no divergences) over all parameters; {int((~fits.log_true_passed).sum())} failed "
        f"on log_true itself (R-hat/ESS); {int((fits.divergences > 0).sum())} had divergences "
        f"(total {int(diverged.sum())}, median {diverged.median() if len(diverged) else 0:.0f} per fit that had any).",
        f"- Mean fit time {fits.fit_s.mean():.1f} s (median {fits.fit_s.median():.1f} s) per simulated dataset.",
    ]
    first = fits[~fits.passed].why.str.extract(r"^(R-hat|bulk ESS|tail ESS|\d+ divergent)")[0]
    counts = first.str.replace(r"^\d+ divergent", "divergences", regex=True).value_counts()
    if len(counts):
        lines.append("- First failing check reported: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".")
    div = fits.divergences > 0
    if div.any() and (~div).any():
        lines.append(
            f"- Simulated between-source sd (tau), median: {fits.between_source_sd[div].median():.3f} in fits "
            f"with divergences, {fits.between_source_sd[~div].median():.3f} in fits without."
        )
    return lines


def _rank_lines(cells: pd.DataFrame, scalars: pd.DataFrame) -> list[str]:
    lines = [
        "Simultaneous ECDF bands (95%, `ecdf_band`): ranks that are independent across datasets — each",
        "scalar hyperparameter, and one reported cell drawn at random per dataset and target.",
        "",
        "| quantity | datasets | largest ECDF gap | 95% band half-width | inside the band |",
        "|---|---|---|---|---|",
    ]
    tests = {f"log_true, one random {t} cell per dataset": one_cell_per_dataset(cells, t) for t in ("users", "plhiv")}
    tests.update({col: scalars[col].to_numpy() for col in scalars.columns.drop("dataset")})
    for name, ranks in tests.items():
        inside, gap, width = ecdf_band(ranks)
        lines.append(f"| {name} | {len(ranks)} | {gap:.3f} | {width:.3f} | {'yes' if inside else '**no**'} |")
    lines += [
        "",
        "| quantity | rank histogram (10 bins, low rank = truth below the posterior) | chi-square p |",
        "|---|---|---|",
    ]
    for target in ("users", "plhiv"):
        counts, p = _uniformity(cells[cells.target == target]["rank"].to_numpy())
        lines.append(
            f"| log_true, all {target} cells pooled (cells of a dataset are correlated: p is optimistic) "
            f"| {counts} | {p:.3g} |"
        )
    for col in scalars.columns.drop("dataset"):
        counts, p = _uniformity(scalars[col].to_numpy())
        lines.append(f"| {col} | {counts} | {p:.3g} |")
    for target, country, year in (
        ("users", "Tajikistan", 2002),
        ("users", "Turkmenistan", 2002),
        ("users", "Kazakhstan", 1995),
        ("plhiv", "Tajikistan", 2004),
        ("plhiv", "Kazakhstan", 2002),
    ):
        sel = cells[(cells.target == target) & (cells.country == country) & (cells.year == year)]
        counts, p = _uniformity(sel["rank"].to_numpy())
        lines.append(f"| log_true {target} {country} {year} | {counts} | {p:.3g} |")
    return lines


def _rejection_text(part: dict) -> str:
    n_rej = sum(part["rejected"].values())
    if not n_rej:
        return f"{part['attempted']} prior draws, none rejected"
    return f"{part['attempted']} prior draws, {n_rej} rejected as absurd ({_pct(n_rej / part['attempted'])})" + "".join(
        f"; {v}: {k}" for k, v in part["rejected"].items()
    )


def report(res: dict, args) -> str:
    main = res["main"]
    cells, fits, bias, flags = main["cells"], main["fits"], main["bias"], main["flags"]
    cells = cells.assign(
        evidence=[
            ("own evidence" if (t, c, y) in res["evidence_cells"] else "no evidence")
            for t, c, y in zip(cells.target, cells.country, cells.year, strict=True)
        ]
    )
    passed_ids = set(fits.dataset[fits.passed])
    cov90 = cells.covered_90.mean()
    verdict_line = ("inside" if 0.85 <= cov90 <= 0.95 else "OUTSIDE") + " the 85-95% target band"
    chains, draws, tune, target_accept = res["sampler"]
    per = len(cells) // max(len(fits), 1)
    lines = [
        "# Simulation-based calibration of the prevalence synthesis",
        "",
        f"Run {res['started']} to {res['finished']} on {platform.node()} ({os.cpu_count()} cores, shared with other "
        "jobs"
        + (
            f"; load average before timing {', '.join(f'{x:.1f}' for x in res['load_before_timing'])}"
            if "load_before_timing" in res
            else ""
        )
        + ").",
        f"Command: `{' '.join(['python', 'benchmarks/sbc.py', *sys.argv[1:]])}`. Code: `benchmarks/sbc.py`, "
        "`forecast/prevalence/simulate.py`.",
        "",
        "## Settings",
        "",
        f"- {len(fits)} datasets simulated from the model's prior and likelihood with the layout of the embedded "
        f"evidence ({per} reported (target, country, year) cells each: "
        f"{(cells.target == 'users').sum() // max(len(fits), 1)} users, "
        f"{(cells.target == 'plhiv').sum() // max(len(fits), 1)} plhiv). Seed {args.seed}. {_rejection_text(main)}.",
        "- Absurd = a true count above the population in a reported cell, or an expected register below one "
        "person where a register figure exists. Rejection truncates the prior the data come from (the model "
        "still uses the full prior), so a second, exact pass without rejection is run for comparison"
        + (f" ({len(res['exact']['fits'])} datasets)." if "exact" in res else " (not run: --exact 0)."),
        '- Bounds ("at least X"; one item in the embedded layout, the 1990 regional register) are censored '
        'figures: the simulation keeps X and states "at least" or "at most" by where a hidden figure drawn '
        "from the model's own logistic falls, so they are exact too.",
        f"- Sampler per fit: nutpie, {chains} chains x {draws} draws after {tune} tuning, target_accept "
        f"{target_accept}; model compiled once ({res['compile_s']:.0f} s) and refitted with "
        "`with_data(evidence_log_mu=..., evidence_bound_sign=...)`.",
        f"- Ranks: truth among {N_RANKS} evenly thinned posterior draws (0..{N_RANKS}), {RANK_BINS} bins, "
        "chi-square test of uniformity.",
        "",
        "## Diagnostics of the fits",
        "",
        *_diagnostics_lines(fits),
        "",
        f"## Coverage of log(true count): 90% intervals cover {_pct(cov90)} of truths ({verdict_line})",
        "",
        markdown(coverage_table(cells, None)),
        "",
        "Per target:",
        "",
        markdown(coverage_table(cells, ["target"])),
        "",
        "Per target, cells with / without evidence of their own (same target, country and year):",
        "",
        markdown(coverage_table(cells, ["target", "evidence"])),
        "",
        "Per target and country:",
        "",
        markdown(coverage_table(cells, ["target", "country"])),
        "",
        f"Only the {len(passed_ids)} fits that passed every diagnostic:",
        "",
        markdown(coverage_table(cells[cells.dataset.isin(passed_ids)], ["target"])) if passed_ids else "(none)",
        "",
        "Per-dataset coverage of the 90% intervals (cells of one dataset share one truth draw, so coverage is "
        f"clustered): min {_pct(fits.coverage_90.min())}, quartiles {_pct(fits.coverage_90.quantile(0.25))} / "
        f"{_pct(fits.coverage_90.median())} / {_pct(fits.coverage_90.quantile(0.75))}, max "
        f"{_pct(fits.coverage_90.max())}.",
        "",
        "## Rank uniformity",
        "",
        *_rank_lines(cells, main["scalars"]),
        "",
    ]
    if "exact" in res:
        ex = res["exact"]
        lines += [
            f"## Exact SBC (no rejection): {len(ex['fits'])} datasets, seed {args.seed + 1}",
            "",
            f"{_rejection_text(ex)}: the data come from exactly the prior the model uses, so any miscalibration "
            "here is the model's or the sampler's, not the simulation's.",
            "",
            *_diagnostics_lines(ex["fits"]),
            "",
            markdown(coverage_table(ex["cells"], ["target"])),
            "",
            *_rank_lines(ex["cells"], ex["scalars"]),
            "",
        ]
    if len(bias):
        lines += [
            f"## Biased source: one figure x{args.bias:g}",
            "",
            f"In the first {len(bias)} datasets one figure (cycling over {', '.join(bias.item.unique())}) "
            f"was multiplied by {args.bias:g} and the model refitted; flag = `conflict_table` says CONFLICT "
            "(LOO tail probability < 0.05). The unbiased fit of the same dataset is the control. "
            "`noticeable`: the planted figure lies outside the range the unbiased fit expects for it from "
            "the rest of the evidence (`expected_low`-`expected_high` of the conflict table); `room` is "
            "expected_high / the unbiased figure, the largest factor up that the table cannot notice.",
            "",
            f"- **Detected: {int(bias.biased_flagged.sum())} of {len(bias)} "
            f"({_pct(bias.biased_flagged.mean())})** biased items flagged; "
            f"{int(bias[bias.noticeable].biased_flagged.sum())} of {int(bias.noticeable.sum())} where the "
            f"bias was noticeable, {int(bias[~bias.noticeable].biased_flagged.sum())} of "
            f"{int((~bias.noticeable).sum())} where it was not.",
            f"- **False positives: {int(bias.unbiased_flagged.sum())} of {len(bias)} "
            f"({_pct(bias.unbiased_flagged.mean())})** of the same items flagged without the bias.",
            "",
            markdown(
                bias.groupby(["item", "method"])
                .agg(
                    datasets=("dataset", "size"),
                    noticeable=("noticeable", "sum"),
                    biased_flagged=("biased_flagged", "sum"),
                    unbiased_flagged=("unbiased_flagged", "sum"),
                    median_room=("room", "median"),
                    median_biased_tail=("biased_tail", "median"),
                    median_unbiased_tail=("unbiased_tail", "median"),
                )
                .reset_index()
            ),
            "",
        ]
    planted = main["method"]
    if len(planted):
        lines += [
            f"## Biased method: every figure of {planted.method.iloc[0].replace('_', ' ')} off together",
            "",
            f"In the first {len(planted)} datasets the bias of every figure of one method was set to its prior "
            "mean + k prior sds (instead of its prior draw) and the model refitted; flag = `method_biases.csv` "
            "says CONFLICT (posterior median of the method's bias in the outer 5% of its prior). The unbiased "
            "fit of the same dataset is the control. covered: the planted factor inside the posterior 90% band.",
            "",
            markdown(
                planted.groupby(["method", "k_sd"])
                .agg(
                    datasets=("dataset", "size"),
                    planted_factor=("planted_factor", "first"),
                    flagged=("flagged", "sum"),
                    unbiased_flagged=("unbiased_flagged", "sum"),
                    covered_90=("covered_90", "sum"),
                    median_factor=("factor", "median"),
                    median_narrowed=("narrowed", "median"),
                    fits_passed=("planted_fit_passed", "sum"),
                )
                .reset_index()
            ),
            "",
        ]
    fl = flags.groupby("quantity").agg(items=("flagged", "size"), flagged=("flagged", "sum")).reset_index()
    fl["rate"] = (fl.flagged / fl["items"]).map(_pct)
    lines += [
        f"False-positive rate of the CONFLICT flag over every item of all {flags.dataset.nunique()} unbiased "
        f"datasets: {_pct(flags.flagged.mean())} (5% if the LOO tail probabilities were exact and uniform).",
        "",
        markdown(fl),
        "",
    ]
    if "cold_s" in res:
        lines += [
            "## Fit time on the embedded data",
            "",
            f"- Cold (fresh `python -c` running `forecast estimate` end to end: imports, compile, sample with the "
            f"default {res['default_sampler']} settings, summaries, write): **{res['cold_s']:.0f} s** "
            f"(exit code {res['cold_exit']}).",
            f"- Warm (sampling only, compiled model reused, default settings): "
            f"**{', '.join(f'{w:.0f} s' for w in res['warm_s'])}** (two seeds).",
            f"- Compilation alone (in this process): {res['compile_s']:.0f} s.",
            "- The machine is shared with other jobs; times vary by tens of percent between runs.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="simulated datasets")
    ap.add_argument("--n-bias", type=int, default=40, help="of which refitted with one multiplier biased")
    ap.add_argument("--bias", type=float, default=4.0, help="factor applied to the biased multiplier")
    ap.add_argument("--n-method", type=int, default=0, help="of which refitted with one method's bias planted")
    ap.add_argument("--method", default="rapid_assessment", help="the method whose bias is planted")
    ap.add_argument(
        "--method-sd",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[2.0, 3.0],
        help="where the planted bias lies, in prior sds above the prior mean (comma list, cycled)",
    )
    ap.add_argument("--draws", type=int, help="per chain (default: models/prevalence.toml)")
    ap.add_argument("--tune", type=int, help="(default: models/prevalence.toml)")
    ap.add_argument("--chains", type=int, help="(default: models/prevalence.toml)")
    ap.add_argument("--exact", type=int, default=50, help="extra datasets without rejection (exact SBC)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--no-reject", action="store_true", help="keep absurd prior draws (exact SBC)")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes for the refits (1: in this process)")
    ap.add_argument(
        "--scheduler",
        default=default_scheduler(),
        help="refit on the Dask cluster whose scheduler is at this address (tcp://HOST:PORT; "
        "default: $FORECAST_DASK_SCHEDULER)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sbc.md")
    args = ap.parse_args()
    try:
        check_jobs(args.jobs)
        args.scheduler = check_scheduler(args.scheduler)
    except InputError as exc:
        ap.error(exc.lines[0])
    res = run(args)
    text = report(res, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    print(text)


if __name__ == "__main__":
    main()
