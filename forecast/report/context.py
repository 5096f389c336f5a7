"""The report's content, read from a results folder: tidy output tables -> plain rows and inline charts.

Nothing here fits a model; everything shown comes from a file in the results folder or the data
folder, and each table names its file. A missing optional file makes its section say so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from forecast.core.formatting import band, count, figure, number, open_band
from forecast.core.resources import default_data_dir, models_file
from forecast.data import vocab
from forecast.data.dataset import CONFLICTS_FILE, MULTIPLIERS_FILE, OBSERVATIONS_FILE, Dataset, load_dataset
from forecast.data.vintages import BASE
from forecast.data.vocab import REGION
from forecast.evaluation.scoring import COVERAGE_TARGETS
from forecast.evaluation.track_record import summarise_track_record
from forecast.prevalence.headline import headline_year
from forecast.report import charts, summary, words
from forecast.report.charts import has_fan_chart
from forecast.report.table import Table

TARGET_LABELS = summary.TARGET_LABELS
PREVALENCE_INDICATORS = {
    "registered_users",
    "treated_users",
    "estimated_users",
    "estimated_users_per_100k",
    "registered_users_per_100k",
    "registered_hiv_new",
    "registered_hiv_cumulative",
    "registered_hiv_idu",
    "hiv_idu_share_pct",
    "estimated_plhiv",
    "population",
}
#: Target ranges of out-of-sample coverage (as in benchmarks/results/backtest.md).
#: Fewer held-out points than this cannot tell a 80% band from a 100% one: coverage is not judged.
MIN_FOLDS = 20
#: Benchmarks the coverage chart always shows beside the models the forecasts use.
BENCHMARKS = ("naive",)


# --------------------------------------------------------------------------------------------
# Reading


def read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def read_raw_csv(path: Path) -> pd.DataFrame | None:
    """A data file exactly as written (figures as strings), for the appendix."""
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else None


@dataclass
class Results:
    folder: Path
    run: dict
    tables: dict[str, pd.DataFrame | None]

    def __getitem__(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)


RESULT_FILES = (
    "estimates",
    "detection",
    "prevalence_conflicts",
    "method_biases",
    "diagnostics",
    "evidence_used",
    "forecasts",
    "history",
    "backtest_summary",
    "calibration_history",
    "track_record",
)


def read_results(folder: Path) -> Results:
    run_path = folder / "run.json"
    run = json.loads(run_path.read_text(encoding="utf-8")) if run_path.exists() else {}
    return Results(folder, run, {name: read_csv(folder / f"{name}.csv") for name in RESULT_FILES})


def resolve_data_dir(data_dir: Path | str | None, results: Results) -> Path:
    """The data folder the run used: the argument, else run.json's data_dir if it exists, else the default."""
    if data_dir:
        return Path(data_dir)
    recorded = results.run.get("data_dir")
    if recorded:
        for candidate in (Path(recorded), results.folder / recorded, results.folder.parent / recorded):
            if (candidate / OBSERVATIONS_FILE).exists():
                return candidate
    return default_data_dir()


def dataset_of_run(results: Results, data_dir: Path | str | None = None) -> Dataset:
    """The dataset a saved run used: its data folder at the vintage run.json names (base if none)."""
    return load_dataset(resolve_data_dir(data_dir, results), vintage=results.run.get("vintage") or BASE)


# --------------------------------------------------------------------------------------------
# Formatting


def median_band(median, lo, hi) -> str:
    """Two lines in one cell (the template keeps line breaks): the median, then its band."""
    return f"{number(median)}\n{band(lo, hi)}"


def cite(source, ref) -> str:
    source = "" if pd.isna(source) else str(source)
    ref = "" if pd.isna(ref) else str(ref)
    return f"{source} [{ref}]" if ref else source


def short_label(indicator: str) -> str:
    """A few words for a table cell: 'seizures_heroin_kg' -> 'heroin seizures, kg'."""
    words = indicator.split("_")
    unit = words.pop() if words[-1] in ("kg", "t", "pct", "ha") else ""
    if words[0] == "seizures" and len(words) > 1:
        words = [*words[1:], "seizures"]
    text = " ".join("PLHIV" if w == "plhiv" else "HIV" if w == "hiv" else w for w in words)
    return f"{text}, {unit}" if unit else text


def indicator_title(indicator: str) -> str:
    return vocab.INDICATORS.get(indicator, indicator.replace("_", " "))


#: chart titles in plain words (no internal names); other indicators use the vocabulary's definition
CHART_TITLES = {
    "true_users": "People who use drugs (estimated true number)",
    "true_plhiv": "People living with HIV (estimated true number)",
    "registered_users": "People on the drug register",
    "registered_hiv_cumulative": "HIV cases registered since records began",
    "registered_hiv_new": "New HIV cases registered in the year",
    "drug_crimes": "Drug crimes registered",
    "seizures_total_kg": "Drugs seized, all kinds (kg)",
    "seizures_heroin_kg": "Heroin seized (kg)",
    "seizures_opium_kg": "Opium seized (kg)",
    "seizures_opiates_kg": "Opiates seized (kg)",
    "seizures_cannabis_kg": "Cannabis seized (kg)",
}


def chart_title(indicator: str) -> str:
    if indicator in CHART_TITLES:
        return CHART_TITLES[indicator]
    text = indicator_title(indicator).split(":")[0]
    return text[:1].upper() + text[1:]


def unit_of(indicator: str) -> str:
    for suffix, unit in (
        ("_kg", "kilograms"),
        ("_t", "metric tons"),
        ("_pct", "percent"),
        ("_ha", "hectares"),
        ("_per_100k", "per 100,000 population"),
    ):
        if indicator.endswith(suffix):
            return unit
    if "crimes" in indicator:
        return "crimes registered"
    if "hiv" in indicator:
        return "people (HIV cases)"
    return "people"


def _svg(fig, title: str) -> Markup:
    """An inline SVG named ``title`` for screen readers; safe: matplotlib escapes every text it writes
    into the SVG, and ``to_svg`` escapes the title."""
    return Markup(charts.to_svg(fig, title))


# --------------------------------------------------------------------------------------------
# Sections


def _latest_year(results: Results, target: str) -> int | None:
    """The latest year any country-level evidence speaks of (the synthesis extrapolates beyond it)."""
    ev = results["evidence_used"]
    year = headline_year(ev, target) if ev is not None else None
    if year is not None:
        return year
    est = results["estimates"]
    years = est.loc[(est.target == target) & (est.method == "synthesis"), "year"] if est is not None else []
    return int(max(years)) if len(years) else None


def scenario_info(results: Results, scenarios: dict) -> list[dict]:
    fc = results["forecasts"]
    names = list(dict.fromkeys(fc.scenario)) if fc is not None else list(scenarios)
    ordered = [n for n in scenarios if n in names] + [n for n in names if n not in scenarios]
    colours = charts.scenario_colours(ordered)
    return [
        {
            "name": n,
            "label": getattr(scenarios.get(n), "label", n),
            "colour": colours[n],
            "source": getattr(scenarios.get(n), "source", ""),
            "ref": getattr(scenarios.get(n), "ref", ""),
            "years": getattr(scenarios.get(n), "years", None),
            "window": getattr(scenarios.get(n), "window", ""),
            "years_basis": getattr(scenarios.get(n), "years_basis", ""),
            "years_ref": getattr(scenarios.get(n), "years_ref", ""),
            "most_likely": _most_likely(fc, scenarios, n),
            "most_likely_basis": getattr(scenarios.get(n), "most_likely_basis", ""),
            "most_likely_ref": getattr(scenarios.get(n), "most_likely_ref", ""),
            "drivers": getattr(scenarios.get(n), "drivers", ""),
        }
        for n in ordered
    ]


def _most_likely(fc: pd.DataFrame | None, scenarios: dict, name: str) -> bool:
    """The author's most likely scenario: from forecasts.csv's column, else from the scenario file."""
    if fc is not None and "most_likely" in fc and (fc.scenario == name).any():
        return bool(fc.loc[fc.scenario == name, "most_likely"].astype(str).str.lower().eq("true").any())
    return bool(getattr(scenarios.get(name), "most_likely", False))


def scenario_heading(s: dict) -> str:
    """A scenario's column heading: its name, and whether the author calls it the most likely."""
    return f"{s['name']} (the author's most likely)" if s.get("most_likely") else s["name"]


def as_baseline(row) -> bool:
    """A row the source gives no figure for under its scenario: it repeats the baseline."""
    return str(row.get("assumption", "")).startswith("as baseline")


def _scenario_cells(rows: pd.DataFrame, scen: list[dict], fmt) -> list[str]:
    """One table cell per scenario: ``fmt`` of that scenario's row in ``rows``, or "–" if it has none."""
    cells = []
    for s in scen:
        r = rows[rows.scenario == s["name"]]
        cells.append(fmt(r.iloc[0]) if len(r) else "–")
    return cells


def calibration(results: Results) -> dict | None:
    """The latest calibration: what came in, and how the scenario weights moved."""
    cal = results["calibration_history"]
    if cal is None or cal.empty:
        return None
    cal = cal.assign(vintage=cal.vintage.astype(str))
    vintages = list(dict.fromkeys(cal.vintage))
    weighted = cal[cal.scenario.notna()]
    last = cal[cal.vintage == vintages[-1]]
    prev = cal[cal.vintage == vintages[-2]] if len(vintages) > 1 else None
    weights = []
    for _, r in last[last.scenario.notna()].iterrows():
        was = prev[prev.scenario == r.scenario].weight if prev is not None else []
        weights.append(f"{r.scenario} {r.weight:.2f}" + (f" (was {was.iloc[0]:.2f})" if len(was) else ""))
    r0 = last.iloc[0]
    table = Table(
        ["Vintage", "Date", "File", "New", "Revised", "Scored", *dict.fromkeys(weighted.scenario)],
        [],
        "calibration_history.csv",
        caption="Calibrations: figures added, revised and scored, and the scenario weights after each",
        numeric=set(range(3, 6 + weighted.scenario.nunique())),
        css="small",
    )
    for v in vintages:
        g = cal[cal.vintage == v]
        f = g.iloc[0]
        table.rows.append(
            [
                v,
                str(f.date)[:10],
                str(f.file),
                str(f.n_new),
                str(f.n_revised),
                str(f.n_scored),
                *[
                    f"{g[g.scenario == s].weight.iloc[0]:.2f}" if (g.scenario == s).any() else "–"
                    for s in dict.fromkeys(weighted.scenario)
                ],
            ]
        )
    return {
        "vintage": r0.vintage,
        "date": r0.date,
        "file": r0.file,
        "n_new": int(r0.n_new),
        "n_revised": int(r0.n_revised),
        "n_scored": int(r0.n_scored),
        "weights": weights,
        "table": table,
        "chart": _svg(charts.calibration_chart(weighted), "Scenario weights after each calibration")
        if weighted.vintage.nunique() > 1
        else None,
    }


def track_record(results: Results) -> dict | None:
    """How past forecasts held up: the replayed and real calibrations' scores by indicator family."""
    track = results["track_record"]
    if track is None or track.empty:
        return None
    summary = summarise_track_record(track)
    if summary.empty:
        return None
    rows = [
        [
            r.family,
            str(int(r.figures)),
            f"{r.in_80:.0%}",
            f"{r.in_95:.0%}",
            f"{r.mean_pit:.2f}",
            f"{r.median_crps_rel:.2f}",
            f"{r.first_year}–{r.last_year}",
        ]
        for r in summary.itertuples()
    ]
    table = Table(
        ["Indicator family", "Figures scored", "Inside 80% band", "Inside 95% band", "Mean PIT",
         "Median CRPS ÷ figure", "Years"],
        rows,
        "track_record.csv (baseline scenario)",
        caption="How past forecasts held up, by indicator family (baseline scenario)",
        numeric={1, 2, 3, 4, 5},
        row_classes=["total" if r[0] == "all" else "" for r in rows],
    )  # fmt: skip
    total = summary[summary.family == "all"].iloc[0]
    vintages = track.vintage.astype(str).unique()
    return {
        "n": int(total.figures),
        "in_80": f"{total.in_80:.0%}",
        "verdict": coverage_in_words(total.in_80, 80),
        "in_95": f"{total.in_95:.0%}",
        "n_vintages": len(vintages),
        "years": f"{int(track.as_of.min()) if track.as_of.notna().any() else total.first_year}–{total.last_year}",
        "table": table,
        "chart": _svg(
            charts.track_record_chart(track),
            "Each figure that arrived after a forecast, as a multiple of the forecast's median, with the forecast's "
            "80% range",
        ),
    }


def diagnostics(results: Results) -> dict:
    diag = results["diagnostics"]
    run_flag = results.run.get("diagnostics_passed")
    if diag is None:
        failed = run_flag is False
        return {
            "available": False,
            "passed": not failed,
            "messages": ["run.json says the convergence checks failed"] if failed else [],
            "table": None,
        }
    ok = diag["pass"].astype(str).str.lower().isin(["true", "1"])
    messages = [
        f"{r.model}: {r.variable} — R-hat {r.r_hat_max:.3f}, bulk ESS {r.ess_bulk_min:.0f}, "
        f"tail ESS {r.ess_tail_min:.0f}, {int(r.divergences)} divergences"
        for _, r in diag[~ok].iterrows()
    ]
    if run_flag is False and not messages:
        messages.append("run.json says the convergence checks failed")
    rows = [
        [
            r.model,
            r.variable,
            str(int(r["size"])),
            f"{r.r_hat_max:.3f}",
            f"{r.ess_bulk_min:.0f}",
            f"{r.ess_tail_min:.0f}",
            str(int(r.divergences)),
            "pass" if good else "FAIL",
        ]
        for (_, r), good in zip(diag.iterrows(), ok, strict=True)
    ]
    table = Table(
        ["Model", "Variable", "Size", "R-hat max", "Bulk ESS min", "Tail ESS min", "Divergences", "Verdict"],
        rows,
        "diagnostics.csv",
        caption="Convergence diagnostics of the Bayesian fit, per variable",
        numeric={2, 3, 4, 5, 6},
        css="small",
        cell_classes={(i, 7): "pass" if good else "fail" for i, good in enumerate(ok)},
    )
    return {
        "available": True,
        "passed": not messages,
        "messages": messages,
        "table": table,
        "sampling_note": str(results.run.get("sampling_note") or ""),
        "n": len(diag),
        "n_failed": int((~ok).sum()),
    }


def prevalence(results: Results) -> dict | None:
    """One small-multiples chart per target (a panel per country), and the range chart."""
    est = results["estimates"]
    if est is None:
        return None
    synth = est[est.method == "synthesis"]
    ev = results["evidence_used"]
    observed = ev[ev.quantity.isin(["register", "size"])] if ev is not None else pd.DataFrame()
    order = {c: i for i, c in enumerate([*vocab.MODEL_COUNTRIES, REGION])}
    grids, counts = [], {}
    for target, label in TARGET_LABELS.items():
        e = synth[synth.target == target].sort_values("country", key=lambda c: c.map(order).fillna(99), kind="stable")
        if e.empty:
            continue
        o = observed[observed.target == target] if len(observed) else observed
        for country in dict.fromkeys(e.country):
            oc = o[o.country == country] if len(o) else o
            counts.setdefault(country, {})[target] = (
                int((oc.quantity == "register").sum()) if len(oc) else 0,
                int((oc.quantity == "size").sum()) if len(oc) else 0,
            )
        title = f"{label}: estimated true number by country and year, against the registers and size estimates"
        grids.append(
            {"target": target, "label": label, "title": title, "svg": _svg(charts.prevalence_grid(e, o, label), title)}
        )
    no_register = [c for c, t in counts.items() if c != REGION and not any(v[0] for v in t.values())]
    return {
        "grids": grids,
        "counts": counts,
        "no_register": no_register,
        "ranges": source_ranges(est, results),
    }


def source_ranges(est: pd.DataFrame, results: Results) -> dict | None:
    """The range chart's rows: each single multiplier (register × multiplier), each independent size
    estimate, and each size estimate left out of the synthesis, beside the synthesis of the same cell."""
    synth = est[est.method == "synthesis"][["country", "target", "year", "median", "lo_95", "hi_95"]]
    parts = []
    mult = est[est.method.str.startswith("multiplier:")]
    if len(mult):
        method = mult.evidence_method.fillna("") if "evidence_method" in mult else pd.Series("", index=mult.index)
        parts.append(
            pd.DataFrame(
                {
                    "country": mult.country,
                    "target": mult.target,
                    "year": mult.year,
                    "kind": "multiplier",
                    "value": mult["median"],
                    "lo": mult.lo_95,
                    "hi": mult.hi_95,
                    "what": [
                        f"×{number(m, 3)} {str(k).replace('_', ' ')} ({_author(src)})"
                        for m, k, src in zip(mult.multiplier, method, mult.source.fillna(""), strict=True)
                    ],
                }
            )
        )
    ev = results["evidence_used"]
    size = ev[ev.quantity == "size"] if ev is not None else pd.DataFrame()
    if len(size):
        parts.append(
            pd.DataFrame(
                {
                    "country": size.country,
                    "target": size.target,
                    "year": size.year,
                    "kind": "size",
                    "value": size.value,
                    "lo": size.low,
                    "hi": size.high,
                    "what": [f"size estimate ({_author(src)})" for src in size.source.fillna("")],
                }
            )
        )
    lo = read_csv(results.folder / "evidence_left_out.csv")
    if lo is not None and "indicator" in lo:
        lo = lo[lo.indicator.astype(str).str.startswith(("estimated_users", "estimated_plhiv"))]
        lo = lo[~lo.indicator.astype(str).str.endswith("_per_100k")]
        if len(lo):
            parts.append(
                pd.DataFrame(
                    {
                        "country": lo.country,
                        "target": lo.target,
                        "year": lo.year,
                        "kind": "left out",
                        "value": pd.to_numeric(lo.value, errors="coerce"),
                        "lo": pd.to_numeric(lo.low, errors="coerce"),
                        "hi": pd.to_numeric(lo.high, errors="coerce"),
                        "what": [f"left out: {str(r)[:40]}" for r in lo.reason.fillna("")],
                    }
                )
            )
    if not parts:
        return None
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows[["value", "lo", "hi"]].notna().any(axis=1)]
    rows = rows.merge(synth, on=["country", "target", "year"], how="left")
    rows["target_label"] = rows.target.map(TARGET_LABELS).fillna(rows.target)
    rows["_t"] = rows.target.map({t: i for i, t in enumerate(TARGET_LABELS)}).fillna(9)
    rows = rows.sort_values(["_t", "country", "year", "kind"], kind="stable").reset_index(drop=True)
    rows["label"] = [f"{r.country} {int(r.year)} · {r.what}" for r in rows.itertuples()]
    chart_rows = rows.rename(
        columns={"median": "synthesis_median", "lo_95": "synthesis_lo_95", "hi_95": "synthesis_hi_95"}
    )
    table_rows = [
        [
            f"{r.country} {int(r.year)}, {r.target}",
            r.what,
            figure_range(r.value, r.lo, r.hi),
            median_band(r.synthesis_median, r.synthesis_lo_95, r.synthesis_hi_95),
        ]
        for r in chart_rows.itertuples()
    ]
    table = Table(
        ["Where", "Estimate", "Its figure or range", "Synthesis: median, 95% range"],
        table_rows,
        "estimates.csv (multiplier:<id> and synthesis), evidence_used.csv (size), evidence_left_out.csv",
        caption="Each source's estimate of the true number against the synthesis of all evidence",
        numeric={2, 3},
        css="small",
    )
    title = "Each source's estimate of the true number against the synthesis of all evidence (range chart)"
    return {"svg": _svg(charts.range_chart(chart_rows), title), "title": title, "table": table, "n": len(chart_rows)}


def _author(source) -> str:
    """The citing author of a source field: "Engvall 2005 citing UNODC ..." -> "Engvall 2005"."""
    return str(source).split(" citing")[0].split(",")[0].split(" Table")[0].strip()


def figure_range(value, lo, hi) -> str:
    if pd.notna(lo) and pd.notna(hi):
        return f"{number(value)}\n{band(lo, hi)}" if pd.notna(value) else band(lo, hi)
    return figure(value, lo, hi)


def _text(column: pd.Series) -> list[str]:
    """A column as display text, empty cells empty (a column with no text at all reads back as floats)."""
    return ["" if pd.isna(v) else str(v) for v in column]


def _flag_rank(flag: str) -> int:
    if not flag:
        return 2
    return 0 if flag.upper().startswith("CONFLICT") else 1


def _method(r) -> str:
    """The estimation method of an evidence row, as words (results written before it was kept: none)."""
    method = getattr(r, "method", None)
    return str(method).replace("_", " ") if isinstance(method, str) and method else ""


def _expected(r) -> str:
    """The range the rest of the evidence expects for a figure (one side for a bound)."""
    text = open_band(getattr(r, "expected_low", None), getattr(r, "expected_high", None))
    return f"expected {text}" if text else ""


def prevalence_conflicts(results: Results) -> Table | None:
    pc = results["prevalence_conflicts"]
    if pc is None:
        return None
    pc = pc.assign(flag=_text(pc.flag))
    pc = pc.assign(_rank=pc.flag.map(_flag_rank)).sort_values(["_rank", "tail_probability"], kind="stable")
    rows = [
        [
            "\n".join(filter(None, [r.evidence_id, f"{r.target}, {r.country} {r.year}", _method(r)])),
            "\n".join(filter(None, [str(r.figure), _expected(r)])),
            cite(r.source, r.ref),
            f"{number(r.synthesis_median)}\n{number(r.without_median)}",
            f"{r.shift_pct:+.0f}%",
            f"{r.tail_probability:.2f}\nk {r.pareto_k:.2f}",
            r.flag,
        ]
        for _, r in pc.iterrows()
    ]
    return Table(
        ["Evidence", "Figure", "Source [ref]", "Synthesis with / without it", "Shift", "Tail prob., Pareto k", "Flag"],
        rows,
        "prevalence_conflicts.csv",
        caption="Which sources pull where: each figure the synthesis used (its method under it), with the estimate "
        "with and without it. Under each figure, the range the rest of the evidence expects for it: outside it "
        "the figure is flagged, so a wide range means a bias that large would go unnoticed",
        numeric={1, 3, 4, 5},
        css="small",
        row_classes=["conflict" if k == 0 else "influential" if k == 1 else "" for k in pc._rank],
    )


def method_biases(results: Results) -> Table | None:
    """Per estimation method: the factor its figures run at against the truth, prior and posterior."""
    mb = results["method_biases"]
    if mb is None or not len(mb):
        return None
    mb = mb.assign(flag=_text(mb.flag))
    rows = [
        [
            _method(r),
            f"{int(r.figures)}\n{r.countries}",
            f"{number(r.prior_factor)}\n{band(r.prior_lo_90, r.prior_hi_90)}",
            f"{number(r.factor)}\n{band(r.lo_90, r.hi_90)}",
            f"{r.narrowed:.2f}",
            r.flag,
        ]
        for _, r in mb.iterrows()
    ]
    return Table(
        ["Method", "Figures", "Prior: figure / truth (90%)", "Posterior: figure / truth (90%)", "Narrowed", "Flag"],
        rows,
        "method_biases.csv",
        caption="How far each estimation method's figures run from the truth: the cited prior and what the "
        "evidence says (narrowed: posterior sd / prior sd; near 1, the data cannot tell this method's bias "
        "from the truth)",
        numeric={2, 3, 4},
        css="small",
        row_classes=["conflict" if f else "" for f in mb.flag],
    )


def data_conflicts(conflicts: pd.DataFrame | None, data_file: str, only: set[str] | None = None) -> Table | None:
    """Recorded contradictions; with ``only`` (indicators), a short form: what, where and the note."""
    if conflicts is None:
        return None
    c = conflicts
    if only is not None:
        c = c[c.indicator.isin(only) | (c.indicator == "")]
        rows = [
            [r.id, f"{r.topic}\n{' '.join(filter(None, [r.country, r.indicator, r.year]))}", r.note]
            for _, r in c.iterrows()
        ]
        return Table(
            ["Id", "Topic, where", "Note"],
            rows,
            f"{data_file} (both sides with refs: data annex)",
            caption="Contradictions in the sources bearing on registers, size estimates and HIV figures",
            css="small",
        )
    rows = [
        [
            f"{r.id}\n{r.topic}\n{' '.join(filter(None, [r.country, r.indicator, r.year]))}",
            cite(r.says_a, r.ref_a),
            cite(r.says_b, r.ref_b),
            r.note,
        ]
        for _, r in c.iterrows()
    ]
    return Table(
        ["Conflict", "Source A says", "Source B says", "Note"],
        rows,
        data_file,
        caption="Every contradiction recorded between the sources (figures kept as printed)",
        css="small",
    )


#: fan charts in reading order: true numbers first, then registers, crime and seizures
FAN_ORDER = ("true_users", "true_plhiv", "registered_users", "registered_hiv", "drug_crimes", "seizures_")


def _fan_rank(indicator: str) -> int:
    return next((i for i, p in enumerate(FAN_ORDER) if indicator.startswith(p)), len(FAN_ORDER))


def forecasts(results: Results, scenarios: dict, scen: list[dict]) -> dict | None:
    """One small-multiples fan chart per indicator (a panel per country with 3+ figures), the
    arithmetic of the shorter series, and the full forecast table (HTML and CSV only)."""
    fc, hist = results["forecasts"], results["history"]
    if fc is None:
        return None
    order = {c: i for i, c in enumerate([*vocab.MODEL_COUNTRIES, REGION])}
    items = []
    for indicator in sorted(set(fc.indicator), key=lambda i: (_fan_rank(i), i)):
        g_ind = fc[fc.indicator == indicator]
        panels, notes = {}, []
        for country in sorted(set(g_ind.country), key=lambda c: order.get(c, 99)):
            g = g_ind[g_ind.country == country]
            if not has_fan_chart(g):
                continue
            h = (
                hist[(hist.country == country) & (hist.indicator == indicator)]
                if hist is not None
                else pd.DataFrame({"year": [], "value": []})
            )
            panels[country] = (h, g)
            first = g.iloc[0]
            n = int(first.n_obs) if "n_obs" in g and pd.notna(first.n_obs) else None
            if n:
                notes.append(f"{country}: {n} figures, the last of {int(first.last_year)}")
        if not panels:
            continue
        title = f"{chart_title(indicator)}: forecast by country, {outlook_years(fc)}"
        fig = charts.fan_grid(panels, scenarios, unit_of(indicator))
        items.append(
            {
                "indicator": indicator,
                "title": title,
                "svg": _svg(fig, title),
                "notes": notes,
                "fan": charts.fan_scenario(g_ind, scenarios),
                "own_50": charts.has_own_50(g_ind),
                "modelled": indicator.startswith("true_"),
            }
        )
    rows = []
    for (country, indicator, year), g in fc.groupby(["country", "indicator", "year"], sort=True):
        cells = [f"{country}\n{short_label(indicator)}", str(int(year))]
        cells += _scenario_cells(
            g, scen, lambda r: f"{number(r['median'])}\n80%: {band(r.lo_80, r.hi_80)}\n95%: {band(r.lo_95, r.hi_95)}"
        )
        rows.append(cells)
    table = Table(
        ["Series", "Year", *[s["name"] for s in scen]],
        rows,
        "forecasts.csv (median, then the 80% and 95% bands)",
        caption="Every forecast: median, 80% and 95% ranges per scenario and year",
        numeric=set(range(1, 2 + len(scen))),
        css="small",
    )
    return {
        "items": items,
        "table": table,
        "arithmetic": scenario_arithmetic(fc, scen),
        "history_missing": hist is None,
        "period": outlook_years(fc),
    }


def outlook_years(fc: pd.DataFrame) -> str:
    return summary.outlook_period(fc)


def _volatility(r) -> str:
    sigma = r.get("volatility")
    if sigma is None or pd.isna(sigma):
        return str(r.get("model", ""))
    return f"{float(sigma):.2f} a year (log scale), pooled"


def scenario_arithmetic(fc: pd.DataFrame, scen: list[dict]) -> Table | None:
    """Series with one or two observed years (no fan chart): the last figure, the pooled volatility
    laid over each scenario's rate, and where that leads by the horizon."""
    rows = []
    for (country, indicator), g in fc.groupby(["country", "indicator"], sort=True):
        if has_fan_chart(g):
            continue
        end = g[g.year == g.year.max()]
        first = g.iloc[0]
        cells = [
            f"{country}\n{short_label(indicator)}",
            f"{int(first.n_obs)} point{'s' if first.n_obs != 1 else ''}; {count(first.last_value)} in "
            f"{int(first.last_year)}",
            _volatility(first),
        ]
        cells += _scenario_cells(
            end,
            scen,
            lambda r: (
                "= baseline"
                if as_baseline(r)
                else f"{str(r.assumption).split(' (')[0].split(';')[0]}\n→ {number(r['median'])} in {int(r.year)}"
                f"\n80%: {band(r.lo_80, r.hi_80)}"
            ),
        )
        rows.append(cells)
    if not rows:
        return None
    return Table(
        ["Series", "Observed", "Volatility", *[scenario_heading(s) for s in scen]],
        rows,
        "forecasts.csv (assumption, median and 80% band at the horizon; volatility, n_obs, last_value)",
        caption="Series with one or two figures: each scenario's arithmetic to the last forecast year",
        numeric={1},
        css="small",
    )


def coverage_in_words(value: float, level: int) -> str:
    """What a band's real coverage means for a reader, against the targets of COVERAGE_TARGETS."""
    status = coverage_status(value, level)
    if status == "ok":
        return f"about right: the {level}% ranges can be read as they are"
    if status == "narrow":
        return f"too narrow: treat the {level}% ranges as optimistic, the future is less certain than they say"
    return f"wider than needed: the {level}% ranges are cautious"


def coverage_status(value: float, level: int) -> str:
    lo, hi = COVERAGE_TARGETS[level]
    return "ok" if lo <= value <= hi else ("narrow" if value < lo else "wide")


def backtest(results: Results) -> dict | None:
    bt = results["backtest_summary"]
    if bt is None:
        return None
    bt = bt.sort_values(["series_set", "model", "horizon"], kind="stable")
    horizons = list(dict.fromkeys(bt.horizon.astype(str)))
    rows, cells = [], {}
    for i, ((series_set, model), g) in enumerate(bt.groupby(["series_set", "model"], sort=False)):
        row = [f"{model}\n{series_set}"]
        for j, h in enumerate(horizons, start=1):
            r = g[g.horizon.astype(str) == h]
            if r.empty:
                row.append("–")
                continue
            r = r.iloc[0]
            row.append(
                f"{r.mase:.2f} / {r.crps:.2f}\n{r.coverage_80:.0%} / {r.coverage_95:.0%}\n{int(r.n_folds)} folds"
            )
            status = [coverage_status(r[f"coverage_{level}"], level) for level in (80, 95)]
            verdict = "narrow" if "narrow" in status else "wide" if "wide" in status else ""
            if verdict and r.n_folds < MIN_FOLDS:
                row[-1] += " · few folds"
            elif verdict:
                row[-1] += f" · too {verdict}"
                cells[(i, j)] = f"bt-{verdict}"
        rows.append(row)
    table = Table(
        ["Model, series", *[f"h = {h}" for h in horizons]],
        rows,
        "backtest_summary.csv (per horizon: MASE / CRPS, then coverage of the 80% / 95% bands, folds)",
        caption="Backtests per model and horizon: scaled error, CRPS and coverage of the 80% and 95% bands",
        numeric=set(range(1, len(horizons) + 1)),
        cell_classes=cells,
        css="small",
    )
    numeric_h = pd.to_numeric(bt.horizon, errors="coerce")
    used_names = set(results["forecasts"].model.astype(str)) if results["forecasts"] is not None else set()
    used = {m for m in set(bt.model) if any(u == m or u.startswith(f"{m} (") for u in used_names)}
    shown = (used | set(BENCHMARKS)) & set(bt.model) if used else set(bt.model)
    plotted = bt[numeric_h.notna() & bt.model.isin(shown)].assign(horizon=numeric_h)
    title = "Share of outcomes inside the 80% and 95% bands in backtests, by years ahead"
    chart = _svg(charts.coverage_chart(plotted), title) if len(plotted) else None
    return {"table": table, "chart": chart, "sets": list(dict.fromkeys(bt.series_set)), "shown": sorted(shown)}


# --------------------------------------------------------------------------------------------
# Data appendix and methods


def _text_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A loaded table with its text columns as display text (empty cells empty); figures stay numbers."""
    out = df.copy()
    for col in out.columns:
        if col not in ("value", "low", "high"):
            out[col] = _text(out[col])
    return out


def appendix(ds: Dataset) -> dict:
    """The data of the run's own vintage (observations, multiplier evidence, recorded conflicts)."""
    label = f"{ds.folder.name} (vintage {ds.vintage})"
    obs, mult = _text_frame(ds.observations), _text_frame(ds.multipliers)
    conf = _text_frame(ds.conflicts) if len(ds.conflicts) else None
    out: dict = {"data_dir": f"{ds.folder}, vintage {ds.vintage}", "observations": None, "multipliers": None}
    rows = [
        [r.country, r.indicator, r.year, f"{figure(r.value, r.low, r.high)} · {r.kind}", cite(r.source, r.ref)]
        for _, r in obs.iterrows()
    ]
    out["observations"] = Table(
        ["Country", "Indicator", "Year", "Value / range, kind", "Source [ref]"],
        rows,
        f"{label}: {OBSERVATIONS_FILE}",
        caption="Observations: every figure of the data, as its source gives it",
        numeric={2, 3},
        css="small",
    )
    ids = mult["id"] if "id" in mult else pd.Series([str(i + 1) for i in range(len(mult))])
    rows = [
        [f"{i}\n{r.method}", f"{r.country} {r.year}\n{r.target}", figure(r.value, r.low, r.high), cite(r.source, r.ref)]
        for i, (_, r) in zip(ids, mult.iterrows(), strict=True)
    ]
    out["multipliers"] = Table(
        ["Id, method", "Where", "× register", "Source [ref]"],
        rows,
        f"{label}: {MULTIPLIERS_FILE}",
        caption="Multiplier evidence: how many times the register the true number is, per source",
        numeric={2},
        css="small",
    )
    out["conflicts"] = data_conflicts(conf, f"{label}: {CONFLICTS_FILE}")
    if out["conflicts"] is not None:
        out["conflicts"].css = "small"
    out["conflicts_raw"] = conf
    return out


def left_out(results: Results) -> Table | None:
    lo = read_raw_csv(results.folder / "evidence_left_out.csv")  # figures as the file writes them
    if lo is None:
        return None
    rows = [
        [
            f"{r.get('id', '') or r.indicator}\n{r.country} {r.year}, {r.target}",
            figure(r.value, r.low, r.high),
            cite(r.source, r.ref),
            r.reason,
        ]
        for _, r in lo.iterrows()
    ]
    return Table(
        ["Evidence", "Figure", "Source [ref]", "Why left out"],
        rows,
        "evidence_left_out.csv",
        caption="Figures left out of the synthesis, and why",
        numeric={1},
        css="small",
    )


_KEY = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*=\s*(.*)$")
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _split_comment(value: str) -> tuple[str, str]:
    """Split `value  # comment` outside quotes."""
    quote = None
    for i, ch in enumerate(value):
        if ch in "\"'" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None:
            return value[:i].strip(), value[i + 1 :].strip()
    return value.strip(), ""


def priors_in_words(path: Path) -> dict | None:
    """Every setting of the priors file with the comment its authors wrote beside it (the file is the doc).

    Returns the file's opening comment and, per table, (key, value as written, explanation).
    """
    if not path.exists():
        return None
    intro, sections, comment, current = [], [], [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
            (intro if current is None and not sections else comment).append(text)
            continue
        if not stripped:
            if current is None:
                intro.append("")
            elif comment and current["items"]:
                comment = []
            continue
        header = _HEADER.match(stripped)
        if header and not _KEY.match(stripped):
            current = {"name": header.group(1), "note": " ".join(comment).strip(), "items": []}
            sections.append(current)
            comment = []
            continue
        key = _KEY.match(stripped)
        if key and current is not None:
            value, inline = _split_comment(key.group(2))
            current["items"].append({"key": key.group(1), "value": value, "note": " ".join([*comment, inline]).strip()})
            comment = []
    paragraphs = [p.strip() for p in " ".join(x if x else "\n" for x in intro).split("\n") if p.strip()]
    return {"file": str(path), "intro": paragraphs, "sections": sections}


def scenario_appendix(scenarios: dict) -> list[dict]:
    out = []
    for name, s in scenarios.items():
        items = [
            {"indicator": k, "text": a.text, "basis": " ".join(a.basis.split()), "ref": a.ref}
            for k, a in s.assumptions.items()
        ]
        out.append(
            {
                "name": name,
                "label": s.label,
                "source": s.source,
                "ref": s.ref,
                "years": s.years,
                "window": s.window,
                "years_basis": s.years_basis,
                "years_ref": s.years_ref,
                "most_likely": s.most_likely,
                "most_likely_basis": s.most_likely_basis,
                "most_likely_ref": s.most_likely_ref,
                "unlisted": "as baseline" if s.default.as_baseline else "follow the fitted model",
                "drivers": s.drivers,
                "items": items,
                "file": s.file,
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# Everything together


def load_scenario_definitions(results: Results) -> tuple[dict, str | None]:
    """The scenario files (labels, bases, refs); a broken file costs the labels, not the report."""
    from forecast.core.errors import ConfigError
    from forecast.scenarios.definitions import load_scenarios

    path = results.run.get("scenarios")
    try:
        return load_scenarios(Path(path) if path else None), None
    except ConfigError as exc:
        return {}, "; ".join(exc.lines)


def build_context(results_dir: Path, dataset: Dataset | None = None, data_dir: Path | str | None = None) -> dict:
    """The template's variables: plain strings, Table objects and inline SVG; nothing is refitted."""
    results = read_results(Path(results_dir))
    ds = dataset if dataset is not None else dataset_of_run(results, data_dir)
    scenarios, scenario_error = load_scenario_definitions(results)
    scen = scenario_info(results, scenarios)
    for s in scen:
        s["sentence"] = summary.scenario_sentence(scenarios.get(s["name"])) or s["label"]
    data = appendix(ds)
    priors_path = Path(results.run["priors"]) if results.run.get("priors") else models_file("prevalence.toml")
    present = sorted(p.name for p in results.folder.iterdir() if p.is_file()) if results.folder.is_dir() else []
    years = {t: _latest_year(results, t) for t in TARGET_LABELS}
    findings = summary.findings(results["estimates"], years)
    fc = results["forecasts"]
    context = {
        "run": results.run,
        "results_dir": str(results.folder),
        "files": present,
        "diagnostics": diagnostics(results),
        "findings": findings,
        "outlook": summary.outlook(fc, scen, short_label),
        "outlook_period": summary.outlook_period(fc),
        "since": summary.since_calibration(results["calibration_history"]),
        "why_wide": summary.why_wide(findings, fc, results["backtest_summary"]),
        "calibration": calibration(results),
        "track_record": track_record(results),
        "scenarios": scen,
        "scenario_error": scenario_error,
        "prevalence": prevalence(results),
        "prevalence_conflicts": prevalence_conflicts(results),
        "method_biases": method_biases(results),
        "prevalence_data_conflicts": data_conflicts(
            data["conflicts_raw"], f"{ds.folder.name}/{CONFLICTS_FILE}", only=PREVALENCE_INDICATORS
        ),
        "forecasts": forecasts(results, scenarios, scen),
        "backtest": backtest(results),
        "data": data,
        "left_out": left_out(results),
        "priors": priors_in_words(priors_path),
        "scenario_definitions": scenario_appendix(scenarios),
        "package_version": package_version(),
        "min_folds": MIN_FOLDS,
        "likelihood_convention": words.LIKELIHOOD_CONVENTION,
        "target_groups": words.TARGET_GROUPS,
        "glossary": words.GLOSSARY,
        "bibliography": words.BIBLIOGRAPHY,
    }
    return context


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("forecast")
    except PackageNotFoundError:
        return "(not installed)"
