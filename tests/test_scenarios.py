"""Scenario files and scenario forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.core.errors import ConfigError
from forecast.data.dataset import load_dataset
from forecast.scenarios.definitions import load_scenarios
from forecast.scenarios.forecasts import scenario_forecasts
from tests.conftest import DATA


@pytest.fixture(scope="module")
def forecasts():
    fc, history = scenario_forecasts(load_dataset(DATA, vintage="base"), 5, load_scenarios(), seed=3)
    return fc, history


def test_the_three_scenarios_with_osmonaliev_numbers():
    sc = load_scenarios()
    assert {"baseline", "optimistic", "pessimistic"} <= set(sc)
    assert sc["baseline"].for_indicator("registered_users").growth_pct == (5, 7)
    assert sc["optimistic"].for_indicator("registered_users").growth_pct == (-3, -2)
    assert sc["optimistic"].for_indicator("trafficking_crimes").growth_pct == (5, 6)
    assert sc["optimistic"].for_indicator("possession_crimes").growth_pct == (-15, -10)
    assert sc["optimistic"].years == 3
    assert sc["pessimistic"].for_indicator("drug_crimes").growth_pct[0] == 4
    assert sc["baseline"].for_indicator("seizures_heroin_kg").growth_pct is not None  # the "seizures" group
    for s in sc.values():
        assert s.ref.startswith("001_553ea87736c65826.txt:")
        assert all(a.basis for a in s.assumptions.values())


def test_every_series_gets_every_scenario(forecasts):
    fc, history = forecasts
    per_series = fc.groupby(["country", "indicator"]).scenario.nunique()
    assert (per_series == 3).all()
    assert len(per_series) == history.groupby(["country", "indicator"]).ngroups
    assert set(fc.groupby(["country", "indicator", "scenario"]).size()) == {5}


def test_growth_range_appears_in_the_forecast(forecasts):
    fc, _ = forecasts
    tj = fc[(fc.country == "Tajikistan") & (fc.indicator == "registered_users")].sort_values("year")
    opt = tj[tj.scenario == "optimistic"]["median"].to_numpy()
    last = tj.last_value.iloc[0]
    yearly = np.diff(np.concatenate([[last], opt[:3]])) / np.concatenate([[last], opt[:2]])
    assert np.all((yearly > -0.035) & (yearly < -0.015)), yearly  # falls 2-3% a year
    base = tj[tj.scenario == "baseline"]["median"].to_numpy()
    growth = (base[-1] / last) ** (1 / 5) - 1
    assert 0.045 < growth < 0.075, growth  # +5-7% a year


def test_bands_widen_with_horizon_and_counts_stay_non_negative(forecasts):
    fc, _ = forecasts
    assert (fc[["mean", "median", "lo_80", "hi_80", "lo_95", "hi_95"]] >= 0).all().all()
    assert (fc.lo_95 <= fc.lo_80).all() and (fc.lo_80 <= fc["median"]).all()
    assert (fc["median"] <= fc.hi_80).all() and (fc.hi_80 <= fc.hi_95).all()
    for _, g in fc.groupby(["country", "indicator", "scenario"]):
        width = np.log(g.sort_values("year").hi_95 + 1) - np.log(g.sort_values("year").lo_95 + 1)
        assert width.iloc[-1] > width.iloc[0]


def test_two_point_and_gappy_series(forecasts):
    fc, history = forecasts
    kg = fc[(fc.country == "Kyrgyzstan") & (fc.indicator == "drug_crimes")]
    assert not kg.empty and kg.model.str.contains("random walk").all()  # 2 points: pooled random walk
    tm = history[(history.country == "Turkmenistan") & (history.indicator == "seizures_heroin_kg")]
    assert list(tm.year) == [1997, 2006]  # a 9-year gap
    assert not fc[(fc.country == "Turkmenistan") & (fc.indicator == "seizures_heroin_kg")].empty
    tj = fc[(fc.country == "Tajikistan") & (fc.indicator == "registered_hiv_cumulative")]
    assert tj.model.str.startswith("combined").all()  # 4 points (1999, 2002-2004): the model combination
    assert list(tj.year.unique()) == [2005, 2006, 2007, 2008, 2009]


def test_same_seed_same_forecasts():
    ds = load_dataset(DATA, vintage="base")
    a, _ = scenario_forecasts(ds, 2, load_scenarios(), seed=5)
    b, _ = scenario_forecasts(ds, 2, load_scenarios(), seed=5)
    pd.testing.assert_frame_equal(a, b)


GOOD = """[scenarios.mine]
label = "My scenario"
years = 2
drivers = "a user's own assumptions"
[scenarios.mine.indicators.drug_crimes]
growth_pct = [10, 12]
basis = "ministry plan"
"""


def test_a_user_adds_a_scenario_by_writing_a_file(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "mine.toml").write_text(GOOD)
    sc = load_scenarios(user_dir=folder)
    assert "mine" in sc and "baseline" in sc
    fc, _ = scenario_forecasts(load_dataset(DATA, vintage="base"), 2, {"mine": sc["mine"]}, seed=1)
    kz = fc[(fc.country == "Kazakhstan") & (fc.indicator == "drug_crimes")].sort_values("year")
    assert kz["median"].iloc[0] / kz.last_value.iloc[0] == pytest.approx(1.11, abs=0.02)


@pytest.mark.parametrize(
    "text,key,words",
    [
        (GOOD.replace("[10, 12]", "[12, 10]"), "scenarios.mine.indicators.drug_crimes.growth_pct", "greater than high"),
        (GOOD.replace("[10, 12]", '"ten"'), "scenarios.mine.indicators.drug_crimes.growth_pct", "[low, high]"),
        (GOOD.replace("drug_crimes]", "drug_crime]"), "scenarios.mine.indicators.drug_crime", "unknown indicator"),
        (GOOD.replace("years = 2", "years = 9"), "scenarios.mine.years", "must lie in"),
        (GOOD.replace('label = "My scenario"\n', ""), "scenarios.mine.label", "missing text"),
        (GOOD.replace('basis = "ministry plan"', 'basis = "x"\nfollow = "model"'), "growth_pct", "exactly one"),
        (GOOD + "colour = 'red'\n", "scenarios.mine.indicators.drug_crimes.colour", "unknown key"),
        ("[scenarios.mine\nlabel=1", None, "not valid TOML"),
    ],
)
def test_malformed_scenario_file_is_a_clear_error(tmp_path, cli, text, key, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_scenarios(path)
    assert words in str(exc.value)
    if key:
        assert key in str(exc.value)
    code, _, err = cli("scenarios", "--scenarios", path, "--horizon", "1")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(path) in err


def test_horizon_out_of_range_is_a_usage_error(cli):
    code, _, err = cli("scenarios", "--horizon", "7")
    assert code == 2 and "1<=x<=5" in err


def test_a_vintage_as_of_a_year_forecasts_every_series_from_the_year_after():
    """As of 2008, a series ending in 2004 is forecast 2009-2013 (a 4-year gap, wider bands), one
    ending in 2001 is not forecast at all (more than MAX_STALE_YEARS behind)."""
    import dataclasses

    from forecast.scenarios.forecasts import MAX_STALE_YEARS, series_table, stale_series

    ds = load_dataset(vintage="base")
    sc = load_scenarios()
    dated = dataclasses.replace(ds, as_of=2008)
    fc, _ = scenario_forecasts(dated, 5, sc, seed=1)
    assert set(fc.year) == set(range(2009, 2014))
    last = series_table(ds).groupby(["country", "indicator"]).year.max()
    stale = stale_series(dated)
    assert set(zip(stale.country, stale.indicator, strict=True)) == {
        k for k, y in last.items() if 2008 - y > MAX_STALE_YEARS
    }
    assert not set(zip(fc.country, fc.indicator, strict=True)) & set(zip(stale.country, stale.indicator, strict=True))
    own, _ = scenario_forecasts(ds, 5, sc, seed=1)  # no as-of: each series from its own last figure
    key = (fc.scenario == "baseline") & (fc.indicator == "drug_crimes") & (fc.country == "Kyrgyzstan")
    key_own = (own.scenario == "baseline") & (own.indicator == "drug_crimes") & (own.country == "Kyrgyzstan")
    later, earlier = fc[key].iloc[0], own[key_own].iloc[0]
    assert later.year > earlier.year and later.hi_95 / later.lo_95 > earlier.hi_95 / earlier.lo_95
