"""The calibrate job: new annual figures -> a scored diff -> a new vintage.

The yearly questions: were our forecasts right, which scenario is reality tracking, and what do
the new figures change? The steps, in order (nothing is written before step 5):

1. validate every file fully (``intake``: contract + calibration rules); any problem -> DataError;
2. diff against the latest vintage (``diff``): new, restated or revised;
3. find the previous forecast and its draws (``previous``) and score the new figures inside its
   horizon (``scores``: band, PIT, CRPS, log density per scenario; each series' joint path), then
   the scenario weights (``weights``: joint paths, tempered across related series, the prior carried
   from the last calibration's weights);
4. (a dry run stops here: ``prepare`` does steps 1-3 and writes nothing)
5. ``commit``: the merged tables as a new vintage (forecast.data.vintages), then ``write_outputs``;
6. the refit on the new vintage is the pipeline's (``forecast.pipeline.refit``), a layer above.

The vintage store is built once by the caller and passed to every step::

    store = Store(data_dir)
    cal = prepare(files, store, out)
    commit(cal, store)
    write_outputs(cal, out, store)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from forecast.calibration.diff import CHANGE_COLUMNS, REVISION_COLUMNS, SERIES_YEAR, diff_files, status_counts
from forecast.calibration.intake import Incoming, read_calibration_files, recorded_path
from forecast.calibration.previous import previous_forecast, previous_weights
from forecast.calibration.scores import PATH_COLUMNS, SCORE_COLUMNS, path_scores, score_figures, scoring_status
from forecast.calibration.weights import WEIGHT_COLUMNS, scenario_labels, scenario_weights, verdict
from forecast.core.errors import DataError, Issue
from forecast.core.outputs import csv_bytes, write_csv
from forecast.data.dataset import Dataset, annual_series, load_dataset
from forecast.data.vintages import (
    HISTORY_FILE,
    TRACK_RECORD_FILE,
    Store,
    Vintage,
    calibration_history,
    current_year,
    table_bytes,
    track_record,
)


@dataclass
class Calibration:
    """Everything a calibration found and did (the CLI prints it; scripts can inspect it)."""

    files: list[Incoming]
    previous: Vintage
    changes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CHANGE_COLUMNS))
    revisions: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REVISION_COLUMNS))
    scores: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SCORE_COLUMNS))
    paths: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PATH_COLUMNS))
    weights: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=WEIGHT_COLUMNS))
    forecast_source: str = ""
    prior_source: str = ""  # the vintage whose weights are this calibration's prior ("" = equal priors)
    verdict: str = ""
    skipped: list[tuple[Incoming, Vintage]] = field(default_factory=list)  # files already calibrated
    vintage: Vintage | None = None  # the new vintage (None: dry run or nothing new)
    cleaned: list[Path] = field(default_factory=list)  # half-written vintage folders removed
    refit: dict | None = None
    estimates_before: pd.DataFrame | None = None
    dataset: Dataset | None = None  # the previous vintage
    merged: dict[str, pd.DataFrame] = field(default_factory=dict)  # the new vintage's tables
    as_of: int | None = None  # the year the new vintage's newest figures describe (forecasts start after it)

    @property
    def counts(self) -> dict[str, int]:
        counts = status_counts(self.changes)
        counts["scored"] = int(self.scores[SERIES_YEAR].drop_duplicates().shape[0]) if not self.scores.empty else 0
        return counts

    @property
    def changes_anything(self) -> bool:
        c = self.counts
        return c["new"] + c["revised"] > 0


def as_of_year(previous: int | None, incoming: list[Incoming], today: int) -> int | None:
    """The year a vintage is "as of", by default: none while the data have none (the base vintage:
    each series is then forecast from its own last figure; ``--as-of`` sets one), else the newest
    year among the new annual figures, never before the previous vintage's as-of year and never
    after the calendar year the calibration runs in."""
    if previous is None:
        return None
    years = [int(y) for f in incoming if f.kind == "observations" for y in annual_series(f.table).year]
    newest = max([*years, *([previous] if previous is not None else [])], default=None)
    return min(newest, today) if newest is not None else None


def prepare(
    files: list[Path],
    store: Store,
    out: Path | None = None,
    as_of: int | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> Calibration:
    """Steps 1-3: validate, diff, score, against the latest vintage of ``store``. Writes nothing.

    ``out`` is the results folder of the last run: its forecasts.csv is scored when its run.json
    names this store's latest vintage and no forecast is stored with that vintage. ``as_of`` is the
    year the new vintage is "as of" (forecasts start after it); by default the newest year among the
    new annual figures (``as_of_year``). ``jobs`` / ``scheduler``: where the previous forecast is
    made again when no stored one can be scored (``core.parallel.map_jobs``).
    """
    incoming = read_calibration_files(files)
    previous = store.latest()
    cal = Calibration(files=[], previous=previous)
    for f in incoming:
        done = store.find_sha(f.sha256)
        (cal.skipped.append((f, done)) if done else cal.files.append(f))
    if not cal.files:
        return cal
    ds = load_dataset(vintage=previous.id, store=store)
    diffs = diff_files(ds, cal.files, store.next_id())
    cal.changes = pd.concat([d.changes for d in diffs.values()], ignore_index=True)
    cal.revisions = pd.concat([d.revisions for d in diffs.values()], ignore_index=True)
    cal.dataset = ds
    cal.as_of = as_of if as_of is not None else as_of_year(ds.as_of, cal.files, current_year())
    cal.merged = {
        "observations": ds.observations,
        "multipliers": ds.multipliers,
        "conflicts": ds.conflicts,
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
    forecasts, draws, cal.forecast_source = previous_forecast(store, previous, ds, out, jobs, scheduler)
    cal.changes = scoring_status(cal.changes, forecasts)
    cal.scores = score_figures(cal.changes, forecasts, draws)
    cal.paths = path_scores(cal.scores, draws)
    prior, cal.prior_source = previous_weights(store, previous)
    cal.weights = scenario_weights(cal.scores, cal.paths, prior)
    cal.verdict = verdict(cal.weights, scenario_labels(), cal.prior_source)
    return cal


def commit(cal: Calibration, store: Store) -> Vintage:
    """Step 5: write the new vintage (atomic; see forecast.data.vintages) and the calibration history.

    ``store`` is the one ``prepare`` read; if another calibration added a vintage meanwhile, nothing
    is written (DataError: run again).
    """
    if cal.previous.folder.resolve() not in (store.root.resolve(), (store.dir / cal.previous.id).resolve()):
        raise ValueError(f"this calibration was prepared on {cal.previous.folder}, not on the store {store.root}")
    with store.lock():
        latest = store.latest()
        if latest.id != cal.previous.id:
            raise DataError(
                Issue(
                    str(store.root), None, None, f"another calibration added vintage {latest.id} meanwhile; run again"
                )
            )
        cal.cleaned = store.clean_orphans()
        vintage_id = store.next_id()
        contents = {
            "observations.csv": table_bytes(cal.merged["observations"]),
            "multipliers.csv": table_bytes(cal.merged["multipliers"]),
            "changes.csv": _csv_bytes(
                cal.changes.assign(file=[recorded_path(f, store.root) for f in cal.changes.file])
            ),
            "revisions.csv": _csv_bytes(cal.revisions.assign(vintage=vintage_id)),
            "calibration.csv": _csv_bytes(cal.scores),
            "path_scores.csv": _csv_bytes(cal.paths),
        }
        if "conflicts" in {f.kind for f in cal.files}:
            contents["conflicts.csv"] = table_bytes(cal.merged["conflicts"])
        elif (cal.previous.folder / "conflicts.csv").exists():
            contents["conflicts.csv"] = (cal.previous.folder / "conflicts.csv").read_bytes()
        if not cal.weights.empty:
            contents["scenario_weights.csv"] = _csv_bytes(cal.weights)
        details = {
            "scored_against": cal.forecast_source,
            "verdict": cal.verdict,
            "as_of": cal.as_of,
            "prior_weights_from": cal.prior_source,
        }
        cal.vintage = store.commit(
            vintage_id,
            cal.previous.id,
            [f.describe(store.root) for f in cal.files],
            cal.counts,
            contents,
            check=lambda folder: load_dataset(folder, warn=False),
            details=details,
        )
        write_history(store)
    return cal.vintage


def _csv_bytes(df: pd.DataFrame) -> bytes:
    """A report table as write_csv writes it, as bytes for the vintage commit."""
    return csv_bytes(df)


def write_history(store: Store) -> Path:
    """The store's track record, rebuilt from its vintages: vintages/calibration_history.csv (per
    vintage and scenario) and vintages/track_record.csv (per scored figure and scenario)."""
    write_csv(track_record(store), store.dir / TRACK_RECORD_FILE)
    return write_csv(calibration_history(store), store.dir / HISTORY_FILE)


def write_outputs(cal: Calibration, out: Path, store: Store) -> list[Path]:
    """calibration.csv, path_scores.csv, scenario_weights.csv (when there are weights) and a copy of
    the track record (calibration_history.csv, which the report shows) in the results folder."""
    out = Path(out)
    paths = [write_csv(cal.scores, out / "calibration.csv"), write_csv(cal.paths, out / "path_scores.csv")]
    if not cal.weights.empty:
        paths.append(write_csv(cal.weights, out / "scenario_weights.csv"))
    paths.append(write_csv(calibration_history(store), out / HISTORY_FILE))
    return paths


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
