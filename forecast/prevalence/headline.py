"""The numbers a reader wants first: true users and PLHIV per country in the latest year."""

from __future__ import annotations

import pandas as pd

from forecast.data.vocab import REGION


def headline_year(evidence: pd.DataFrame, target: str) -> int | None:
    """The latest year any country-level evidence for ``target`` speaks of (the synthesis extrapolates
    beyond it). ``evidence`` is the synthesis' evidence table (or evidence_used.csv, the same columns)."""
    years = evidence.loc[(evidence.target == target) & (evidence.country != REGION), "year"]
    return int(years.max()) if len(years) else None


def headline_table(result, targets=("users", "plhiv"), country: str | None = None) -> pd.DataFrame:
    """Per target and country, latest year: median and 95% band, multiple of the register, per 100k."""
    est = result.estimates[result.estimates.method == "synthesis"]
    det = result.detection
    rows = []
    for target in targets:
        year = headline_year(result.inputs.evidence, target)
        e = est[(est.target == target) & (est.year == year)]
        for _, r in e.iterrows():
            if country and r.country != country:
                continue
            d = det[(det.target == target) & (det.country == r.country) & (det.year == year)]
            rows.append(
                {
                    "target": target,
                    "country": r.country,
                    "year": year,
                    "true_median": r["median"],
                    "lo_95": r.lo_95,
                    "hi_95": r.hi_95,
                    "per_100k": r.per_100k_median,
                    "multiple_of_register": d.multiple_median.iloc[0] if len(d) else float("nan"),
                    "multiple_lo_95": d.multiple_lo_95.iloc[0] if len(d) else float("nan"),
                    "multiple_hi_95": d.multiple_hi_95.iloc[0] if len(d) else float("nan"),
                    "evidence_strength": r.get("evidence_strength", ""),
                }
            )
    return pd.DataFrame(rows)


def single_multiplier_table(result, target: str) -> pd.DataFrame:
    """Estimate under each single multiplier, beside the synthesis for the same country and year."""
    est = result.estimates
    mult = est[est.method.str.startswith("multiplier:") & (est.target == target)]
    synth = est[est.method == "synthesis"].set_index(["country", "target", "year"])
    rows = []
    for _, m in mult.iterrows():
        key = (m.country, m.target, m.year)
        s = synth.loc[key] if key in synth.index else None
        rows.append(
            {
                "evidence": m.method.removeprefix("multiplier:"),
                "country": m.country,
                "year": m.year,
                "multiplier": m.multiplier,
                "registered": m.registered,
                "single_median": m["median"],
                "single_lo_95": m.lo_95,
                "single_hi_95": m.hi_95,
                "synthesis_median": s["median"] if s is not None else float("nan"),
                "synthesis_lo_95": s.lo_95 if s is not None else float("nan"),
                "synthesis_hi_95": s.hi_95 if s is not None else float("nan"),
            }
        )
    return pd.DataFrame(rows)
