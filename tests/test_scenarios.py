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


# --------------------------------------------------------------------------------------------
# Scenarios that mean what they say; coherent numbers (issue 14)


@pytest.fixture(scope="module")
def base_series():
    """Every series' scenario paths (draws) on the base vintage, and the history behind them."""
    from forecast.scenarios.forecasts import forecast_series

    return forecast_series(load_dataset(DATA, vintage="base"), 5, load_scenarios(), seed=3)


RATE_ONLY = """[scenarios.model_only]
label = "The fitted model"
years = 5
drivers = "no assumption: the model's own trend and band"

[scenarios.fixed_rate]
label = "A fixed rate"
years = 5
drivers = "registered users grow exactly 3% a year"
[scenarios.fixed_rate.indicators.registered_users]
growth_pct = [3, 3]
basis = "test"
"""


def _log_width(rows: pd.DataFrame, lo: str = "lo_80", hi: str = "hi_80") -> np.ndarray:
    rows = rows.sort_values("year")
    return np.log1p(rows[hi].to_numpy()) - np.log1p(rows[lo].to_numpy())


def test_a_scenario_rate_replaces_the_model_trend_and_keeps_only_its_innovation_spread(tmp_path):
    """Where a scenario fixes the rate, its band is the model's innovation spread only: never wider than
    the model's own band, and clearly narrower where the model is unsure of its trend. Where the model has
    a trend (3+ points), the optimistic and pessimistic bands (rate ranges of 1 and 4 points) are no wider
    than the model's band plus the rate range's own 80% width; a one- or two-point random walk has no
    trend uncertainty to replace."""
    path = tmp_path / "mine.toml"
    path.write_text(RATE_ONLY)
    scenarios = {**load_scenarios(), **load_scenarios(path)}
    trend_models = 0
    for vintage in ("base", None):
        fc, _ = scenario_forecasts(load_dataset(DATA, vintage=vintage), 5, scenarios, seed=3)
        for country, g in fc[fc.indicator == "registered_users"].groupby("country"):
            model = _log_width(g[g.scenario == "model_only"])
            assert np.all(_log_width(g[g.scenario == "fixed_rate"]) <= model + 1e-9), country
            if g.n_obs.iloc[0] >= 3:
                trend_models += 1
                for name in ("optimistic", "pessimistic"):  # innovations within the model's, plus the rate range
                    lo, hi = scenarios[name].for_indicator("registered_users").growth_pct
                    rate = 0.8 * np.arange(1, len(model) + 1) * np.log((100 + hi) / (100 + lo))
                    assert np.all(_log_width(g[g.scenario == name]) <= model + rate + 1e-9), (country, name)
                # clearly narrower: the trend's own uncertainty is gone (by 15-40% at year 5 since the
                # engine's bands are calibrated per length and roughness, registry.BAND_PROFILES)
                assert _log_width(g[g.scenario == "fixed_rate"])[-1] < 0.9 * model[-1], country
    assert trend_models >= 2
    fc, _ = scenario_forecasts(load_dataset(DATA, vintage="base"), 5, scenarios, seed=3)
    tj = fc[(fc.country == "Tajikistan") & (fc.indicator == "registered_users") & (fc.scenario == "fixed_rate")]
    assert tj["median"].iloc[-1] / tj.last_value.iloc[0] == pytest.approx(1.03**5, rel=0.03)


def test_a_cumulative_series_never_falls_in_any_draw(base_series):
    series, _ = base_series
    cumulative = [f for (c, i), f in series.items() if "cumulative" in i]
    assert cumulative
    for f in cumulative:
        for name, paths in f.paths.items():
            assert np.all(paths[:, 0] >= f.last_value), (f.country, name)
            assert np.all(np.diff(paths, axis=1) >= 0), (f.country, name)
    latest, _ = scenario_forecasts(load_dataset(DATA), 5, load_scenarios(), seed=1)
    cum = latest[latest.indicator == "registered_hiv_cumulative"]
    assert not cum.empty and (cum.lo_95 >= cum.last_value - 1e-9).all()
    for _, g in cum.groupby(["country", "scenario"]):
        assert (np.diff(g.sort_values("year")[["lo_95", "median", "hi_95"]].to_numpy(), axis=0) >= -1e-9).all()


def test_an_excluded_figure_never_seeds_a_forecast(tmp_path):
    """models/prevalence.toml excludes the Uzbek 17,602 (a typo): no series, history or forecast uses it."""
    from forecast.prevalence.config import load_config
    from forecast.scenarios.forecasts import series_table

    typo = next(x for x in load_config().exclude if x["country"] == "Uzbekistan")
    for vintage in ("base", None):
        ds = load_dataset(DATA, vintage=vintage)
        obs = ds.observations
        key = (obs.country == typo["country"]) & (obs.indicator == typo["indicator"]) & (obs.year == typo["year"])
        assert (obs[key].value == 17602).any()  # the figure stays in the data, as its source gives it
        history = series_table(ds)
        kept = history[(history.country == typo["country"]) & (history.indicator == typo["indicator"])]
        assert typo["year"] not in set(kept.year) and 17602 not in set(kept.value)
        fc, hist = scenario_forecasts(ds, 2, load_scenarios(), seed=1)
        assert 17602 not in set(fc.last_value) and 17602 not in set(hist.value)
    ds = load_dataset(DATA, vintage="base")  # any exclusion is honoured: drop Tajikistan's last register figure
    tj = series_table(ds)
    tj = tj[(tj.country == "Tajikistan") & (tj.indicator == "registered_users")]
    drop = {"country": "Tajikistan", "indicator": "registered_users", "year": int(tj.year.max()), "source": ""}
    shorter = series_table(ds, exclude=(drop,))
    shorter = shorter[(shorter.country == "Tajikistan") & (shorter.indicator == "registered_users")]
    assert list(shorter.year) == list(tj.year)[:-1]


def test_country_forecasts_add_up_to_the_central_asia_total(base_series):
    """Central Asia heroin and opium seizures (2006) are the five countries' sum: the region's paths are the
    sum of the countries' paths, draw by draw, so its median is the median of the summed paths."""
    from forecast.data.vocab import MODEL_COUNTRIES, REGION

    series, history = base_series
    fc, _ = scenario_forecasts(load_dataset(DATA, vintage="base"), 5, load_scenarios(), seed=3)
    reconciled = 0
    for (country, indicator), region in series.items():
        if country != REGION:
            continue
        parts = [series.get((c, indicator)) for c in MODEL_COUNTRIES]
        if indicator == "seizures_opiates_kg":  # no country series: the region's own, and it says so
            assert all(p is None for p in parts)
            rows = fc[(fc.country == REGION) & (fc.indicator == indicator)]
            assert rows.assumption.str.contains("the region's own series, not the sum of the countries").all()
            continue
        reconciled += 1
        for name, paths in region.paths.items():
            total = sum(p.paths[name][:, np.isin(p.years, region.years)] for p in parts)
            np.testing.assert_allclose(paths, total)
            rows = fc[(fc.country == REGION) & (fc.indicator == indicator) & (fc.scenario == name)].sort_values("year")
            np.testing.assert_allclose(rows["median"].to_numpy(), np.median(total, axis=0))
            assert rows.assumption.str.contains("sum of the five countries").all()
        last = history[(history.country == REGION) & (history.indicator == indicator)].year.max()
        sums = history[
            history.country.isin(MODEL_COUNTRIES) & (history.indicator == indicator) & (history.year == last)
        ]
        assert len(sums) == 5
    assert reconciled == 2  # heroin and opium


def test_the_region_median_tells_the_countries_story(base_series):
    """The countries' draws are coupled (one flow, one shock: paths.COUNTRY_SHOCK_CORRELATION), so the
    median of the region's summed paths stays near the sum of the countries' medians. Drawn
    independently, the Central Asia heroin median rose +92% in five years against the countries' +21%."""
    from forecast.data.vocab import MODEL_COUNTRIES, REGION

    series, _ = base_series
    for indicator in ("seizures_heroin_kg", "seizures_opium_kg"):
        region = series[(REGION, indicator)]
        parts = [series[(c, indicator)] for c in MODEL_COUNTRIES]
        for name, paths in region.paths.items():
            of_sum = np.median(paths, axis=0)
            sum_of = np.sum([np.median(p.paths[name], axis=0) for p in parts], axis=0)
            assert np.all(np.abs(of_sum / sum_of - 1) < 0.2), (indicator, name, of_sum / sum_of)  # was up to +59%


def test_coupling_reorders_draws_and_changes_no_countrys_band():
    from forecast.scenarios.paths import couple, random_walk, rng_for, shared_latent

    a = random_walk(100.0, 0.5, 5, 4000, rng_for(0, "a"), "rw")
    b = random_walk(300.0, 0.5, 5, 4000, rng_for(0, "b"), "rw")
    ca = couple(a, shared_latent(1, "x", "A", 4000))
    cb = couple(b, shared_latent(1, "x", "B", 4000))
    np.testing.assert_allclose(np.sort(ca.paths, axis=0), np.sort(a.paths, axis=0))  # the same draws, reordered
    rank = [np.argsort(np.argsort(m.spread.mean(axis=1))) for m in (ca, cb)]
    assert np.array_equal(rank[0], rank[1])  # fully coupled: the same quantile in every draw
    half = couple(b, shared_latent(1, "x", "B", 4000, rho=0.5))
    r = np.corrcoef(rank[0], np.argsort(np.argsort(half.spread.mean(axis=1))))[0, 1]
    assert 0.3 < r < 0.7
    independent = np.median(a.paths[:, -1] + b.paths[:, -1])
    coupled = np.median(ca.paths[:, -1] + cb.paths[:, -1])
    assert coupled == pytest.approx(np.median(a.paths[:, -1]) + np.median(b.paths[:, -1]), rel=0.05)
    assert independent > coupled * 1.05  # independent skewed draws lift the median of their sum


def test_the_draws_are_stored_beside_the_forecast(tmp_path, base_series):
    """forecast_draws.parquet: the first STORED_DRAWS paths of every series and scenario, draw for draw,
    so that the region is the countries' sum and "as baseline" is the baseline in the stored draws too."""
    from forecast.data.vocab import MODEL_COUNTRIES, REGION
    from forecast.scenarios.draws import STORED_DRAWS, path_matrices, read_draws

    series, _ = base_series
    fc, _ = scenario_forecasts(
        load_dataset(DATA, vintage="base"), 5, load_scenarios(), seed=3, draws_file=tmp_path / "d.parquet"
    )
    stored = path_matrices(read_draws(tmp_path / "d.parquet"))
    assert len(stored) == len(fc[["country", "indicator", "scenario"]].drop_duplicates())
    for (country, indicator), f in series.items():
        for name, paths in f.paths.items():
            years, m = stored[(country, indicator, name)]
            assert list(years) == list(f.years) and m.shape == (STORED_DRAWS, len(f.years))
            np.testing.assert_allclose(m, paths[:STORED_DRAWS], rtol=1e-6)
    years, region = stored[(REGION, "seizures_heroin_kg", "baseline")]
    total = sum(stored[(c, "seizures_heroin_kg", "baseline")][1] for c in MODEL_COUNTRIES)
    np.testing.assert_allclose(region, total, rtol=1e-5)
    np.testing.assert_array_equal(
        stored[("Tajikistan", "seizures_heroin_kg", "optimistic")][1],
        stored[("Tajikistan", "seizures_heroin_kg", "baseline")][1],
    )


def test_a_scenario_silent_on_an_indicator_equals_the_baseline_and_says_so(forecasts):
    """Osmonaliev gives no seizure or HIV figure under Scenarios Two and Three: those forecasts are the
    baseline's, number for number, and say so; optimistic and pessimistic differ only where he gives figures."""
    fc, _ = forecasts
    band = ["mean", "median", "lo_80", "hi_80", "lo_95", "hi_95"]
    base = fc[fc.scenario == "baseline"].set_index(["country", "indicator", "year"])[band]
    silent = fc[fc.assumption.str.startswith("as baseline")]
    assert set(silent.scenario) == {"optimistic", "pessimistic"}
    assert {i for i in silent.indicator if not i.startswith("seizures_")} == {
        "registered_hiv_cumulative",
        "registered_hiv_new",
    }
    for _, r in silent.iterrows():
        assert f"the source gives no figure for {r.indicator} under this scenario" in r.assumption
        pd.testing.assert_series_equal(
            r[band].astype(float), base.loc[(r.country, r.indicator, r.year)].astype(float), check_names=False
        )
    end = fc[fc.year == fc.groupby(["country", "indicator"]).year.transform("max")]
    piv = end.pivot_table(index=["country", "indicator"], columns="scenario", values="median")
    differ = piv[~np.isclose(piv.optimistic, piv.pessimistic)].index.get_level_values("indicator")
    assert set(differ) == {"drug_crimes", "registered_users"}  # the base vintage has no crime breakdown
    sc = load_scenarios()
    assert sc["optimistic"].for_indicator("seizures_heroin_kg").as_baseline
    assert sc["pessimistic"].for_indicator("registered_hiv_new").as_baseline  # not named: its default
    assert not sc["baseline"].for_indicator("registered_hiv_new").as_baseline  # the baseline follows the model


def test_the_silent_scenario_is_the_baseline_even_when_run_alone():
    ds = load_dataset(DATA, vintage="base")
    sc = load_scenarios()
    alone, _ = scenario_forecasts(ds, 3, {"pessimistic": sc["pessimistic"]}, seed=2)
    both, _ = scenario_forecasts(ds, 3, sc, seed=2)
    key = ["country", "indicator", "year"]
    a = alone[alone.indicator == "seizures_heroin_kg"].set_index(key)["median"]
    b = both[(both.indicator == "seizures_heroin_kg") & (both.scenario == "baseline")].set_index(key)["median"]
    pd.testing.assert_series_equal(a, b.loc[a.index])


def test_the_authors_most_likely_scenario_is_labelled(forecasts):
    sc = load_scenarios()
    likely = [s for s in sc.values() if s.most_likely]
    assert [s.name for s in likely] == ["pessimistic"]
    assert likely[0].most_likely_ref == "001_553ea87736c65826.txt:126" and "4-5%" in likely[0].most_likely_basis
    fc, _ = forecasts
    assert set(fc.loc[fc.most_likely.astype(bool), "scenario"]) == {"pessimistic"}


def test_the_window_and_what_follows_it_are_stated_once():
    """The author's window (years) and after_window come from the scenario file; every text derives from them."""
    sc = load_scenarios()
    assert {s.after_window for s in sc.values()} == {"keep rate"}
    assert sc["optimistic"].years == 3 and "coming three years" in sc["optimistic"].years_basis
    assert sc["optimistic"].window == "scenario growth for the author's 3 years, then the same drawn rate kept"
    assert sc["optimistic"].describe("registered_users", 5).endswith("(the author's 3 years, then the same rate kept)")
    assert sc["optimistic"].describe("registered_users", 3) == "-3% to -2% a year"


def test_after_the_window_the_model_trend_can_take_over(tmp_path):
    text = GOOD.replace("years = 2", 'years = 2\nafter_window = "model trend"')
    path = tmp_path / "mine.toml"
    path.write_text(text + RATE_ONLY.split("[scenarios.fixed_rate]")[0])
    sc = load_scenarios(path)
    assert sc["mine"].describe("drug_crimes", 5).endswith("for the author's 2 years, then the model's trend")
    from forecast.scenarios.paths import from_samples, scenario_paths

    rng = np.random.default_rng(0)
    steps = rng.normal(0.10, 0.05, size=(4000, 5))  # the model: +10% a year
    mp = from_samples(np.expm1(np.log1p(100.0) + np.cumsum(steps, axis=1)), 100.0, "test")
    paths = scenario_paths(mp, sc["mine"], "drug_crimes", seed=1)  # +10-12% for 2 years, then the model's +10%
    growth = np.diff(np.log(np.median(paths, axis=0)))
    assert np.all(np.abs(growth[2:] - 0.10) < 0.02), growth


@pytest.mark.parametrize(
    "text,key,words",
    [
        (GOOD.replace("years = 2", 'years = 2\nafter_window = "later"'), "scenarios.mine.after_window", "keep rate"),
        (GOOD.replace("years = 2", "years = 2\nmost_likely = 1"), "scenarios.mine.most_likely", "true or false"),
        (GOOD.replace("years = 2", 'years = 2\ndefault = "baseline"'), "scenarios.mine", "no [scenarios.baseline]"),
    ],
)
def test_malformed_window_likelihood_and_baseline_keys(tmp_path, text, key, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_scenarios(path)
    assert words in str(exc.value) and key in str(exc.value)


def test_a_scenario_rate_on_a_bounded_count_is_logistic_growth_below_its_ceiling():
    """A true count with a ceiling: far below it the median grows at the scenario's rate; near it the
    rate slows and no draw passes it (the rate moves logit(count / ceiling))."""
    from forecast.scenarios.definitions import Assumption, Scenario
    from forecast.scenarios.paths import bounded, scenario_paths

    rng = np.random.default_rng(0)
    n, years = 4000, 5
    follow = Assumption(None, "test", "", follow="model")
    steep = {"true_users": Assumption((9.0, 9.0), "test", "")}
    rate = Scenario("steep", "Steep", "test", "", 5, "", steep, follow, "test.toml")
    for start, cap in ((1_000.0, 1e9), (90_000.0, 100_000.0)):
        level = start * np.exp(np.cumsum(rng.normal(0, 0.05, (n, years)), axis=1))
        level = np.minimum(level, 0.999 * cap)
        paths = scenario_paths(bounded(level, level, np.full(n, cap), start, "test"), rate, "true_users", seed=1)
        assert (paths <= cap).all() and (paths > 0).all()
        growth = np.median(paths[:, -1]) / start
        if cap > 1e6:
            assert growth == pytest.approx(1.09**years, rel=0.02)  # far from the ceiling: the stated rate
        else:
            assert growth < 1.09  # near it: slower than the rate
