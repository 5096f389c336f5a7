"""Turn the dataset into one tidy evidence table per target for the synthesis.

Each row is one measurement on the log scale: what it measures (``quantity``), where (country,
year), its centre and its own spread. Ranges become log-normal spreads (a stated range is read as
a central interval of ``range_coverage``), point figures get ``point_log_sd``, "over X" becomes a
soft lower bound. Figures derived from other figures (``note`` starting "derived:", method
``implied_ratio``) are left out, and so is a size estimate whose note says it is the "same
evidence as multiplier <id>" (the multiplier applied to a register already used), so no evidence
is counted twice; they still appear in the single-multiplier table.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy import stats

from forecast.core.errors import DataError
from forecast.data import vocab
from forecast.data.dataset import Dataset, annual_series, population_series
from forecast.data.vocab import REGION
from forecast.prevalence.config import PrevalenceConfig

REGISTER_INDICATORS = {"users": ("registered_users", "treated_users"), "plhiv": ("registered_hiv_cumulative",)}
SIZE_INDICATORS = {"users": "estimated_users", "plhiv": "estimated_plhiv"}
EVIDENCE_COLUMNS = [
    "evidence_id",
    "target",
    "quantity",
    "country",
    "year",
    "bound",
    "log_mu",
    "log_sd",
    "value",
    "low",
    "high",
    "source",
    "ref",
    "method",
    "label",
]


def _z(coverage: float) -> float:
    return float(stats.norm.ppf(0.5 + coverage / 2))


def log_spread(value, low, high, cfg: PrevalenceConfig, point_sd: float) -> tuple[str, float, float]:
    """(bound, log centre, log sd) of a figure given as value, range, or one-sided bound.

    "At least / more than / over X" is a lower bound, however the row writes it: ``low = X`` with
    no value (the contract's convention), or ``value = low = X`` with no ``high`` (a source's figure
    stated as a floor); "at most X" likewise with ``high``. A bound is censored evidence, never a point.
    """
    has = [not (x is None or (isinstance(x, float) and math.isnan(x))) for x in (value, low, high)]
    if has[0] and has[1] and not has[2] and value == low:
        has[0] = False  # "at least X" stored as value = low
    if has[0] and has[2] and not has[1] and value == high:
        has[0] = False  # "at most X" stored as value = high
    z = _z(cfg.range_coverage)
    if has[1] and has[2]:
        centre = math.log(value) if has[0] else (math.log(low) + math.log(high)) / 2
        return "point", centre, max(math.log(high / low) / (2 * z), 0.02)
    if has[0]:
        return "point", math.log(value), point_sd
    if has[1]:
        return "lower", math.log(low), cfg.lower_bound_log_sd
    return "upper", math.log(high), cfg.lower_bound_log_sd


def _derived(row) -> bool:
    return str(row.get("note", "")).startswith("derived") or row.get("method") == "implied_ratio"


SAME_AS_MULTIPLIER = re.compile(r"same evidence as multiplier (\S+?)[\s,;.)]")


def _duplicate_of(row, multiplier_ids: set[str]) -> str | None:
    """The multiplier a size estimate merely restates (note: "same evidence as multiplier <id>").

    Such a figure is the multiplier applied to a register the synthesis already uses (Engvall's
    "approximately 75,000" = 12 x 6,243), so counting both would count one source twice.
    """
    m = SAME_AS_MULTIPLIER.search(str(row.get("note", "")) + " ")
    return m.group(1) if m and m.group(1) in multiplier_ids else None


def _excluded(row, cfg: PrevalenceConfig) -> str | None:
    for x in cfg.exclude:
        if (row["country"], row["indicator"], int(row["year"])) == (x["country"], x["indicator"], x["year"]) and str(
            row["source"]
        ).startswith(x["source"]):
            return x["reason"]
    return None


def build_evidence(ds: Dataset, target: str, cfg: PrevalenceConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(evidence used, evidence left out with the reason) for one target."""
    if target not in ("users", "plhiv"):
        raise ValueError(f"target must be users or plhiv, got {target!r}")
    places = set(vocab.MODEL_COUNTRIES) | {REGION}
    obs = annual_series(ds.observations)
    obs = obs[obs.country.isin(places)]
    rows, left_out = [], []

    def add(quantity, r, point_sd, method, label):
        if any(pd.notna(r[c]) and float(r[c]) <= 0 for c in ("value", "low", "high")):
            # a zero count says "none caught", not a size: it cannot enter on the log scale
            left_out.append({**dict(r), "reason": "a zero figure: no information on the log scale"})
            return
        bound, mu, sd = log_spread(r["value"], r["low"], r["high"], cfg, point_sd)
        rows.append(
            {
                "target": target,
                "quantity": quantity,
                "country": r["country"],
                "year": int(r["year"]),
                "bound": bound,
                "log_mu": mu,
                "log_sd": sd,
                "value": r["value"],
                "low": r["low"],
                "high": r["high"],
                "source": r["source"],
                "ref": r["ref"],
                "method": method,
                "label": label,
            }
        )

    for ind in REGISTER_INDICATORS[target]:
        quantity = "treated" if ind == "treated_users" else "register"
        for _, r in obs[obs.indicator == ind].iterrows():
            reason = _excluded(r, cfg)
            if reason:
                left_out.append({**r.to_dict(), "reason": reason})
                continue
            add(quantity, r, cfg.register_log_sd, ind, f"{r['country']} {ind} {r['year']}")
    mult = ds.multipliers[(ds.multipliers.target == target) & ds.multipliers.country.isin(places)]
    used_multipliers = {m["id"] for _, m in mult.iterrows() if not _derived(m)}
    for _, r in obs[obs.indicator == SIZE_INDICATORS[target]].iterrows():
        same = _duplicate_of(r, used_multipliers)
        reason = (
            _excluded(r, cfg)
            or ("derived from other evidence (not independent)" if _derived(r) else None)
            or (f"same evidence as multiplier {same} (used there)" if same else None)
        )
        if reason:
            left_out.append({**r.to_dict(), "reason": reason})
            continue
        add("size", r, cfg.point_log_sd, "size_estimate", f"{r['country']} estimate {r['year']} ({r['source']})")
    for _, r in mult.iterrows():
        if _derived(r):
            left_out.append({**r.to_dict(), "reason": "implied by size estimate / register already used"})
            continue
        before = len(rows)
        add("multiplier", r, cfg.point_log_sd, r["method"], f"{r['id']}")
        if len(rows) > before:
            rows[-1]["evidence_id"] = r["id"]
    ev = pd.DataFrame(rows)
    if ev.empty:
        return pd.DataFrame(columns=EVIDENCE_COLUMNS), pd.DataFrame(left_out)
    if "evidence_id" not in ev:
        ev["evidence_id"] = np.nan
    auto = ev["evidence_id"].isna()
    ev.loc[auto, "evidence_id"] = [
        f"{q}:{c}:{y}:{i}"
        for i, (q, c, y) in enumerate(zip(ev.quantity[auto], ev.country[auto], ev.year[auto], strict=True))
    ]
    return ev[EVIDENCE_COLUMNS].reset_index(drop=True), pd.DataFrame(left_out)


def populations(ds: Dataset, cfg: PrevalenceConfig, ref_year: int) -> pd.DataFrame:
    """Population per model country (closest year to ``ref_year``), with a log-scale sd.

    From ``population_series`` (the World Bank's where the data hold it, else the seeds').
    Figures are taken as near-exact (sd 0.02); countries the data do not cover use the
    assumptions in models/prevalence.toml with a log-normal spread from their range.
    """
    series = population_series(ds.observations)
    out = []
    for c in vocab.MODEL_COUNTRIES:
        p = series[series.country == c]
        if not p.empty:
            best = p.iloc[(p.year - ref_year).abs().argsort(kind="stable").iloc[0]]
            out.append(
                {
                    "country": c,
                    "population": best.population,
                    "log_sd": 0.02,
                    "year": int(best.year),
                    "source": best.source,
                    "ref": best.ref,
                }
            )
            continue
        a = next((a for a in cfg.population_assumptions if a["country"] == c), None)
        if a is None:
            raise DataError(
                f"{ds.folder}: no population for {c}: add a population row to observations.csv or an "
                f"[[population_assumptions]] entry to {cfg.path}"
            )
        out.append(
            {
                "country": c,
                "population": a["value"],
                "log_sd": math.log(a["high"] / a["low"]) / (2 * _z(0.95)),
                "year": a["year"],
                "source": a["source"],
                "ref": "",
            }
        )
    return pd.DataFrame(out)
