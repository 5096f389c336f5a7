"""Calibrating against new annual figures: diff, score the previous forecast, store a vintage, refit.

The yearly questions: were our forecasts right, which scenario is reality tracking, and what do
the new figures change? The steps, in order (nothing is written before step 5):

1. validate every file fully (contract + calibration rules); any problem -> DataError, exit 2;
2. diff against the latest vintage: each row is **new** (no figure for that country / indicator /
   year yet), **restated** (same figure already there) or **revised** (a different figure);
3. find the previous forecast (stored with the previous vintage, else the results folder if its
   run.json names this data folder, else computed now) and score the new figures inside its
   horizon: band (80/95), PIT, CRPS, log density per scenario, then Bayes scenario weights;
4. (dry run stops here)
5. write the merged tables as a new vintage (forecast.data.vintages), then calibration.csv;
6. refit the prevalence synthesis and the forecasts on the new vintage (forecast.pipeline).

Revisions are never overwritten: the previous vintage keeps the old figure and the new vintage's
``revisions.csv`` holds both values and both sources. In the new vintage's tables a revising
official figure takes the place of the official figure(s) it revises (the forecast must follow the
latest official count); an estimate or a multiplier replaces only an earlier figure from the same
source and otherwise stands alongside it as further evidence.

Scoring from quantiles: a forecasts.csv row gives the 2.5/10/50/90/97.5% quantiles, not draws. The
forecast distribution is rebuilt as a monotone CDF through those quantiles on the log1p scale, with
normal tails fitted to the outer quantiles (``QuantileForecast``); PIT, CRPS (numerical integral of
that CDF) and the density follow from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from forecast.core.errors import DataError, Issue
from forecast.core.outputs import write_csv
from forecast.core.resources import default_data_dir
from forecast.data import vocab
from forecast.data.contract import check_file, read_table
from forecast.data.dataset import Dataset, load_dataset
from forecast.data.vintages import BASE, HISTORY_FILE, Store, Vintage, calibration_history, sha256_file, table_bytes

LEVELS = np.array([0.025, 0.1, 0.5, 0.9, 0.975])
QUANTILE_COLUMNS = ["lo_95", "lo_80", "median", "hi_80", "hi_95"]
PREVIOUS_HORIZON = 5  # the horizon of a previous forecast computed on the fly
OBS_MATCH = ["country", "indicator", "year"]
MULT_MATCH = ["country", "target", "year", "method"]
CHANGE_COLUMNS = [
    "table",
    "file",
    "line",
    "status",
    "country",
    "indicator",
    "year",
    "value",
    "low",
    "high",
    "kind",
    "source",
    "ref",
    "was",
    "action",
    "scored",
]
REVISION_COLUMNS = [
    "table",
    "country",
    "indicator",
    "year",
    "kind",
    "old_value",
    "old_low",
    "old_high",
    "old_source",
    "old_ref",
    "new_value",
    "new_low",
    "new_high",
    "new_source",
    "new_ref",
    "action",
    "vintage",
]
SCORE_COLUMNS = [
    "country",
    "indicator",
    "year",
    "value",
    "source",
    "scenario",
    "horizon",
    "median",
    "lo_80",
    "hi_80",
    "lo_95",
    "hi_95",
    "band",
    "pit",
    "crps",
    "crps_rel",
    "log_density",
]
WEIGHT_COLUMNS = ["scenario", "figures", "log_lik", "weight", "in_80", "in_95", "mean_pit", "mean_crps_rel"]
#: calibration_history.csv: one row per vintage x scenario (one row with no scenario when nothing was
#: scored); the report's track record reads vintage, date, file, n_new, n_revised, n_scored, scenario, weight.
NO_OVERLAP = "no overlap with the previous forecast horizon"


# --------------------------------------------------------------------------------------------
# 1. reading and validating the calibration files
# --------------------------------------------------------------------------------------------
@dataclass
class Incoming:
    """One validated calibration file."""

    path: Path
    kind: str  # observations | multipliers
    table: pd.DataFrame  # contract columns + _file, _line
    sha256: str

    def describe(self) -> dict:
        return {
            "name": self.path.name,
            "path": str(self.path),
            "sha256": self.sha256,
            "kind": self.kind,
            "rows": len(self.table),
        }


def read_calibration_files(paths: list[Path]) -> list[Incoming]:
    """Validate every file (all problems of all files at once); DataError if any."""
    issues: list[Issue] = []
    files: list[Incoming] = []
    for path in paths:
        path = Path(path)
        try:
            kind, table = check_file(path)
        except DataError as exc:
            issues += exc.issues
            continue
        if kind == "conflicts":
            issues.append(
                Issue(
                    str(path),
                    1,
                    None,
                    "is a conflicts table; calibrate takes observations "
                    "or multiplier evidence (see DESIGN.md, Contracts)",
                )
            )
            continue
        columns = vocab.OBSERVATION_COLUMNS if kind == "observations" else vocab.MULTIPLIER_COLUMNS
        lines = read_table(path, columns, optional=("id",) if kind == "multipliers" else ()).index
        table = table.assign(_file=str(path), _line=np.asarray(lines, dtype=int))
        files.append(Incoming(path, kind, table, sha256_file(path)))
    issues += _cross_file_issues(files)
    if issues:
        raise DataError(issues)
    return files


def _cross_file_issues(files: list[Incoming]) -> list[Issue]:
    """Calibration rules beyond the contract: one official figure per series and year, unique ids."""
    issues = []
    rules = [
        (
            "observations",
            ["country", "indicator", "year"],
            "official",
            "a second official figure for {desc} (first at {first}); "
            "a calibration file gives one official figure per series and year",
        ),
        (
            "observations",
            ["country", "indicator", "year", "source", "kind"],
            "estimate",
            "duplicate of {first} ({desc})",
        ),
        ("multipliers", ["id"], None, "id {desc} is used twice (first at {first})"),
    ]
    for kind, key, only_kind, message in rules:
        parts = [f.table for f in files if f.kind == kind]
        if not parts:
            continue
        t = pd.concat(parts, ignore_index=True)
        if only_kind:
            t = t[t.kind == only_kind]
        seen: dict[tuple, str] = {}
        for _, r in t.iterrows():
            k = tuple(r[c] for c in key)
            here = f"{r._file}, row {r._line}"
            if k in seen:
                desc = " ".join(str(x) for x in k)
                issues.append(Issue(r._file, int(r._line), None, message.format(desc=desc, first=seen[k])))
            else:
                seen[k] = here
    return issues


# --------------------------------------------------------------------------------------------
# 2. the diff: new / restated / revised
# --------------------------------------------------------------------------------------------
@dataclass
class Diff:
    merged: pd.DataFrame  # the new vintage's table
    changes: pd.DataFrame  # one row per incoming row (CHANGE_COLUMNS)
    revisions: pd.DataFrame  # REVISION_COLUMNS

    @property
    def counts(self) -> dict[str, int]:
        s = self.changes.status.value_counts() if not self.changes.empty else {}
        return {k: int(s.get(k, 0)) for k in ("new", "restated", "revised")}


def _same_figure(a: pd.Series, b: pd.Series) -> bool:
    for col in ("value", "low", "high"):
        x, y = a[col], b[col]
        if pd.isna(x) and pd.isna(y):
            continue
        if pd.isna(x) or pd.isna(y) or not math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


def figure_text(r) -> str:
    """How a figure reads: 6,243 / 45,000-55,000 / >= 100,000 / <= 3."""
    v, lo, hi = r["value"], r["low"], r["high"]
    if pd.notna(v):
        text = _num(v)
        if pd.notna(lo) or pd.notna(hi):
            text += f" ({_num(lo) if pd.notna(lo) else ''}-{_num(hi) if pd.notna(hi) else ''})"
        return text
    if pd.notna(lo) and pd.notna(hi):
        return f"{_num(lo)}-{_num(hi)}"
    return f">= {_num(lo)}" if pd.notna(lo) else f"<= {_num(hi)}"


def _num(v) -> str:
    v = float(v)
    if v == int(v) or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _obs_supersedes(old: pd.Series, new: pd.Series) -> bool:
    return old.kind == new.kind and (new.kind == "official" or old.source == new.source)


def _mult_supersedes(old: pd.Series, new: pd.Series) -> bool:
    return old.source == new.source


def diff_table(current: pd.DataFrame, incoming: pd.DataFrame, table: str, vintage_id: str) -> Diff:
    """Classify each incoming row against ``current`` and build the merged table."""
    obs = table == "observations"
    match = OBS_MATCH if obs else MULT_MATCH
    supersedes = _obs_supersedes if obs else _mult_supersedes
    columns = list(vocab.OBSERVATION_COLUMNS if obs else vocab.MULTIPLIER_COLUMNS)
    at_key = current.groupby(match, sort=False).indices if not current.empty else {}
    dropped: set[int] = set()
    added, changes, revisions = [], [], []  # added: (row, index of its change)
    for _, r in incoming.iterrows():
        key = tuple(r[c] for c in match)
        old_rows = [current.loc[i] for i in at_key.get(key, [])]
        change = {
            "table": table,
            "file": r._file,
            "line": int(r._line),
            "country": r.country,
            "indicator": r.indicator if obs else f"multiplier:{r.target}",
            "year": int(r.year),
            "value": r.value,
            "low": r.low,
            "high": r.high,
            "kind": r.kind if obs else r.method,
            "source": r.source,
            "ref": r.ref,
            "was": "",
            "action": "",
            "scored": "",
        }
        same = [o for o in old_rows if _same_figure(o, r)]
        if not old_rows:
            change.update(status="new", action="added")
            added.append((r, len(changes)))
        elif same:
            change.update(status="restated", action="already in the data", was=f"same as {same[0].source}")
        else:
            replaced = [o for o in old_rows if supersedes(o, r)]
            dropped.update(int(o.name) for o in replaced)
            added.append((r, len(changes)))
            action = "supersedes the old figure" if replaced else "kept alongside the old figure"
            change.update(
                status="revised", action=action, was="; ".join(f"{figure_text(o)} ({o.source})" for o in old_rows)
            )
            for o in replaced or old_rows:
                revisions.append(
                    {
                        "table": table,
                        "country": r.country,
                        "indicator": change["indicator"],
                        "year": int(r.year),
                        "kind": change["kind"],
                        "old_value": o.value,
                        "old_low": o.low,
                        "old_high": o.high,
                        "old_source": o.source,
                        "old_ref": o.ref,
                        "new_value": r.value,
                        "new_low": r.low,
                        "new_high": r.high,
                        "new_source": r.source,
                        "new_ref": r.ref,
                        "action": "superseded" if replaced else "kept alongside",
                        "vintage": vintage_id,
                    }
                )
        changes.append(change)
    kept = current.drop(index=sorted(dropped)) if dropped else current
    new_rows = pd.DataFrame([r for r, _ in added])[columns] if added else pd.DataFrame(columns=columns)
    if not obs and added:
        new_rows = _unique_ids(kept, new_rows.reset_index(drop=True), [changes[i] for _, i in added], vintage_id)
    merged = pd.concat([kept[columns], new_rows], ignore_index=True) if not new_rows.empty else kept[columns]
    return Diff(
        merged.reset_index(drop=True),
        pd.DataFrame(changes, columns=CHANGE_COLUMNS),
        pd.DataFrame(revisions, columns=REVISION_COLUMNS),
    )


def _unique_ids(kept: pd.DataFrame, new_rows: pd.DataFrame, changes: list[dict], vintage_id: str) -> pd.DataFrame:
    """A new multiplier row whose id is taken keeps its figure under ``<id>@<vintage>``."""
    taken = set(kept["id"])
    for i, change in enumerate(changes):
        rid = new_rows.at[i, "id"]
        if rid in taken:
            new_rows.at[i, "id"] = f"{rid}@{vintage_id}"
            change["action"] += f"; id '{rid}' is taken: stored as '{rid}@{vintage_id}'"
        taken.add(new_rows.at[i, "id"])
    return new_rows


# --------------------------------------------------------------------------------------------
# 3. scoring the previous forecast
# --------------------------------------------------------------------------------------------
_PROBIT = stats.norm.ppf(LEVELS)  # the quantile levels on the standard-normal scale


@dataclass(frozen=True)
class QuantileForecast:
    """A forecast distribution rebuilt from its 2.5/10/50/90/97.5% quantiles.

    On z = log1p(x) the probit of the CDF, u(z) = Phi^-1(F(z)), is taken as piecewise linear
    through the five quantiles and extended linearly beyond the outer ones. So F is monotone and
    passes through every quantile, the density peaks around the median (a flat density between
    quantiles would not reward being near it), each segment is a piece of a normal curve (exactly
    normal when the quantiles are), and the tails are the normals fitted to the two outer
    quantiles on each side.
    """

    knots: np.ndarray  # log1p of the quantiles, strictly increasing

    @classmethod
    def from_quantiles(cls, q) -> QuantileForecast:
        z = np.log1p(np.maximum(np.asarray(q, dtype=float), 0.0))
        for i in range(1, len(z)):  # equal quantiles (a flat forecast) get a sliver of width
            z[i] = max(z[i], z[i - 1] + 1e-6 * (1 + abs(z[i - 1])))
        return cls(z)

    def _probit(self, z) -> tuple[np.ndarray, np.ndarray]:
        """u(z) and du/dz."""
        z = np.asarray(z, dtype=float)
        k, u = self.knots, _PROBIT
        slopes = np.diff(u) / np.diff(k)
        seg = np.clip(np.searchsorted(k, z, side="right") - 1, 0, len(k) - 2)
        return u[seg] + (z - k[seg]) * slopes[seg], slopes[seg]

    def cdf_z(self, z) -> np.ndarray:
        return stats.norm.cdf(self._probit(z)[0])

    def cdf(self, x) -> np.ndarray:
        return self.cdf_z(np.log1p(np.asarray(x, dtype=float)))

    def pit(self, y: float) -> float:
        return float(self.cdf(y))

    def logpdf(self, y: float) -> float:
        """Log density at ``y`` in the figure's own units (log1p Jacobian included)."""
        z = math.log1p(y)
        u, slope = self._probit(z)
        return float(stats.norm.logpdf(u) + np.log(slope) - z)  # dz/dx = 1 / (1 + x)

    def crps(self, y: float, n: int = 4001) -> float:
        """CRPS = integral of (F(x) - 1{x >= y})^2 dx, integrated on the log1p scale (dx = e^z dz)."""
        k, u = self.knots, _PROBIT
        lo_slope, hi_slope = (u[1] - u[0]) / (k[1] - k[0]), (u[-1] - u[-2]) / (k[-1] - k[-2])
        zy = math.log1p(y)
        a = min(k[0] - (10 + u[0]) / lo_slope, zy - 1.0)  # where u = -10: F is nil
        b = max(k[-1] + (10 - u[-1]) / hi_slope, zy + 1.0)  # where u = +10
        total = 0.0
        for lo, hi, above in ((a, zy, False), (zy, b, True)):
            grid = np.union1d(np.linspace(lo, hi, n), k[(k > lo) & (k < hi)])
            f = self.cdf_z(grid)
            integrand = ((1 - f) if above else f) ** 2 * np.exp(grid)
            total += float(np.trapezoid(integrand, grid))
        return total


def band_of(y: float, row) -> str:
    if row.lo_80 <= y <= row.hi_80:
        return "inside 80"
    if row.lo_95 <= y <= row.hi_95:
        return "inside 95"
    return "outside 95 (high)" if y > row.hi_95 else "outside 95 (low)"


def scoring_status(changes: pd.DataFrame, forecasts: pd.DataFrame) -> pd.DataFrame:
    """Fill the ``scored`` column: why each new or revised observation is (not) scored."""
    changes = changes.copy()
    if changes.empty:
        return changes
    spans = forecasts.groupby(["country", "indicator"]).agg(first=("year", "min"), last=("year", "max"))
    is_obs = changes.table == "observations"
    changes.loc[~is_obs, "scored"] = "evidence for the synthesis"
    changes.loc[is_obs & (changes.status == "restated"), "scored"] = ""
    cand = changes[is_obs & (changes.status != "restated")]
    # one figure per series and year is scored: the official one when both kinds come
    pick = cand.assign(_rank=(cand.kind != "official").astype(int)).sort_values("_rank")
    chosen = set(pick.drop_duplicates(OBS_MATCH).index)
    for i, r in cand.iterrows():
        key = (r.country, r.indicator)
        if key not in spans.index:
            why = "new data: no previous forecast for this series"
        elif r.year < spans.loc[key, "first"]:
            why = "new data: inside the series' past years"
        elif r.year > spans.loc[key, "last"]:
            why = f"new data: beyond the forecast horizon (ran to {spans.loc[key, 'last']})"
        elif pd.isna(r.value):
            why = "not scored: a range without a central value"
        elif i not in chosen:
            why = "not scored: the official figure for that year is scored"
        else:
            why = f"scored ({r.year - spans.loc[key, 'first'] + 1} y ahead)"
        changes.at[i, "scored"] = why
    return changes


def score_figures(changes: pd.DataFrame, forecasts: pd.DataFrame) -> pd.DataFrame:
    """One row per scored figure x scenario: band, PIT, CRPS, log density (SCORE_COLUMNS)."""
    todo = changes[changes.scored.str.startswith("scored")]
    if todo.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    f = forecasts.merge(todo[[*OBS_MATCH, "value", "source"]], on=OBS_MATCH, how="inner")
    f = f.dropna(subset=QUANTILE_COLUMNS)
    first = forecasts.groupby(["country", "indicator", "scenario"]).year.min().rename("first_year")
    f = f.join(first, on=["country", "indicator", "scenario"])
    rows = []
    for r in f.itertuples(index=False):
        dist = QuantileForecast.from_quantiles([getattr(r, c) for c in QUANTILE_COLUMNS])
        y = float(r.value)
        crps = dist.crps(y)
        rows.append(
            {
                "country": r.country,
                "indicator": r.indicator,
                "year": int(r.year),
                "value": y,
                "source": r.source,
                "scenario": r.scenario,
                "horizon": int(r.year - r.first_year + 1),
                "median": r.median,
                "lo_80": r.lo_80,
                "hi_80": r.hi_80,
                "lo_95": r.lo_95,
                "hi_95": r.hi_95,
                "band": band_of(y, r),
                "pit": dist.pit(y),
                "crps": crps,
                "crps_rel": crps / r.median if r.median > 0 else np.nan,
                "log_density": dist.logpdf(y),
            }
        )
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def scenario_weights(scores: pd.DataFrame) -> pd.DataFrame:
    """Posterior scenario weights, equal priors: weight ∝ prod of densities of the scored figures.

    Only figures scored under every scenario count, so every scenario is judged on the same data.
    Empty when nothing was scored.
    """
    if scores.empty:
        return pd.DataFrame(columns=WEIGHT_COLUMNS)
    n_sc = scores.scenario.nunique()
    per_fig = scores.groupby(OBS_MATCH).scenario.transform("nunique")
    common = scores[per_fig == n_sc]
    g = common.groupby("scenario", sort=False)
    out = g.agg(
        figures=("value", "size"),
        log_lik=("log_density", "sum"),
        in_80=("band", lambda b: float((b == "inside 80").mean())),
        in_95=("band", lambda b: float(b.isin(["inside 80", "inside 95"]).mean())),
        mean_pit=("pit", "mean"),
        mean_crps_rel=("crps_rel", "mean"),
    ).reset_index()
    ll = out.log_lik.to_numpy(float) + math.log(1 / len(out))
    out["weight"] = np.exp(ll - np.logaddexp.reduce(ll))
    return out[WEIGHT_COLUMNS].sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)


def verdict(weights: pd.DataFrame, labels: dict[str, str] | None = None) -> str:
    """One sentence: which scenario reality is tracking, and how sure we are."""
    if weights.empty:
        return f"{NO_OVERLAP}: nothing to score; the new figures are simply new data."
    labels = labels or {}
    top = weights.iloc[0]
    n = int(top.figures)
    spread = weights.weight.max() - weights.weight.min()
    if spread < 0.05:
        return (
            f"The {n} scored figure(s) do not tell the scenarios apart (weights "
            + ", ".join(f"{r.scenario} {r.weight:.2f}" for r in weights.itertuples())
            + ")."
        )
    confidence = "strong" if top.weight >= 0.95 else "moderate" if top.weight >= 0.75 else "weak"
    label = f" ({labels[top.scenario]})" if top.scenario in labels else ""
    second = weights.iloc[1] if len(weights) > 1 else None
    rest = f"; next: {second.scenario} {second.weight:.2f}" if second is not None else ""
    return (
        f"Reality is tracking '{top.scenario}'{label}: weight {top.weight:.2f}{rest} "
        f"- {confidence} evidence, resting on {n} figure(s)."
    )


# --------------------------------------------------------------------------------------------
# the previous forecast
# --------------------------------------------------------------------------------------------
def _run_matches(out: Path, store: Store, previous: Vintage) -> bool:
    """Whether <out>/forecasts.csv was made from this data folder's ``previous`` vintage."""
    try:
        meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
        data_dir = Path(meta["data_dir"]).resolve()
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if data_dir != store.root.resolve():
        return False
    run_vintage = meta.get("vintage")
    if run_vintage:
        return run_vintage == previous.id
    if previous.id == BASE:  # run on the default (latest) vintage, and no vintage exists yet
        return True
    try:
        return datetime.fromisoformat(meta["created"]) >= datetime.fromisoformat(previous.date)
    except (KeyError, ValueError, TypeError):
        return False


def _read_forecasts(path: Path) -> pd.DataFrame | None:
    try:
        f = pd.read_csv(path)
    except (OSError, ValueError):
        return None
    need = {"country", "indicator", "scenario", "year", *QUANTILE_COLUMNS}
    return f if need <= set(f.columns) else None


def previous_forecast(
    store: Store, previous: Vintage, previous_ds: Dataset, out: Path | None
) -> tuple[pd.DataFrame, str]:
    """(forecasts, where they come from) for the vintage the new figures are added to."""
    if previous.id != BASE:
        f = _read_forecasts(previous.folder / "forecasts.csv")
        if f is not None:
            return f, f"forecasts.csv stored with vintage {previous.id}"
    if out is not None and _run_matches(Path(out), store, previous):
        f = _read_forecasts(Path(out) / "forecasts.csv")
        if f is not None:
            return f, f"{Path(out) / 'forecasts.csv'} (its run.json names vintage {previous.id} of {store.root})"
    from forecast.scenarios.definitions import load_scenarios
    from forecast.scenarios.forecasts import scenario_forecasts

    f, _ = scenario_forecasts(previous_ds, PREVIOUS_HORIZON, load_scenarios())
    return f, (
        f"computed now from vintage {previous.id} (no stored forecast for it; scenario models, "
        f"horizon {PREVIOUS_HORIZON}, without the prevalence synthesis)"
    )


# --------------------------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------------------------
@dataclass
class Calibration:
    """Everything a calibration found and did (the CLI prints it; scripts can inspect it)."""

    files: list[Incoming]
    previous: Vintage
    changes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CHANGE_COLUMNS))
    revisions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REVISION_COLUMNS))
    scores: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SCORE_COLUMNS))
    weights: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WEIGHT_COLUMNS))
    forecast_source: str = ""
    verdict: str = ""
    skipped: list[tuple[Incoming, Vintage]] = field(default_factory=list)  # files already calibrated
    vintage: Vintage | None = None  # the new vintage (None: dry run or nothing new)
    cleaned: list[Path] = field(default_factory=list)  # half-written vintage folders removed
    refit: dict | None = None
    estimates_before: pd.DataFrame | None = None
    dataset: Dataset | None = None  # the previous vintage
    merged: dict[str, pd.DataFrame] = field(default_factory=dict)  # the new vintage's tables

    @property
    def counts(self) -> dict[str, int]:
        s = self.changes.status.value_counts() if not self.changes.empty else {}
        counts = {k: int(s.get(k, 0)) for k in ("new", "restated", "revised")}
        counts["scored"] = int(self.scores[OBS_MATCH].drop_duplicates().shape[0]) if not self.scores.empty else 0
        return counts

    @property
    def changes_anything(self) -> bool:
        c = self.counts
        return c["new"] + c["revised"] > 0


def _scenario_labels() -> dict[str, str]:
    from forecast.scenarios.definitions import load_scenarios

    try:
        return {n: s.label for n, s in load_scenarios().items()}
    except Exception:  # noqa: BLE001 - labels are decoration; a broken scenario file is reported elsewhere
        return {}


def prepare(files: list[Path], data_dir: Path | None = None, out: Path | None = None) -> Calibration:
    """Steps 1-3: validate, diff, score. Writes nothing."""
    store = Store(data_dir or default_data_dir())
    incoming = read_calibration_files(files)
    previous = store.latest()
    cal = Calibration(files=[], previous=previous)
    for f in incoming:
        done = store.find_sha(f.sha256)
        (cal.skipped.append((f, done)) if done else cal.files.append(f))
    if not cal.files:
        return cal
    ds = load_dataset(store.root, vintage=previous.id)
    next_id = store.next_id()
    diffs = _diffs(ds, cal.files, next_id)
    cal.changes = pd.concat([d.changes for d in diffs.values()], ignore_index=True)
    cal.revisions = pd.concat([d.revisions for d in diffs.values()], ignore_index=True)
    cal.dataset = ds
    cal.merged = {
        "observations": ds.observations,
        "multipliers": ds.multipliers,
        **{k: d.merged for k, d in diffs.items()},
    }
    if not cal.changes_anything:
        return cal
    to_score = (cal.changes.table == "observations") & (cal.changes.status != "restated")
    if not to_score.any():
        cal.changes.loc[cal.changes.table == "multipliers", "scored"] = "evidence for the synthesis"
        cal.forecast_source = "not needed (no new observations to score)"
        cal.verdict = "No new observations: nothing to score; the new evidence enters the refit."
        return cal
    forecasts, cal.forecast_source = previous_forecast(store, previous, ds, out)
    cal.changes = scoring_status(cal.changes, forecasts)
    cal.scores = score_figures(cal.changes, forecasts)
    cal.weights = scenario_weights(cal.scores)
    cal.verdict = verdict(cal.weights, _scenario_labels())
    return cal


def _diffs(ds: Dataset, files: list[Incoming], vintage_id: str) -> dict[str, Diff]:
    out = {}
    current = {"observations": ds.observations, "multipliers": ds.multipliers}
    for kind in ("observations", "multipliers"):
        parts = [f.table for f in files if f.kind == kind]
        if parts:
            out[kind] = diff_table(current[kind], pd.concat(parts, ignore_index=True), kind, vintage_id)
    return out


def commit(cal: Calibration, data_dir: Path | None = None) -> Vintage:
    """Step 5: write the new vintage (atomic; see forecast.data.vintages) and the calibration history."""
    store = Store(data_dir or default_data_dir())
    merged = cal.merged
    with store.lock():
        if store.latest().id != cal.previous.id:
            raise DataError(
                Issue(
                    str(store.root),
                    None,
                    None,
                    f"another calibration added vintage {store.latest().id} meanwhile; run again",
                )
            )
        cal.cleaned = store.clean_orphans()
        vintage_id = store.next_id()
        conflicts = cal.previous.folder / "conflicts.csv"
        contents = {
            "observations.csv": table_bytes(merged["observations"]),
            "multipliers.csv": table_bytes(merged["multipliers"]),
            "changes.csv": _csv_bytes(cal.changes),
            "revisions.csv": _csv_bytes(cal.revisions.assign(vintage=vintage_id)),
            "calibration.csv": _csv_bytes(cal.scores),
        }
        if conflicts.exists():
            contents["conflicts.csv"] = conflicts.read_bytes()
        if not cal.weights.empty:
            contents["scenario_weights.csv"] = _csv_bytes(cal.weights)
        details = {"scored_against": cal.forecast_source, "verdict": cal.verdict}
        cal.vintage = store.commit(
            vintage_id,
            cal.previous.id,
            [f.describe() for f in cal.files],
            cal.counts,
            contents,
            check=lambda folder: load_dataset(folder),
            details=details,
        )
        write_history(store)
    return cal.vintage


def _csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, float_format="%.6g", lineterminator="\n").encode("utf-8")


def write_history(store: Store) -> Path:
    return write_csv(calibration_history(store), store.dir / HISTORY_FILE)


def write_outputs(cal: Calibration, out: Path, data_dir: Path | None = None) -> list[Path]:
    """calibration.csv, scenario_weights.csv (when there are weights) and a copy of the track record
    (calibration_history.csv, which the report shows) in the results folder."""
    paths = [write_csv(cal.scores, Path(out) / "calibration.csv")]
    if not cal.weights.empty:
        paths.append(write_csv(cal.weights, Path(out) / "scenario_weights.csv"))
    paths.append(write_csv(calibration_history(Store(data_dir or default_data_dir())), Path(out) / HISTORY_FILE))
    return paths


def estimates_before(cal: Calibration, data_dir: Path | None, out: Path) -> pd.DataFrame | None:
    """The synthesis estimates of the previous vintage, if stored, to show what the refit moved."""
    store = Store(data_dir or default_data_dir())
    for path, ok in (
        (cal.previous.folder / "estimates.csv", cal.previous.id != BASE),
        (Path(out) / "estimates.csv", _run_matches(Path(out), store, cal.previous)),
    ):
        if ok and path.exists():
            return pd.read_csv(path)
    return None


def estimate_changes(before: pd.DataFrame | None, after: pd.DataFrame) -> pd.DataFrame:
    """Synthesis medians before and after the refit, per country and target, at the latest year
    both fits cover (the latest year of the refit when there is nothing to compare)."""
    after = after[after.method == "synthesis"]
    cols = ["country", "target", "year", "median", "lo_80", "hi_80"]
    if before is None:
        return after[after.year == after.year.max()][cols].reset_index(drop=True)
    before = before[before.method == "synthesis"]
    year = min(after.year.max(), before.year.max())
    now = after[after.year == year].set_index(["country", "target"])
    was = before[before.year == year].set_index(["country", "target"])["median"].rename("before")
    t = now.join(was, how="left")
    t["change_pct"] = (100 * (t["median"] / t["before"] - 1)).round(1) + 0.0  # no "-0"
    return t.reset_index()[["country", "target", "year", "before", "median", "change_pct", "lo_80", "hi_80"]].rename(
        columns={"median": "after", "change_pct": "change %"}
    )
