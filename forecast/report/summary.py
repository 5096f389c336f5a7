"""Page 1 of the report: the answer, in numbers and words a director reads in one minute.

- findings: true users and PLHIV per country and Central Asia in the latest year, per 1,000
  aged 15-64, with the likely (80%) range and what each number rests on;
- outlook: drug crime, seizures and registers per scenario, dated, with each scenario's
  assumption in one sentence and the source's most likely scenario named;
- what changed since the last calibration, and why the ranges are as wide as they are.
"""

from __future__ import annotations

import pandas as pd

from forecast.core.formatting import count, number
from forecast.data import vocab
from forecast.data.vocab import REGION
from forecast.report.table import Table
from forecast.report.words import LIKELY

TARGET_LABELS = {"users": "People who use drugs", "plhiv": "People living with HIV"}
SHORT_LABELS = {"users": "people who use drugs", "plhiv": "PLHIV"}
#: page 1's outlook: drug crime, seizures and the drug register
OUTLOOK_PREFIXES = ("drug_crimes", "trafficking_crimes", "possession_crimes", "seizures_", "registered_users")
#: the indicators each scenario's one sentence speaks of, in order
SENTENCE_INDICATORS = ("drug_crimes", "seizures_total_kg", "registered_users", "registered_hiv_new", "true_users")
STRENGTH_NOTE = {
    "own data": "own data",
    "pooling": "pooling",
    "prior only": "prior\u00a0only",
}


#: no line break inside a range: a no-break space after the word, word joiners around the dash
NO_BREAK_SPACE, WORD_JOINER = "\u00a0", "\u2060"


def no_break_range(lo: str, hi: str) -> str:
    return f"{lo}{WORD_JOINER}–{WORD_JOINER}{hi}"


def likely(lo, hi) -> str:
    """ "likely 57,700–242,000", never broken across lines."""
    return f"{LIKELY}{NO_BREAK_SPACE}{no_break_range(number(lo, 3), number(hi, 3))}"


def population_of(row) -> float | None:
    """The population an estimate row was divided by (estimates.csv gives the rate per 100,000)."""
    rate = row.get("per_100k_median")
    if rate is None or pd.isna(rate) or not rate:
        return None
    return float(row["median"]) / float(rate) * 1e5


def per_1000(value, pop) -> str:
    return number(value / pop * 1000, 2) if pop else "–"


def per_1000_adults(row) -> str:
    """The median and likely range per 1,000 aged 15-64 (estimates.csv ``per_1000_15_64_*``), or per
    1,000 of the whole population from an older estimates.csv without those columns."""
    if pd.notna(row.get("per_1000_15_64_median", float("nan"))):
        m, lo, hi = (number(row[f"per_1000_15_64_{q}"], 2) for q in ("median", "lo_80", "hi_80"))
        return f"{m}\n({no_break_range(lo, hi)})"
    pop = population_of(row)
    if not pop:
        return "–"
    return f"{per_1000(row['median'], pop)}\n({no_break_range(per_1000(row.lo_80, pop), per_1000(row.hi_80, pop))})"


def findings(est: pd.DataFrame | None, years: dict[str, int | None]) -> dict | None:
    """Per country and Central Asia: median, likely range, per 1,000 aged 15-64 and evidence strength
    for true users and PLHIV in the latest year; the cells whose range passes the population."""
    if est is None:
        return None
    synth = est[est.method == "synthesis"]
    countries = [c for c in [*vocab.MODEL_COUNTRIES, REGION] if c in set(synth.country)]
    rows, impossible, strengths = [], [], {}
    for country in countries:
        cells = [country]
        for target, year in years.items():
            e = synth[(synth.country == country) & (synth.target == target) & (synth.year == year)]
            if e.empty:
                cells += ["–", "–", "–"]
                continue
            r = e.iloc[0]
            pop = population_of(r)
            strength = "" if pd.isna(r.get("evidence_strength", "")) else str(r.get("evidence_strength", ""))
            strengths.setdefault(target, []).append(strength)
            cells += [
                f"{number(r['median'], 2)}\n{likely(r.lo_80, r.hi_80)}",
                per_1000_adults(r),
                STRENGTH_NOTE.get(strength, strength or "–"),
            ]
            if pop and r.hi_80 > pop:
                impossible.append(f"{SHORT_LABELS[target]} in {country}")
        rows.append(cells)
    cols = ["Country"]
    for target, year in years.items():
        label = TARGET_LABELS[target]
        cols += [f"{label}, {year}: median, likely range", "Per 1,000 aged 15–64", "Rests on"]
    table = Table(
        cols,
        rows,
        "estimates.csv (method = synthesis: median, lo_80–hi_80, per_1000_15_64_*, evidence_strength)",
        caption="True numbers in the latest year: median, likely (80%) range, rate per 1,000 aged 15–64, "
        "what each rests on",
        numeric={1, 2, 4, 5},
        row_classes=["total" if r[0] == REGION else "" for r in rows],
        cell_classes={
            (i, j): "prior"
            for i, row in enumerate(rows)
            for j, cell in enumerate(row)
            if cell == STRENGTH_NOTE["prior only"]
        },
    )
    counts = {t: {s: v.count(s) for s in dict.fromkeys(v)} for t, v in strengths.items()}
    return {
        "years": years,
        "table": table,
        "impossible": impossible,
        "strength_counts": counts,
        "adult_pct": adult_pct(synth),
    }


def adult_pct(synth: pd.DataFrame) -> str:
    """The share of the population taken as aged 15-64, in percent, read back from the two rates."""
    if "per_1000_15_64_median" not in synth:
        return "–"
    r = synth[(synth.per_1000_15_64_median > 0) & (synth.per_100k_median > 0)]
    return "–" if r.empty else f"{(r.per_100k_median / r.per_1000_15_64_median).iloc[0]:.0f}"


def outlook_period(fc: pd.DataFrame | None) -> str:
    if fc is None or fc.empty:
        return ""
    return f"{int(fc.year.min())}–{int(fc.year.max())}"


def _scenario_cell(r, last_value) -> str:
    if str(r.get("assumption", "")).startswith("as baseline"):
        return "= baseline"
    change = f" ({(r['median'] / last_value - 1) * 100:+.0f}%)" if last_value and pd.notna(last_value) else ""
    return f"{number(r['median'], 2)}{change}\n{likely(r.lo_80, r.hi_80)}"


def outlook(fc: pd.DataFrame | None, scen: list[dict], short_label) -> Table | None:
    """Per series of drug crime, seizures and registers: the last figure, then each scenario's median
    in the horizon's last year (change from the last figure) and its likely range."""
    if fc is None:
        return None
    fc = fc[fc.indicator.str.startswith(OUTLOOK_PREFIXES)]
    rows = []
    for (country, indicator), g in fc.groupby(["country", "indicator"], sort=True):
        end = g[g.year == g.year.max()]
        first = g.iloc[0]
        n_obs = first.get("n_obs")
        few = pd.notna(n_obs) and n_obs < 3
        cells = [
            f"{country}: {short_label(indicator)}",
            f"{count(first.last_value)} in {int(first.last_year)}" + ("\n(1–2 figures only)" if few else ""),
        ]
        for s in scen:
            r = end[end.scenario == s["name"]]
            cells.append(_scenario_cell(r.iloc[0], first.last_value) if len(r) else "–")
        rows.append(cells)
    year = int(fc.year.max()) if len(fc) else ""
    cols = ["Series", "Last figure", *[f"{s['name']}{' (most likely)' if s['most_likely'] else ''}" for s in scen]]
    return Table(
        cols,
        rows,
        "forecasts.csv (median and lo_80–hi_80 in the last forecast year; change from last_value). "
        "“= baseline”: the source gives no figure for the series under that scenario",
        caption=f"Outlook to {year} per scenario: median, change from the last figure, likely (80%) range",
        numeric=set(range(1, len(cols))),
    )


def scenario_sentence(scenario, indicators=SENTENCE_INDICATORS) -> str:
    """A scenario's assumption in one sentence: its label and its yearly growth for the headline series."""
    if scenario is None:
        return ""
    parts = []
    for ind in indicators:
        a = scenario.for_indicator(ind)
        if a.as_baseline or a.growth_pct is None:
            continue
        parts.append(f"{vocab_short(ind)} {a.text}")
    tail = "; ".join(parts) if parts else "the fitted models' own trends"
    return f"{scenario.label}: {tail}."


def vocab_short(indicator: str) -> str:
    return {
        "drug_crimes": "drug crimes",
        "seizures_total_kg": "seizures",
        "registered_users": "registered users",
        "registered_hiv_new": "new HIV registrations",
        "true_users": "true users",
    }.get(indicator, indicator.replace("_", " "))


def since_calibration(cal: pd.DataFrame | None) -> dict | None:
    """The latest calibration in words: date, file, figures new / revised / scored, how the scored
    figures fell within the previous forecast's bands, and the scenario weights before and after."""
    if cal is None or cal.empty:
        return None
    cal = cal.assign(vintage=cal.vintage.astype(str))
    vintages = list(dict.fromkeys(cal.vintage))
    last = cal[cal.vintage == vintages[-1]]
    prev = cal[cal.vintage == vintages[-2]] if len(vintages) > 1 else None
    r0 = last.iloc[0]
    weights = []
    for _, r in last[last.scenario.notna()].iterrows():
        was = prev[prev.scenario == r.scenario].weight if prev is not None else []
        now = f"{r.scenario} {r.weight:.2f}"
        weights.append(now + (f" (was {was.iloc[0]:.2f})" if len(was) and pd.notna(was.iloc[0]) else ""))
    base = last[last.scenario == "baseline"] if (last.scenario == "baseline").any() else last
    held = None
    if "in_80" in base and base.in_80.notna().any() and int(r0.n_scored):
        held = f"{base.in_80.iloc[0]:.0%} of them inside the earlier forecast's likely (80%) range"
    return {
        "vintage": r0.vintage,
        "date": str(r0.date)[:10],
        "file": r0.file,
        "n_new": int(r0.n_new),
        "n_revised": int(r0.n_revised),
        "n_scored": int(r0.n_scored),
        "held": held,
        "weights": weights,
        "n_vintages": len(vintages),
    }


def why_wide(findings_: dict | None, fc: pd.DataFrame | None, bt: pd.DataFrame | None) -> list[str]:
    """Plain reasons for the width of the ranges, each computed from the results."""
    out = []
    if findings_:
        for target, counts in findings_["strength_counts"].items():
            n = sum(counts.values())
            prior = counts.get("prior only", 0)
            own = counts.get("own data", 0)
            if prior:
                out.append(
                    f"{TARGET_LABELS[target]}: {prior} of {n} numbers rest on the priors alone (no figure of that "
                    f"country within two years), {own} on a size estimate or multiplier of its own."
                )
    if fc is not None and "n_obs" in fc:
        series = fc.groupby(["country", "indicator"]).n_obs.first().dropna()
        few = int((series < 3).sum())
        if len(series):
            out.append(
                f"{few} of {len(series)} forecast series rest on one or two figures"
                if few
                else f"All {len(series)} forecast series have three or more figures"
            )
            out[-1] += f"; the shortest has {int(series.min())} figure{'s' if series.min() != 1 else ''}."
    if bt is not None and len(bt):
        a = bt[bt.horizon.astype(str) == "all"]
        emb = a[a.series_set == "embedded"] if (a.series_set == "embedded").any() else a
        naive = emb[emb.model == "naive"]
        if len(naive):
            best = emb[emb.model != "naive"].sort_values("mase").head(1)
            if len(best):
                b, nv = best.iloc[0], naive.iloc[0]
                verdict = "beat" if b.mase < nv.mase else "did not beat"
                out.append(
                    f"On the real series, the best model ({b.model}) {verdict} the naive “same as last year” "
                    f"forecast (scaled error {b.mase:.2f} against {nv.mase:.2f})."
                )
    return out
