"""The official figures published after the seed documents, 2005-2025, replayed as calibrations."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pytest

from forecast.data.contract import load_conflicts, load_observations
from forecast.data.dataset import annual_series, load_dataset
from forecast.data.vintages import BASE, Store, track_record
from forecast.scenarios.definitions import load_scenarios
from forecast.scenarios.forecasts import scenario_forecasts, series_table
from tests.conftest import BASE_ONLY, DATA, ROOT

LATER = DATA / "later"
SHARED_LATER = ROOT.parent / "shared" / "data" / "later_figures"


def later_rows() -> pd.DataFrame:
    return pd.concat(
        [load_observations(p).assign(file=p.name) for p in sorted(LATER.glob("*.csv")) if p.stem.isdigit()],
        ignore_index=True,
    )


def test_every_later_figure_cites_a_url_or_a_repository_path():
    rows = later_rows()
    assert len(rows) == 512
    assert rows.ref.str.match(r"^(https?://|github:\S+ .+ @ [0-9a-f]{40})").all(), rows[
        ~rows.ref.str.match(r"^(https?://|github:)")
    ][["file", "ref"]]
    for p in LATER.glob("*_conflicts.csv"):
        assert len(load_conflicts(p))


def test_one_calibration_per_year_2005_to_2025_and_history_lists_them(cli):
    years = sorted(int(p.stem) for p in LATER.glob("*.csv") if p.stem.isdigit())
    assert years == list(range(2005, 2026))
    store = Store(DATA)
    vintages = store.vintages()
    assert [v.id for v in vintages] == [BASE, *[f"v{i}" for i in range(1, 22)]]
    assert [store.manifest(v.id)["as_of"] for v in vintages[1:]] == years
    code, out, _ = cli("history")
    assert code == 0 and "v21 (latest)" in out


@pytest.mark.skipif(not SHARED_LATER.is_dir(), reason="../shared/data/later_figures is not present")
def test_the_contract_files_are_what_the_converter_makes_of_the_shared_folder():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "later_figures.py"), "--check"], capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_the_replay_rebuilds_the_committed_vintages_byte_for_byte():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "replay_later_figures.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "identical to the committed ones" in r.stdout


def test_a_part_year_or_one_agency_figure_never_reaches_an_annual_series_nor_a_score():
    ds = load_dataset(DATA)
    obs = ds.observations
    partial = obs[(obs.period != "") | (obs.scope != "")]
    assert len(partial) >= 75  # H1 / Jan-Sep seizures, one-agency crimes, oblast registers ...
    assert annual_series(obs).merge(partial, how="inner").empty
    history = series_table(ds)
    clash = history.merge(partial[["country", "indicator", "year", "value", "source"]], how="inner")
    assert clash.empty, clash
    scored = track_record(Store(DATA))[["country", "indicator", "year", "source", "value"]].drop_duplicates()
    assert scored.merge(partial[["country", "indicator", "year", "source", "value"]], how="inner").empty


def test_the_latest_vintage_forecasts_2026_to_2030():
    ds = load_dataset(DATA)
    assert ds.vintage == "v21" and ds.as_of == 2025
    fc, _ = scenario_forecasts(ds, 5, load_scenarios(), seed=1)
    assert set(fc.year) == set(range(2026, 2031))


def _base_only_copy(tmp_path):
    folder = tmp_path / "base_only"
    shutil.copytree(DATA, folder, ignore=BASE_ONLY)
    return folder


@pytest.mark.parametrize("command", [["scenarios"], pytest.param(["estimate"], marks=pytest.mark.slow)])
def test_the_base_vintage_still_gives_the_2005_view(cli, tmp_path, command, quick_priors):
    """`--vintage base` on the embedded data (which holds 21 later vintages) writes exactly what the
    seed documents alone give: the replay never touched the base files (a short sampler: only the
    identity matters)."""
    main, alone = tmp_path / "main", tmp_path / "alone"
    quick = ["--priors", quick_priors] if command == ["estimate"] else []
    code, _, err = cli(*command, "--vintage", "base", "--seed", "1", "--out", main, *quick)
    assert code == 0, err
    code, _, err = cli(*command, "--data", _base_only_copy(tmp_path), "--seed", "1", "--out", alone, *quick)
    assert code == 0, err
    name = "forecasts.csv" if command == ["scenarios"] else "estimates.csv"
    assert (main / name).read_bytes() == (alone / name).read_bytes()


def test_one_population_series_per_country_year_world_bank_first():
    from forecast.data.dataset import population_series

    ds = load_dataset(DATA)
    series = population_series(ds.observations)
    assert not series.duplicated(["country", "year"]).any()
    tj = series[(series.country == "Tajikistan") & (series.year == 2003)].iloc[0]
    assert tj.source.startswith("World Bank")  # the seed's 6.3 million stays in the data, not in the series
    recorded = ds.observations[(ds.observations.indicator == "population") & (ds.observations.country == "Tajikistan")]
    assert (recorded.value == 6_300_000).any() or len(recorded) > len(series[series.country == "Tajikistan"])
    base = population_series(load_dataset(DATA, vintage="base").observations)
    assert not base.source.str.startswith("World Bank").any()
