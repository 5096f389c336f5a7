"""How the synthesis compares with independent modelled estimates it never saw (the yardstick).

    python benchmarks/yardstick.py [--vintage ID] [--seed N]
    python benchmarks/yardstick.py --results DIR     # a `forecast run` folder's estimates.csv, no refit

benchmarks/yardstick/modelled_estimates.csv holds UNAIDS modelled PLHIV (2021 round, 1990-2020)
and size estimates of people who inject drugs, each with its URL; they are deliberately not in the
dataset. For every yardstick figure with a synthesis estimate for the same country, target and
year: is it inside the synthesis' 80% and 95% bands, and how wide are those bands (hi_95 / lo_95)?
The users target is compared with PWID size estimates (the synthesis' "people who use drugs" is
closest to people who inject drugs in this region, where opioid injection dominates).
Results: benchmarks/results/yardstick.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecast.data.dataset import load_dataset  # noqa: E402
from forecast.prevalence import estimate  # noqa: E402

YARDSTICK = ROOT / "benchmarks" / "yardstick" / "modelled_estimates.csv"
OUT = ROOT / "benchmarks" / "results" / "yardstick.md"
TARGET = {"plhiv": "plhiv", "pwid": "users"}


def compare(estimates: pd.DataFrame, yardstick: pd.DataFrame) -> pd.DataFrame:
    synth = estimates[estimates.method == "synthesis"]
    y = yardstick.assign(target=yardstick.target.map(TARGET))
    y["point"] = y.value.fillna(np.sqrt(y.low * y.high)).fillna(y.high)
    m = y.merge(synth, on=["country", "target", "year"], suffixes=("_yard", ""))
    m["inside_80"] = (m.point >= m.lo_80) & (m.point <= m.hi_80)
    m["inside_95"] = (m.point >= m.lo_95) & (m.point <= m.hi_95)
    m["width_95"] = m.hi_95 / m.lo_95
    m["ratio"] = m["median"] / m.point
    return m


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vintage", default=None, help="data vintage (default: the latest)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", type=Path, help="compare a results folder (estimates.csv, diagnostics.csv)")
    args = parser.parse_args()
    ds = load_dataset(vintage=args.vintage)
    if args.results:
        estimates = pd.read_csv(args.results / "estimates.csv")
        diag = pd.read_csv(args.results / "diagnostics.csv")
        failed = diag[~diag["pass"]]
        status = "pass" if failed.empty else "FAIL: " + ", ".join(failed.variable)
        how = f"`python benchmarks/yardstick.py --results {args.results}` (estimates of a `forecast run`)"
    else:
        t = time.perf_counter()
        result = estimate(ds, seed=args.seed, progress=False)
        fit_s = time.perf_counter() - t
        estimates = result.estimates
        status = "pass" if result.verdict.passed else "FAIL: " + "; ".join(result.verdict.messages)
        how = f"`python benchmarks/yardstick.py --vintage {ds.vintage}`; fit {fit_s:.0f} s"
    m = compare(estimates, pd.read_csv(YARDSTICK))
    rows = []
    for (target, strength), g in m.groupby(["target", "evidence_strength"]):
        rows.append(
            f"| {target} | {strength} | {len(g)} | {g.inside_80.mean():.0%} | {g.inside_95.mean():.0%} | "
            f"{g.width_95.median():.1f} | {g.ratio.median():.2f} | {g.year.min()}–{g.year.max()} |"
        )
    worst = m.assign(off=np.abs(np.log(m.ratio))).sort_values("off", ascending=False).head(8)
    lines = [
        f"# Synthesis against the yardstick (vintage {ds.vintage}, seed {args.seed}, {date.today()})",
        "",
        f"{how}; diagnostics {status}.",
        "",
        "| target | evidence strength | yardstick figures | inside 80% | inside 95% | median hi_95/lo_95 "
        "| median synthesis ÷ yardstick | years |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Furthest apart (synthesis median ÷ yardstick):",
        "",
        "| country | target | year | yardstick | synthesis median (95%) |",
        "|---|---|---|---|---|",
        *[
            f"| {r.country} | {r.target} | {r.year} | {r.point:,.0f} | {r['median']:,.0f} "
            f"({r.lo_95:,.0f}–{r.hi_95:,.0f}) |"
            for _, r in worst.iterrows()
        ],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.vintage in (None, "latest"):
        OUT.write_text(text, encoding="utf-8")
    else:
        OUT.with_name(f"yardstick_{ds.vintage}.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
