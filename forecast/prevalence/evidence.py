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

#: register-type figures (counts of a definition of their own) per target: indicator -> (quantity, bound)
REGISTER_INDICATORS = {
    "users": {"registered_users": ("register", None), "treated_users": ("treated", None)},
    "plhiv": {
        "registered_hiv_cumulative": ("register", None),
        # HIV cases among people who inject drugs: a part of all diagnoses so far
        "registered_hiv_idu": ("register", "lower"),
        "registered_hiv_new": ("new", None),
        "registered_hiv_living": ("living", None),
        "registered_hiv_deaths": ("deaths", None),
        "registered_hiv_deaths_cumulative": ("deaths_cumulative", None),
        # people on ART are diagnosed and alive: a floor of the living diagnosed
        "on_art": ("living", "lower"),
    },
}
SIZE_INDICATORS = {"users": "estimated_users", "plhiv": "estimated_plhiv"}
#: the group of people each kind of evidence counts (issue 13: one name per target group)
GROUPS = {
    ("users", "register"): "people on the drug register",
    ("users", "treated"): "people in drug treatment",
    ("users", "size"): "high-risk (problem) drug users",
    ("users", "multiplier"): "high-risk drug users per registered user",
    ("plhiv", "register"): "HIV diagnoses so far (cumulative, the dead included)",
    ("plhiv", "new"): "new HIV diagnoses in the year",
    ("plhiv", "living"): "people living with diagnosed HIV",
    ("plhiv", "deaths"): "deaths among people diagnosed with HIV",
    ("plhiv", "deaths_cumulative"): "deaths among people diagnosed with HIV, so far",
    ("plhiv", "size"): "people living with HIV",
    ("plhiv", "multiplier"): "people living with HIV per registered case",
    ("plhiv", "share"): "share of people living with HIV who are diagnosed",
    ("plhiv", "floor"): "people living with HIV: at least those living with diagnosed HIV",
    ("plhiv", "pwid_link"): "people living with HIV per high-risk drug user: at most (PLHIV-PWID link)",
}
#: evidence that is cited knowledge applied to every country, not a figure of the country itself
KNOWLEDGE = ("share", "pwid_link")
#: softness of the floor the living diagnosed (or people on ART) put under PLHIV, log scale: a
#: censored bound so steep that the true number stays above the count (1% below it: probability 3%)
FLOOR_LOG_SD = 0.005
#: estimation methods a size estimate's source names, first match wins (else expert_judgement)
METHOD_WORDS = (
    ("rapid", "rapid_assessment"),
    ("capture", "capture_recapture"),
    ("scale-up", "network_scale_up"),
    ("norm", "norm"),
    ("field", "field_sampling"),
)
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
    "group",
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


def method_of(row, cfg: PrevalenceConfig) -> str:
    """The estimation method of a size estimate or multiplier: its ``method`` column where that
    names a method with a bias prior, else read from its source ("rapid assessment", "norm", ...);
    an estimate that names none is an expert figure (docs/prevalence_priors.md section 8)."""
    method = str(row.get("method") or "")
    if method in cfg.method_bias:
        return method
    text = f"{row.get('source', '')} {row.get('note', '')}".lower()
    return next((m for word, m in METHOD_WORDS if word in text and m in cfg.method_bias), "expert_judgement")


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

    def add(quantity, r, point_sd, method, label, bound_as=None):
        if any(pd.notna(r[c]) and float(r[c]) <= 0 for c in ("value", "low", "high")):
            # a zero count says "none caught", not a size: it cannot enter on the log scale
            left_out.append({**dict(r), "reason": "a zero figure: no information on the log scale"})
            return
        bound, mu, sd = log_spread(r["value"], r["low"], r["high"], cfg, point_sd)
        if bound_as == "lower" and bound == "point":
            # a count of part of the group (people on ART, HIV cases among injectors) bounds it below
            bound, sd = "lower", point_sd
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
                "group": GROUPS[(target, quantity)],
                "label": label,
            }
        )

    for ind, (quantity, bound_as) in REGISTER_INDICATORS[target].items():
        for _, r in obs[obs.indicator == ind].iterrows():
            reason = _excluded(r, cfg)
            if reason:
                left_out.append({**r.to_dict(), "reason": reason})
                continue
            add(quantity, r, cfg.register_log_sd, ind, f"{r['country']} {ind} {r['year']}", bound_as)
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
        add("size", r, cfg.point_log_sd, method_of(r, cfg), f"{r['country']} estimate {r['year']} ({r['source']})")
    for _, r in mult.iterrows():
        if _derived(r):
            left_out.append({**r.to_dict(), "reason": "implied by size estimate / register already used"})
            continue
        before = len(rows)
        add("multiplier", r, cfg.point_log_sd, method_of(r, cfg), f"{r['id']}")
        if len(rows) > before:
            rows[-1]["evidence_id"] = r["id"]
    if target == "plhiv":
        rows.extend(_plhiv_floors(rows))
        z = _z(cfg.range_coverage)
        for k in cfg.priors["plhiv"].diagnosed_share:
            for country in vocab.MODEL_COUNTRIES:
                rows.append(
                    {
                        "target": target,
                        "quantity": "share",
                        "country": country,
                        "year": k["year"],
                        "bound": "point",
                        "log_mu": math.log(k["share"]),
                        "log_sd": math.log(k["high"] / k["low"]) / (2 * z),
                        "value": k["share"],
                        "low": k["low"],
                        "high": k["high"],
                        "source": k["source"],
                        "ref": str(cfg.path),
                        "method": "literature",
                        "group": GROUPS[(target, "share")],
                        "label": f"{country} diagnosed share {k['year']} (regional literature)",
                    }
                )
    ev = pd.DataFrame(rows)
    if ev.empty:
        return pd.DataFrame(columns=EVIDENCE_COLUMNS), pd.DataFrame(left_out)
    if "evidence_id" not in ev:
        ev["evidence_id"] = None
    auto = ev["evidence_id"].isna()
    ev.loc[auto, "evidence_id"] = [
        f"{q}:{c}:{y}:{i}"
        for i, (q, c, y) in enumerate(zip(ev.quantity[auto], ev.country[auto], ev.year[auto], strict=True))
    ]
    return ev[EVIDENCE_COLUMNS].reset_index(drop=True), pd.DataFrame(left_out)


def pwid_link_rows(cfg: PrevalenceConfig, evidence: pd.DataFrame) -> pd.DataFrame:
    """The link PLHIV <- people who inject drugs, as one "at most" row per country and year in which
    the country has a count of its own people living with HIV (registered, diagnosed, living).

    People living with HIV who inject drugs cannot outnumber the people who inject drugs times the
    highest HIV prevalence among them, and people who inject are a part of high-risk drug users:
    PLHIV x injecting share <= prevalence max x users, i.e. log PLHIV - log users <= log(prevalence
    max / injecting share min). The cited anchors ([[plhiv.pwid_link]]) are interpolated on the log
    scale between their years and held flat after the last; the rows start at the first anchor.
    Only where the data allow: a year without a PLHIV count of the country (Turkmenistan: none at
    all) would tie its prior-only PLHIV to its users, and through the pooled priors every country's.
    """
    anchors = cfg.priors["plhiv"].pwid_link
    if not anchors:
        return pd.DataFrame(columns=EVIDENCE_COLUMNS)
    at = np.array([k["year"] for k in anchors], dtype=float)
    log_ratio = np.log([k["hiv_prevalence_max"] / k["injecting_share_min"] for k in anchors])
    log_sd = np.array([k["log_sd"] for k in anchors], dtype=float)
    source = "; ".join(dict.fromkeys(k["source"] for k in anchors))
    counts = evidence[
        (evidence.target == "plhiv")
        & evidence.quantity.isin(["register", "new", "living", "floor"])
        & evidence.country.isin(vocab.MODEL_COUNTRIES)
        & (evidence.year >= at[0])
    ]
    rows = []
    for country, year in sorted({(r.country, int(r.year)) for r in counts.itertuples()}):
        ratio = float(np.exp(np.interp(year, at, log_ratio)))
        rows.append(
            {
                "evidence_id": f"pwid_link:{country}:{year}",
                "target": "plhiv",
                "quantity": "pwid_link",
                "country": country,
                "year": year,
                "bound": "upper",
                "log_mu": math.log(ratio),
                "log_sd": float(np.interp(year, at, log_sd)),
                "value": math.nan,
                "low": math.nan,
                "high": ratio,
                "source": source,
                "ref": str(cfg.path),
                "method": "literature",
                "group": GROUPS[("plhiv", "pwid_link")],
                "label": f"{country} {year}: people living with HIV <= {ratio:.2f} x high-risk drug users",
            }
        )
    return pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)


def _plhiv_floors(rows: list[dict]) -> list[dict]:
    """One "at least" row per country and year with living diagnosed or people on ART: nobody
    counted as living with diagnosed HIV can be missing from the people living with HIV."""
    out = []
    living = [r for r in rows if r["quantity"] == "living" and r["country"] in vocab.MODEL_COUNTRIES]
    for key in sorted({(r["country"], r["year"]) for r in living}):
        top = max((r for r in living if (r["country"], r["year"]) == key), key=lambda r: r["log_mu"])
        out.append(
            {
                **top,
                "quantity": "floor",
                "bound": "lower",
                "log_sd": FLOOR_LOG_SD,
                "method": "floor",
                "group": GROUPS[("plhiv", "floor")],
                "label": f"{key[0]} PLHIV {key[1]}: at least the {math.exp(top['log_mu']):,.0f} "
                "living with diagnosed HIV (register or ART)",
            }
        )
    return out


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
