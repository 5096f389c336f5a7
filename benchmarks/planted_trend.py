"""Is a trend in detection recovered? Data simulated with a planted detection trend, refitted.

    .venv/bin/python benchmarks/planted_trend.py          # ~12 min on 2 cores; writes results/planted_trend.md
    .venv/bin/python benchmarks/planted_trend.py --targets plhiv --slopes 0.05 --draws 500 --out /tmp/t.md

The synthesis lets detection drift as a random walk on the logit scale, for each target:

- users: the share of high-risk drug users on the drug register (its coverage),
  ``users_detection_walk``;
- plhiv: the yearly chance that an undiagnosed person living with HIV is diagnosed,
  ``plhiv_detection_walk`` (testing scale-up).

Here that walk is fixed, for every country, to a straight line of ``--slope`` per year on the
logit scale (``pm.do``: sd ``PLANT_SD`` and every standardised step ``slope / PLANT_SD``);
everything else (true counts, levels, method biases, every figure of the embedded evidence layout)
is drawn from the model's own prior, as in the SBC (forecast/prevalence/simulate.py). The model,
which knows nothing of the plant, is refitted with its default sampler settings
(models/prevalence.toml), and the change of the walk (logit detection) between ``--from`` and
``--to`` is compared with the planted one, country by country:

- recovered: the 90% interval of the change covers the planted change;
- direction: the posterior probability that coverage rose (a rise was planted), fell (a fall), or
  either (no trend planted: near 0.5 is right);
- shrinkage: the posterior median change against the planted one (the walk's prior pulls towards
  no change where the registers say little).

One slope of each sign and a flat control: a method that finds trends where none were planted
would show it there.

Registers alone cannot tell "coverage rose" from "users fell": both move the register the same
way. ``--field-every N`` adds what would tell them apart, a field size estimate of each country's
high-risk users (method ``field_sampling``, its bias and stated sd ``FIELD_SD`` as in the
model) every N years of the window, simulated like every other figure:

    .venv/bin/python benchmarks/planted_trend.py --targets users --field-every 5 \
        --out benchmarks/results/planted_trend_field.md
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymc as pm  # noqa: E402

from forecast.data.dataset import load_dataset  # noqa: E402
from forecast.prevalence.config import load_config  # noqa: E402
from forecast.prevalence.inputs import REF_YEAR, prepare  # noqa: E402
from forecast.prevalence.model import build_model  # noqa: E402
from forecast.prevalence.posterior import draws_of  # noqa: E402
from forecast.prevalence.sampler import compile_model  # noqa: E402
from forecast.prevalence.simulate import refit, simulate  # noqa: E402

FIELD_SD = 0.25  # stated log sd of a simulated field size estimate (like the 2002 rapid assessments' 0.25)
PLANT_SD = 0.05  # the walk's sd in the plant; the steps are slope / PLANT_SD, so the walk is a line
WALK = {"users": "users_detection_walk", "plhiv": "plhiv_detection_walk"}
#: the figures that speak to each target's detection in the window (registers, diagnoses, ART, deaths)
COUNTS = {
    "users": ("register", "treated"),
    "plhiv": ("register", "new", "living", "deaths", "deaths_cumulative", "floor"),
}


def planted_model(inputs, target: str, slope: float) -> pm.Model:
    """The synthesis with ``target``'s detection walk fixed to ``slope`` a year (pinned at REF_YEAR)."""
    model = build_model(inputs)
    shape = (len(inputs.countries), len(inputs.years))
    walk = WALK[target]
    return pm.do(model, {f"{walk}_sd": PLANT_SD, f"{walk}_z": np.full(shape, slope / PLANT_SD)})


def with_field_estimates(inputs, target: str, every: int, y0: int, y1: int):
    """``inputs`` plus a field size estimate of ``target`` for every country every ``every`` years of
    [y0, y1] (figures are placeholders: ``simulate`` draws them)."""
    rows = [
        {
            "evidence_id": f"planted-field:{country}:{year}",
            "target": target,
            "quantity": "size",
            "country": country,
            "year": year,
            "bound": "point",
            "log_mu": 0.0,
            "log_sd": FIELD_SD,
            "value": 1.0,
            "low": np.nan,
            "high": np.nan,
            "source": "simulated",
            "ref": "benchmarks/planted_trend.py",
            "method": "field_sampling",
            "group": "high-risk (problem) drug users",
            "label": f"simulated field estimate, {country} {year}",
        }
        for country in inputs.countries
        for year in range(y0, y1 + 1, every)
    ]
    evidence = pd.concat([inputs.evidence, pd.DataFrame(rows)], ignore_index=True)
    return dataclasses.replace(inputs, evidence=evidence)


def count_years(inputs, target: str, country: str) -> list[int]:
    """Years with a count figure (not an estimate) of ``target`` for ``country``."""
    ev = inputs.evidence
    mine = ev[(ev.target == target) & (ev.country == country) & ev.quantity.isin(COUNTS[target])]
    return sorted(int(y) for y in mine.year.unique())


def walk_change(z: np.ndarray, sd: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """The change of a walk sd * cumsum(z) (years on the last axis) between two year indices."""
    return np.asarray(sd)[..., None] * z[..., t0 + 1 : t1 + 1].sum(axis=-1)


def one_slope(inputs, compiled, target: str, slope: float, seed: int, cfg, y0: int, y1: int) -> pd.DataFrame:
    t0, t1 = y0 - int(inputs.years[0]), y1 - int(inputs.years[0])
    sim = simulate(inputs, n=1, seed=seed, model=planted_model(inputs, target, slope)).datasets[0]
    t = time.perf_counter()
    idata = refit(sim, compiled, seed=seed, config=cfg)
    fit_s = time.perf_counter() - t
    truth = np.full(len(inputs.countries), slope * (y1 - y0))  # the plant is a straight line
    walk = WALK[target]
    post = walk_change(draws_of(idata, f"{walk}_z"), draws_of(idata, f"{walk}_sd"), t0, t1)  # (sample, country)
    k = inputs.targets.index(target)
    true_end = sim.truth[k, :, t1]  # (country,) log true count in the last year of the window
    post_end = draws_of(idata, "log_true")[:, k, :, t1]
    rows = []
    for c, country in enumerate(inputs.countries):
        lo, med, hi = np.quantile(post[:, c], [0.05, 0.5, 0.95])
        end_lo, end_hi = np.quantile(post_end[:, c], [0.05, 0.95])
        years = [y for y in count_years(inputs, target, country) if y0 <= y <= y1]
        rows.append(
            {
                "target": target,
                "planted slope": slope,
                "country": country,
                f"count figures {y0}-{y1}": len(years),
                "planted change": truth[c],
                "posterior median": med,
                "90% interval": f"{lo:+.2f} to {hi:+.2f}",
                "covered": bool(lo <= truth[c] <= hi),
                "P(rose)": float((post[:, c] > 0).mean()),
                f"true count {y1} in 90% band": bool(end_lo <= true_end[c] <= end_hi),
                "fit (s)": fit_s,
                "divergences": int(idata.sample_stats["diverging"].sum()),
            }
        )
    return pd.DataFrame(rows)


SIGNED = ("planted slope", "planted change", "posterior median")


def markdown(df: pd.DataFrame) -> str:
    def cell(col, v):
        if isinstance(v, float):
            return f"{v:+.2f}" if col in SIGNED else f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}"
        return str(v)

    rows = [" | ".join(df.columns), " | ".join("---" for _ in df.columns)]
    rows += [" | ".join(cell(c, v) for c, v in zip(df.columns, r, strict=True)) for r in df.itertuples(index=False)]
    return "\n".join(f"| {r} |" for r in rows)


def summary(df: pd.DataFrame, y0: int, y1: int) -> list[str]:
    """One line per target and planted slope, over the countries with 2+ count figures in the window."""
    lines = []
    with_data = df[df[f"count figures {y0}-{y1}"] >= 2]
    for (target, slope), g in with_data.groupby(["target", "planted slope"], sort=False):
        sign = "rose" if slope > 0 else "fell" if slope < 0 else None
        right = (g["P(rose)"] > 0.5) if slope > 0 else (g["P(rose)"] < 0.5) if slope < 0 else None
        lines.append(
            f"- {target}, planted {slope:+.2f}/yr ({slope * (y1 - y0):+.1f} on the logit scale over "
            f"{y0}-{y1}): 90% intervals cover the planted change in {int(g.covered.sum())} of {len(g)} "
            f"countries with 2+ count figures; posterior median change {g['posterior median'].median():+.2f} "
            f"(planted {g['planted change'].median():+.2f})"
            + (f"; more likely {sign} than not in {int(right.sum())} of {len(g)}" if sign else "")
            + f"; P(rose) {', '.join(f'{p:.2f}' for p in g['P(rose)'])}"
            + f"; the true count of {y1} inside its 90% band in {int(g[f'true count {y1} in 90% band'].sum())}"
            + f" of {len(g)}."
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="+", choices=sorted(WALK), default=["users", "plhiv"])
    ap.add_argument("--slopes", type=float, nargs="+", default=[0.05, 0.0, -0.05], help="logit detection per year")
    ap.add_argument("--from", dest="y0", type=int, default=2005)
    ap.add_argument("--to", dest="y1", type=int, default=2025)
    ap.add_argument("--draws", type=int, help="per chain (default: models/prevalence.toml)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--priors", type=Path, help="a priors file (default: models/prevalence.toml)")
    ap.add_argument(
        "--field-every", type=int, help="add a simulated field size estimate per country every N years of the window"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "planted_trend.md")
    args = ap.parse_args()
    base = prepare(load_dataset(), load_config(args.priors))
    cfg = dataclasses.replace(base.config, draws=args.draws or base.config.draws)
    tables = []
    for target in args.targets:
        inputs = base
        if args.field_every:
            inputs = with_field_estimates(base, target, args.field_every, args.y0, args.y1)
        compiled = compile_model(inputs)
        for i, slope in enumerate(args.slopes):
            tables.append(one_slope(inputs, compiled, target, slope, args.seed + i, cfg, args.y0, args.y1))
            print(tables[-1].to_string(index=False), flush=True)
    df = pd.concat(tables, ignore_index=True)
    text = "\n".join(
        [
            "# Planted trend in detection: recovered?",
            "",
            f"Run {date.today()} by `benchmarks/planted_trend.py` on {platform.node()}, Python "
            f"{platform.python_version()}; the embedded evidence layout (data to 2025), the model's own prior for "
            f"everything but the target's detection walk (fixed to the planted line, pinned at {REF_YEAR}); "
            f"refitted with {cfg.chains} x {cfg.draws} draws ({cfg.tune} tune), "
            f"seeds {args.seed}-{args.seed + len(args.slopes) - 1} for each target; priors "
            f"{args.priors or 'models/prevalence.toml'}."
            + (
                f" Plus a simulated field size estimate (field_sampling, stated log sd {FIELD_SD}) of each "
                f"country every {args.field_every} years of {args.y0}-{args.y1}."
                if args.field_every
                else " Registers and the other figures of the layout only (no field estimate after 2005)."
            ),
            "",
            "- users: the walk is the logit of register coverage (share of high-risk users on the register);",
            "- plhiv: the walk is the logit of the yearly chance that an undiagnosed person is diagnosed.",
            "",
            "## Summary (countries with 2+ count figures in the window)",
            "",
            *summary(df, args.y0, args.y1),
            "",
            "## Every country",
            "",
            markdown(df),
            "",
            "Count figures: registers and treatment counts (users); HIV registrations, new diagnoses, living",
            "diagnosed, deaths and people on ART (plhiv). Where a country has none, the change is the prior's",
            "(centred on no change).",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
