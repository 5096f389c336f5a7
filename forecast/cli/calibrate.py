"""`forecast calibrate` and `forecast history`: new annual figures, vintages and the track record."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
import pandas as pd

from forecast.cli.common import (
    DATA_FOLDER,
    DATA_HELP,
    JOBS_OPTION,
    SCHEDULER_OPTION,
    SEED_OPTION,
    friendly,
    out_option,
    stage,
)

DATA_OPTION = click.option(
    "--data", "data_dir", type=DATA_FOLDER, help=f"{DATA_HELP} Its vintages are kept in DATA/vintages/."
)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@DATA_OPTION
@out_option("calibration.csv, scenario_weights.csv and the refit's outputs", check=False)  # read by a dry run
@click.option("--dry-run", is_flag=True, help="Validate, diff and score, then stop: nothing is written.")
@click.option("--no-refit", is_flag=True, help="Store the vintage and the scores, skip the refit (fast).")
@click.option("--no-report", is_flag=True, help="Refit without rendering the HTML/PDF report.")
@click.option("--horizon", type=click.IntRange(1, 5), default=5, show_default=True, help="Refit horizon (years).")
@click.option(
    "--as-of",
    "as_of",
    type=click.IntRange(1990, 2100),
    help="The year the new vintage is 'as of': every series is then forecast from the year after "
    "(a series more than 5 years behind it is not). Default: the previous vintage's, moved to the "
    "newest year of the new annual figures; none on top of the base vintage (each series from its "
    "own last figure).",
)
@SEED_OPTION
@JOBS_OPTION
@SCHEDULER_OPTION
@friendly
def calibrate(
    files: tuple[Path, ...],
    data_dir: Path | None,
    out: Path,
    dry_run: bool,
    no_refit: bool,
    no_report: bool,
    horizon: int,
    as_of: int | None,
    seed: int,
    jobs: int,
    scheduler: str | None,
) -> None:
    """Take in new annual figures: what changed, how the last forecast did, which scenario is real.

    \b
    FILES are observations and/or multiplier-evidence CSVs (DESIGN.md contract).
      1. validate everything first: any problem -> one line each, exit 2, nothing written
      2. diff: new figures, restated ones (same value), revisions (both values kept, both sources)
      3. score the previous forecast on the new figures inside its horizon: band (80/95), PIT,
         CRPS from the forecast's draws; per scenario how likely each series' new figures are as one
         path -> scenario weights (Bayes: related series tempered, the last calibration's weights as
         the prior, equal priors the first time)
      4. store the result as a new vintage under DATA/vintages/ (the old ones stay: --vintage ID)
      5. refit the synthesis and the forecasts on it (about 30 s; --no-refit skips)
    Calibrating the same file twice changes nothing the second time.
    """
    from forecast.calibration import commit, estimate_changes, prepare, write_outputs
    from forecast.core.errors import InputError
    from forecast.core.outputs import check_output_folder, output_folder
    from forecast.core.resources import EMBEDDED_DATA_DIR, default_data_dir, embedded_is_installed
    from forecast.data.vintages import HISTORY_FILE, VINTAGES_DIR, Store
    from forecast.pipeline import refit

    root = data_dir or default_data_dir()
    if root == EMBEDDED_DATA_DIR and embedded_is_installed() and not dry_run:
        raise InputError(
            f"{root}: the embedded dataset inside the installed package is not calibrated in place; "
            "copy it with `forecast data init DIR`, then `forecast calibrate FILE --data DIR`"
        )
    if not dry_run:
        check_output_folder(out)
        vintages = root / VINTAGES_DIR
        for folder in (vintages,) if vintages.is_dir() else (root,):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise InputError(
                    f"{folder}: cannot write the new vintage there (permission denied); calibrate a copy "
                    "(`forecast data init DIR`, then --data DIR), or use --dry-run"
                )
    store = Store(root)
    t0 = time.perf_counter()
    cal = prepare(list(files), store, out, as_of=as_of, jobs=jobs, scheduler=scheduler)
    for f, v in cal.skipped:
        click.echo(f"{f.path}: already calibrated as vintage {v.id} ({v.date}, sha256 {f.sha256[:12]}): nothing to do.")
    if not cal.files:
        return
    names = ", ".join(str(f.path) for f in cal.files)
    rows = sum(len(f.table) for f in cal.files)
    click.echo(f"Calibrating {names} ({rows} rows, all valid) against {store.root} vintage {cal.previous.id}")
    _print_changes(cal)
    if not cal.changes_anything:
        click.echo("Nothing new: every figure restates the data. No vintage written.")
        return
    _print_scores(cal)
    if dry_run:
        click.echo("Dry run: nothing written.")
        return
    vintage = commit(cal, store)
    for p in cal.cleaned:
        click.echo(f"Removed {p.name}/, left half-written by an interrupted calibration.")
    with output_folder(out) as tmp:
        written = [out / p.name for p in write_outputs(cal, tmp, store)]
    click.echo(
        f"Stored vintage {vintage.id} in {vintage.folder}/ ({_counts_text(cal.counts)}); "
        f"vintage {cal.previous.id} stays readable (--vintage {cal.previous.id})."
    )
    click.echo(
        f"Wrote {', '.join(p.name for p in written)} to {out}/ (the track record is kept in {store.dir / HISTORY_FILE})"
    )
    if no_refit:
        command = "forecast run" + (f" --data {store.root}" if data_dir else "") + f" --out {out}"
        click.echo(f"Refit skipped (--no-refit): `{command}` refits on the new vintage.")
        return
    stage(f"refit on vintage {vintage.id} (prevalence synthesis, scenario forecasts, backtests)")
    result = refit(
        cal,
        store,
        out,
        horizon=horizon,
        seed=seed,
        render=not no_report,
        on_stage=stage,
        jobs=jobs,
        scheduler=scheduler,
    )
    prev = result["prevalence"]
    from forecast.cli.tables import print_table

    moved = estimate_changes(cal.estimates_before, prev.estimates)
    title = (
        "True numbers, synthesis median: before -> after the new figures (80% band after)"
        if cal.estimates_before is not None
        else "True numbers after the refit (synthesis, latest year)"
    )
    print_table(moved, title=title)
    click.echo(
        f"Refit done in {time.perf_counter() - t0:.0f} s; outputs in {out}/, forecasts.csv and "
        f"estimates.csv also stored with vintage {vintage.id} (the next calibration scores them)."
    )
    if "report_error" in result:
        click.echo(
            f"error: the report was not rendered ({result['report_error']}); the vintage, the scores and "
            f"the refit are stored. `forecast report --from {out}` renders it again.",
            err=True,
        )
    if not prev.verdict.passed:
        from forecast.cli.console import print_diagnostics

        print_diagnostics(prev.diagnostics, prev.verdict, "Convergence diagnostics")
    if "report_error" in result:
        sys.exit(1)


def _counts_text(c: dict) -> str:
    return f"{c['new']} new, {c['restated']} restated, {c['revised']} revised, {c['scored']} scored"


def _print_changes(cal) -> None:
    from forecast.cli.tables import print_table
    from forecast.core.formatting import figure

    ch = cal.changes
    t = pd.DataFrame(
        {
            "status": ch.status,
            "country": ch.country,
            "indicator": ch.indicator,
            "year": ch.year,
            "figure": [figure(v, lo, hi) for v, lo, hi in zip(ch.value, ch.low, ch.high, strict=True)],
            "was": ch.was,
            "what happens": [
                a if not s else f"{a}; {s}" if a != "added" else s for a, s in zip(ch.action, ch.scored, strict=True)
            ],
        }
    )
    t = (
        t.assign(_o=t.status.map({"revised": 0, "new": 1, "restated": 2}))
        .sort_values(["_o", "country", "indicator", "year"], kind="stable")
        .drop(columns="_o")
    )
    c = cal.counts
    print_table(
        t, title=f"What the new figures change: {c['new']} new, {c['restated']} restated, {c['revised']} revised"
    )
    if not cal.revisions.empty:
        r = cal.revisions
        rev = pd.DataFrame(
            {
                "country": r.country,
                "indicator": r.indicator,
                "year": r.year,
                "old": [figure(*f) for f in zip(r.old_value, r.old_low, r.old_high, strict=True)],
                "old source": r.old_source,
                "new": [figure(*f) for f in zip(r.new_value, r.new_low, r.new_high, strict=True)],
                "new source": r.new_source,
                "kept as": r.action,
            }
        )
        print_table(rev, title="Revisions (both figures and both sources are kept in revisions.csv)")


def _print_scores(cal) -> None:
    from forecast.calibration.weights import scenario_labels
    from forecast.cli.tables import print_table
    from forecast.core.formatting import band

    click.echo(f"Previous forecast: {cal.forecast_source}")
    if cal.scores.empty:
        click.echo(f"Scores: {cal.verdict}")
        return
    s = cal.scores
    headline = "baseline" if "baseline" in set(s.scenario) else s.scenario.iloc[0]
    best = s.loc[s.groupby(["country", "indicator", "year"]).log_density.idxmax()]
    best = best.set_index(["country", "indicator", "year"]).scenario.rename("likeliest under")
    h = s[s.scenario == headline].join(best, on=["country", "indicator", "year"])
    table = pd.DataFrame(
        {
            "country": h.country,
            "indicator": h.indicator,
            "year": h.year,
            "new figure": h.value,
            "ahead": h.horizon,
            "median": h["median"],
            "80% band": [band(lo, hi) for lo, hi in zip(h.lo_80, h.hi_80, strict=True)],
            "band": h.band,
            "PIT": h.pit.round(2),
            "CRPS": h.crps,
            "likeliest under": h["likeliest under"],
        }
    )
    print_table(table, title=f"The previous forecast ({headline} scenario) against the new figures")
    w = cal.weights
    labels = scenario_labels()
    wt = pd.DataFrame(
        {
            "scenario": w.scenario,
            "label": [labels.get(n, "") for n in w.scenario],
            "figures": w.figures,
            "series": w.series,
            "log-likelihood": w.log_lik.round(2),
            "tempered": w.tempered_log_lik.round(2),
            "prior": w.prior.round(3),
            "weight": w.weight.round(3),
            "in 80%": _of(w.in_80, w.figures),
            "in 95%": _of(w.in_95, w.figures),
            "mean PIT": w.mean_pit.round(2),
        }
    )
    prior = f"prior: the weights of vintage {cal.prior_source}" if cal.prior_source else "equal prior weights"
    print_table(wt, title=f"Which scenario is reality tracking? (joint paths, related series tempered, {prior})")
    click.echo(cal.verdict)


def _of(shares: pd.Series, figures: pd.Series) -> list[str]:
    """Shares of the scored figures as counts people read at a glance: "7 of 9"."""
    return [f"{round(s * n)} of {int(n)}" if pd.notna(s) and n else "" for s, n in zip(shares, figures, strict=True)]


@click.command()
@DATA_OPTION
@click.option("--vintage", help="Show one vintage in detail: its changes, revisions and scores.")
@friendly
def history(data_dir: Path | None, vintage: str | None) -> None:
    """List the data vintages (base + one per calibration) and the forecasts' track record.

    Any vintage can be used with --vintage ID (e.g. `forecast run --vintage v1`); the default is
    the latest.
    """
    from forecast.cli.tables import print_table
    from forecast.core.resources import default_data_dir
    from forecast.data.vintages import BASE, Store, calibration_history

    store = Store(data_dir or default_data_dir())
    if vintage:
        _show_vintage(store, store.get(vintage).id)
        return
    vs = store.vintages()
    latest = vs[-1].id
    t = pd.DataFrame(
        [
            {
                "vintage": v.id + (" (latest)" if v.id == latest else ""),
                "date": v.date,
                "from": v.parent,
                "file": " ".join(f["name"] for f in v.files) or f"{store.root}/*.csv",
                "new": v.counts.get("new"),
                "restated": v.counts.get("restated"),
                "revised": v.counts.get("revised"),
                "scored": v.counts.get("scored"),
            }
            for v in vs
        ]
    )
    print_table(t, title=f"Vintages of {store.root}")
    orphans = store.orphans()
    if orphans:
        click.echo(f"Ignored (half-written, removed by the next calibration): {', '.join(p.name for p in orphans)}")
    h = calibration_history(store)
    if not h.empty:
        h = h.assign(
            weight=h.weight.round(3),
            in_80=_of(h.in_80, h.figures),
            in_95=_of(h.in_95, h.figures),
            mean_pit=h.mean_pit.round(2),
            mean_crps_rel=h.mean_crps_rel.round(3),
        )
        print_table(
            h[["vintage", "date", "n_scored", "scenario", "weight", "in_80", "in_95", "mean_pit", "mean_crps_rel"]],
            title="Track record: how the forecast before each calibration did on its new figures",
        )
    if latest == BASE:
        click.echo("No calibration yet: `forecast calibrate FILE` adds new figures as a vintage.")


def _show_vintage(store, vintage_id: str) -> None:
    from forecast.cli.tables import print_table
    from forecast.data.vintages import BASE

    if vintage_id == BASE:
        click.echo(f"Vintage base: the files in {store.root} (never modified by calibration).")
        return
    m = store.manifest(vintage_id)
    folder = store.dir / vintage_id
    click.echo(
        f"Vintage {vintage_id}, {m['date']}, from {m['parent']}: "
        + ", ".join(f"{f['path']} (sha256 {f['sha256'][:12]}, {f['rows']} rows)" for f in m["files"])
    )
    click.echo(f"Scored against: {m.get('scored_against', '')}")
    for name, cols, title in (
        ("changes.csv", ["status", "country", "indicator", "year", "value", "was", "scored"], "Changes"),
        (
            "revisions.csv",
            ["country", "indicator", "year", "old_value", "old_source", "new_value", "new_source", "action"],
            "Revisions",
        ),
        ("scenario_weights.csv", ["scenario", "figures", "log_lik", "weight", "in_80", "in_95"], "Scenario weights"),
    ):
        path = folder / name
        if path.exists() and path.stat().st_size > 0:
            t = pd.read_csv(path)
            if not t.empty:
                print_table(t[[c for c in cols if c in t]], title=title)
    if m.get("verdict"):
        click.echo(m["verdict"])
