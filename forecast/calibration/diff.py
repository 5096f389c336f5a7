"""The diff: each incoming row against the vintage it is added to, and the new vintage's tables.

Each row is **new** (no figure for that country / indicator / year yet), **restated** (the same
figure is already there) or **revised** (a different figure). Revisions are never overwritten: the
previous vintage keeps the old figure and ``revisions.csv`` holds both values and both sources. In
the new vintage's tables a revising official figure takes the place of the official figure(s) it
revises (the forecast must follow the latest official count); an estimate or a multiplier replaces
only an earlier figure from the same source and otherwise stands alongside it as further evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from forecast.calibration.intake import Incoming
from forecast.core.errors import DataError, Issue
from forecast.core.formatting import figure
from forecast.data import vocab
from forecast.data.dataset import Dataset

#: what makes two observations the same figure (a part-year or one-agency figure is another figure)
OBS_MATCH = ["country", "indicator", "year", "period", "scope"]
#: a point of an annual series: what forecasts and scores are keyed by
SERIES_YEAR = ["country", "indicator", "year"]
MULT_MATCH = ["country", "target", "year", "method"]
STATUSES = ("new", "restated", "revised")
#: changes.csv: one row per incoming row, where it stands in its file and what happens to it
CHANGE_COLUMNS = [
    "table",
    "file",
    "line",
    "status",
    "country",
    "indicator",
    "year",
    "period",
    "scope",
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
#: revisions.csv: both figures and both sources of every revised one
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


def status_counts(changes: pd.DataFrame) -> dict[str, int]:
    """How many incoming rows are new, restated, revised."""
    s = changes.status.value_counts() if not changes.empty else {}
    return {k: int(s.get(k, 0)) for k in STATUSES}


@dataclass
class Diff:
    """One table's diff: the new vintage's table and what happened to each incoming row."""

    merged: pd.DataFrame  # the new vintage's table
    changes: pd.DataFrame  # one row per incoming row (CHANGE_COLUMNS)
    revisions: pd.DataFrame  # REVISION_COLUMNS

    @property
    def counts(self) -> dict[str, int]:
        return status_counts(self.changes)


def _same_figure(a: pd.Series, b: pd.Series) -> bool:
    for col in ("value", "low", "high"):
        x, y = a[col], b[col]
        if pd.isna(x) and pd.isna(y):
            continue
        if pd.isna(x) or pd.isna(y) or not math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


def _obs_supersedes(old: pd.Series, new: pd.Series) -> bool:
    """A source's new figure replaces its own earlier one (a revision); another source's figure for
    the same year is kept alongside (both as printed; series and scores pick one by rule)."""
    return old.kind == new.kind and old.source == new.source


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
            "period": r.get("period", "") if obs else "",
            "scope": r.get("scope", "") if obs else "",
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
                status="revised",
                action=action,
                was="; ".join(f"{figure(o.value, o.low, o.high)} ({o.source})" for o in old_rows),
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


def diff_conflicts(current: pd.DataFrame, incoming: pd.DataFrame) -> Diff:
    """Recorded conflicts a calibration adds: a new id is added; an id already recorded must say the
    same (restated), else the file is in error (a recorded conflict is never rewritten)."""
    columns = list(vocab.CONFLICT_COLUMNS)
    current = current if len(current.columns) else pd.DataFrame(columns=columns)
    known = current.set_index("id") if len(current) else pd.DataFrame(columns=columns).set_index("id")
    changes, new_rows, issues = [], [], []
    for _, r in incoming.iterrows():
        change = {
            "table": "conflicts", "file": r._file, "line": int(r._line), "country": r.country,
            "indicator": f"conflict:{r.id}", "year": r.year, "period": "", "scope": "", "value": None,
            "low": None, "high": None, "kind": "conflict", "source": r.topic, "ref": f"{r.ref_a} / {r.ref_b}",
            "was": "", "action": "", "scored": "",
        }  # fmt: skip
        if r.id in known.index:
            old = known.loc[r.id]
            if any(str(old[c]) != str(r[c]) for c in columns if c != "id"):
                issues.append(Issue(r._file, int(r._line), "id", f"conflict {r.id} is recorded already, saying else"))
            change.update(status="restated", action="already recorded")
        else:
            change.update(status="new", action="recorded")
            new_rows.append(r[columns])
        changes.append(change)
    if issues:
        raise DataError(issues)
    merged = pd.concat([current[columns], pd.DataFrame(new_rows)], ignore_index=True) if new_rows else current
    return Diff(merged.reset_index(drop=True), pd.DataFrame(changes, columns=CHANGE_COLUMNS),
                pd.DataFrame(columns=REVISION_COLUMNS))  # fmt: skip


def diff_files(ds: Dataset, files: list[Incoming], vintage_id: str) -> dict[str, Diff]:
    """One diff per table kind the files bring (observations, multipliers, conflicts), against ``ds``."""
    out = {}
    current = {"observations": ds.observations, "multipliers": ds.multipliers}
    for kind in ("observations", "multipliers", "conflicts"):
        parts = [f.table for f in files if f.kind == kind]
        if not parts:
            continue
        incoming = pd.concat(parts, ignore_index=True)
        if kind == "conflicts":
            out[kind] = diff_conflicts(ds.conflicts, incoming)
        else:
            out[kind] = diff_table(current[kind], incoming, kind, vintage_id)
    return out
