"""`forecast calibrate`: the diff (new / restated / revised), scoring the previous forecast, scenario
weights, the vintage it writes, bad files (exit 2, data folder byte-for-byte unchanged) and, slow,
the refit on the new vintage."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast.calibration import prepare
from forecast.calibration.diff import diff_table
from forecast.calibration.scores import log_density
from forecast.calibration.weights import carried_prior, effective_share, indicator_family, scenario_weights
from forecast.core.bands import band_frame
from forecast.data.dataset import load_dataset
from forecast.data.vintages import Store, calibration_history
from forecast.scenarios.definitions import load_scenarios
from forecast.scenarios.draws import DRAWS_FILE, draws_bytes, draws_frame
from forecast.scenarios.forecasts import forecast_series, forecast_table
from tests.conftest import DATA, OBS_HEADER, prime, tree_hash

SRC = "Test: made-up figures"
MULT_HEADER = "country,target,year,value,low,high,method,source,ref,note"


def obs_row(country, indicator, year, value, kind="official", source=SRC, low="", high=""):
    return f"{country},{indicator},{year},{value},{low},{high},{kind},{source},,"


# a year of made-up figures for several series: new, restated, revised, a new country's row, an
# indicator with no forecast, a year far beyond the horizon
YEAR = (
    "\n".join(
        [
            OBS_HEADER,
            obs_row("Tajikistan", "registered_users", 2002, 8813),  # restated
            obs_row("Tajikistan", "registered_users", 2003, 9610),
            obs_row("Kazakhstan", "registered_users", 2003, 52300),
            obs_row("Uzbekistan", "registered_users", 2004, 23900),
            obs_row("Kyrgyzstan", "drug_crimes", 2003, 3150),  # revises 3106 (official)
            obs_row("Kyrgyzstan", "drug_crimes", 2004, 3290),
            obs_row("Uzbekistan", "drug_crimes", 2004, 9350),
            obs_row("Tajikistan", "registered_hiv_cumulative", 2005, 260),
            obs_row("Uzbekistan", "seizures_heroin_kg", 2007, 610),
            obs_row("Turkmenistan", "registered_users", 2004, 3100),  # no previous series
            obs_row("Kazakhstan", "drug_crimes", 2030, 20000),  # far beyond the horizon
            obs_row("Tajikistan", "estimated_users", 2004, "", "estimate", low=55000, high=75000),
        ]
    )
    + "\n"
)
STUDY = (
    "\n".join([MULT_HEADER, "Tajikistan,users,2004,18,15,22,capture_recapture,Test: made-up size estimation study,,"])
    + "\n"
)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    paths = {"year": tmp_path / "year.csv", "study": tmp_path / "study.csv"}
    paths["year"].write_text(YEAR)
    paths["study"].write_text(STUDY)
    return paths


# ---------------------------------------------------------------------------------------------
# a stored forecast is forecasts.csv with its draws (forecast_draws.parquet) beside it


@pytest.fixture(scope="module")
def base_run() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The base vintage's scenario forecast (seed 0, as conftest's base_forecast) and its draws."""
    sc = load_scenarios()
    series, _ = forecast_series(load_dataset(DATA, vintage="base"), 5, sc)
    return forecast_table(series, sc), draws_frame(series)


@pytest.fixture
def out(tmp_path, store, base_run) -> Path:
    """A results folder as `forecast run` leaves it on vintage base: forecasts.csv and its draws."""
    folder = prime(store, tmp_path / "out", base_run[0])
    (folder / DRAWS_FILE).write_bytes(draws_bytes(base_run[1]))
    return folder


# ---------------------------------------------------------------------------------------------
# one likelihood: a Gaussian on the log scale fitted robustly to the draws, for a figure or a path


def _log_normal_paths(mu, cov, n=40_000, seed=0) -> np.ndarray:
    return np.expm1(np.random.default_rng(seed).multivariate_normal(mu, cov, size=n))


def test_log_density_of_a_path_is_the_gaussian_of_its_draws_on_the_log_scale():
    mu = np.log1p([1000.0, 1100.0, 1200.0])
    sd = np.array([0.1, 0.15, 0.2])
    corr = np.array([[1, 0.7, 0.5], [0.7, 1, 0.7], [0.5, 0.7, 1]])
    cov = corr * np.outer(sd, sd)
    draws = _log_normal_paths(mu, cov)
    for y in ([1000, 1100, 1200], [900, 1300, 1000], [1500, 1600, 1900]):
        z = np.log1p(y)
        exact = stats.multivariate_normal.logpdf(z, mu, cov) - z.sum()
        assert log_density(draws, y) == pytest.approx(exact, abs=0.05)
    for k in range(3):  # one year: the marginal, the same definition
        assert log_density(draws[:, [k]], 1100) == pytest.approx(
            stats.norm.logpdf(math.log1p(1100), mu[k], sd[k]) - math.log1p(1100), abs=0.02
        )
    flat = np.full((100, 2), 5.0)  # all draws equal: still a finite density
    assert np.isfinite(log_density(flat, [5, 5]))


def test_a_joint_path_is_not_scored_as_independent_years():
    """A random walk's years move together: a path that wanders smoothly is far likelier than one
    that zigzags between the same marginal quantiles, which independent years cannot tell apart."""
    steps = np.random.default_rng(1).normal(0, 0.1, size=(20_000, 4))
    draws = np.expm1(np.log1p(1000) + np.cumsum(steps, axis=1))
    sd = 0.1 * np.sqrt(np.arange(1, 5))
    smooth = np.expm1(np.log1p(1000) + sd)  # +1 sd every year
    zigzag = np.expm1(np.log1p(1000) + sd * [1, -1, 1, -1])
    independent = [sum(log_density(draws[:, [k]], p[k]) for k in range(4)) for p in (smooth, zigzag)]
    jac = np.log1p(smooth).sum() - np.log1p(zigzag).sum()
    assert independent[0] + jac == pytest.approx(independent[1], abs=0.05)
    assert log_density(draws, smooth) > log_density(draws, zigzag) + 10


def test_there_is_no_quantile_reconstruction_any_more():
    import forecast.calibration.scores as scores

    assert not hasattr(scores, "QuantileForecast") and not hasattr(scores, "CRPS_LEVELS")


# ---------------------------------------------------------------------------------------------
# tempering related series, carrying the prior


def _paths(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["country", "indicator", "family", "scenario", "log_lik"])


def _scores_for(paths: pd.DataFrame) -> pd.DataFrame:
    return paths.assign(
        year=2004, value=1.0, band="inside 80", pit=0.5, crps_rel=0.1, log_density=paths.log_lik, figures=1
    )


def test_related_series_are_tempered_to_their_effective_number():
    """Three countries' crime series count as 1 / (1 + 2 x 0.5) = 1/2 each: 1.5 series, not 3."""
    rows = [
        (c, "drug_crimes", "crime", sc, ll)
        for c in ("Kazakhstan", "Kyrgyzstan", "Tajikistan")
        for sc, ll in (("up", -10.0), ("down", -12.0))
    ]
    paths = _paths(rows)
    w = scenario_weights(_scores_for(paths), paths).set_index("scenario")
    assert effective_share(3) == pytest.approx(0.5)
    assert w.loc["up", "tempered_log_lik"] == pytest.approx(-15.0)
    assert w.loc["up", "log_lik"] == pytest.approx(-30.0) and (w.series == 3).all()
    assert w.loc["up", "weight"] == pytest.approx(1 / (1 + math.exp(-3.0)))  # 1.5 x 2 nats, not 3 x 2
    # an unrelated series (another family) counts in full
    more = _paths(rows + [("Tajikistan", "registered_users", "registered users", "up", -5.0)])
    more = pd.concat([more, _paths([("Tajikistan", "registered_users", "registered users", "down", -6.0)])])
    w2 = scenario_weights(_scores_for(more), more).set_index("scenario")
    assert w2.loc["up", "tempered_log_lik"] - w2.loc["down", "tempered_log_lik"] == pytest.approx(3.0 + 1.0)
    assert indicator_family("registered_hiv_new") == "HIV" and indicator_family("seizures_opium_kg") == "seizures"


def test_the_prior_is_the_previous_weights_with_a_little_forgetting():
    prev = pd.Series({"baseline": 0.9, "optimistic": 0.1, "pessimistic": 0.0})
    p = carried_prior(prev, ["baseline", "optimistic", "pessimistic"])
    assert p.sum() == pytest.approx(1)
    assert p["baseline"] == pytest.approx(0.95 * 0.9 + 0.05 / 3)
    assert p["pessimistic"] == pytest.approx(0.05 / 3)  # never ruled out for good
    new = carried_prior(prev, ["baseline", "optimistic", "pessimistic", "mine"])  # a scenario added since
    assert new["mine"] > 0 and new.sum() == pytest.approx(1)
    assert (carried_prior(None, ["a", "b"]) == 0.5).all()
    rows = [("Tajikistan", "drug_crimes", "crime", sc, -10.0) for sc in prev.index]
    paths = _paths(rows)
    w = scenario_weights(_scores_for(paths), paths, prev).set_index("scenario")
    np.testing.assert_allclose(w.weight[p.index], p)  # figures that do not tell them apart leave the prior


# ---------------------------------------------------------------------------------------------
# the diff


def _table(rows: list[str], header: str = OBS_HEADER, name: str = "t.csv", tmp: Path | None = None) -> pd.DataFrame:
    from forecast.data.contract import check_file

    path = tmp / name
    path.write_text("\n".join([header, *rows]) + "\n")
    _, t = check_file(path)
    return t.assign(_file=str(path), _line=range(2, len(t) + 2))


def test_diff_new_restated_revised(tmp_path):
    current = _table(
        [
            obs_row("Tajikistan", "registered_users", 2002, 8813, source="WHO"),
            obs_row("Tajikistan", "estimated_users", 2003, 100000, "estimate", source="Engvall"),
            obs_row("Tajikistan", "estimated_users", 2002, 50000, "estimate", source="UNODC"),
        ],
        tmp=tmp_path,
        name="cur.csv",
    ).drop(columns=["_file", "_line"])
    incoming = _table(
        [
            obs_row("Tajikistan", "registered_users", 2002, 8813, source="DCA"),  # restated
            obs_row("Tajikistan", "registered_users", 2003, 9610),  # new
            obs_row("Tajikistan", "estimated_users", 2003, 80000, "estimate", source="New study"),
            obs_row("Tajikistan", "estimated_users", 2002, 52000, "estimate", source="UNODC"),
        ],
        tmp=tmp_path,
    )
    d = diff_table(current, incoming, "observations", "v1")
    assert list(d.changes.status) == ["restated", "new", "revised", "revised"]
    assert d.counts == {"new": 1, "restated": 1, "revised": 2}
    # an estimate from another source stands alongside; the same source's revision supersedes
    assert "kept alongside" in d.changes.action.iloc[2] and "supersedes" in d.changes.action.iloc[3]
    est = d.merged[d.merged.indicator == "estimated_users"].sort_values(["year", "source"])
    assert list(zip(est.year, est.value, est.source, strict=True)) == [
        (2002, 52000, "UNODC"),
        (2003, 100000, "Engvall"),
        (2003, 80000, "New study"),
    ]
    rev = d.revisions.set_index("action")
    assert rev.loc["superseded", ["old_value", "old_source", "new_value", "new_source"]].tolist() == [
        50000,
        "UNODC",
        52000,
        "UNODC",
    ]
    assert rev.loc["kept alongside", ["old_value", "new_value"]].tolist() == [100000, 80000]
    assert len(d.merged) == 5  # 3 + new + alongside (restated adds nothing, superseded replaced)


def test_another_sources_official_figure_is_kept_alongside(tmp_path):
    """Two agencies, one year: both figures stay as printed (the seeds' figures are never dropped);
    the revision table records the pair."""
    current = _table(
        [obs_row("Kyrgyzstan", "drug_crimes", 2003, 3106, source="DCA survey")], tmp=tmp_path, name="cur.csv"
    ).drop(columns=["_file", "_line"])
    incoming = _table([obs_row("Kyrgyzstan", "drug_crimes", 2003, 3150, source="MVD annual")], tmp=tmp_path)
    d = diff_table(current, incoming, "observations", "v1")
    assert sorted(d.merged.value.tolist()) == [3106, 3150]
    r = d.revisions.iloc[0]
    assert (r.old_value, r.old_source, r.new_value, r.new_source) == (3106, "DCA survey", 3150, "MVD annual")
    assert r.action == "kept alongside"


def test_a_sources_own_revision_supersedes_its_earlier_figure(tmp_path):
    current = _table(
        [obs_row("Kyrgyzstan", "drug_crimes", 2003, 3106, source="MVD annual")], tmp=tmp_path, name="cur.csv"
    ).drop(columns=["_file", "_line"])
    incoming = _table([obs_row("Kyrgyzstan", "drug_crimes", 2003, 3150, source="MVD annual")], tmp=tmp_path)
    d = diff_table(current, incoming, "observations", "v1")
    assert d.merged.value.tolist() == [3150]
    assert d.revisions.iloc[0].action == "superseded"


def test_multiplier_diff_and_taken_id(tmp_path):
    current = load_dataset(DATA, vintage="base").multipliers
    incoming = _table(
        [
            "seed000-m01,Tajikistan,users,2001,12,12,,field_sampling,"
            '"Engvall 2005 citing UNODC field investigation (sampling interviews, Dushanbe and '
            'Kurgantubeh)",,',  # restated (same figure, same method)
            "seed000-m02,Tajikistan,users,2004,18,15,22,capture_recapture,New study,,",
        ],  # id taken
        header="id," + MULT_HEADER,
        tmp=tmp_path,
    )
    d = diff_table(current, incoming, "multipliers", "v3")
    assert list(d.changes.status) == ["restated", "new"]
    assert "seed000-m02@v3" in set(d.merged.id) and d.merged.id.is_unique
    assert "stored as 'seed000-m02@v3'" in d.changes.action.iloc[1]


# ---------------------------------------------------------------------------------------------
# scoring and scenario weights against a forecast with known draws

SD = 0.1  # yearly log-scale shock of the made-up forecasts: a random walk around each scenario's trend


def _log_normal_forecast(country, indicator, scenario, first, years, start, growth, n=20_000, seed=0):
    """(forecasts.csv rows, draws rows) of a log-normal random walk around start x growth^h."""
    h = np.arange(1, len(years) + 1)
    mu = np.log1p(start * growth**h)
    cov = SD**2 * np.minimum.outer(h, h)
    paths = _log_normal_paths(mu, cov, n=n, seed=seed)
    rows = band_frame(paths).assign(country=country, indicator=indicator, scenario=scenario, year=years)
    draws = pd.DataFrame(
        {
            "country": country,
            "indicator": indicator,
            "scenario": scenario,
            "year": np.tile(years, n),
            "draw": np.repeat(np.arange(n), len(years)),
            "value": paths.ravel(),
        }
    )
    return rows, draws, (mu, cov)


def test_scores_and_weights_follow_bayes(store, tmp_path):
    fc, dr, truth = [], [], {}
    for k, (sc, growth) in enumerate((("up", 1.08), ("down", 0.95))):
        for country, indicator, first, start in (
            ("Tajikistan", "registered_users", 2003, 8813),
            ("Uzbekistan", "drug_crimes", 2004, 8893),
        ):
            years = np.arange(first, first + 2)
            rows, draws, mc = _log_normal_forecast(country, indicator, sc, first, years, start, growth, seed=k)
            fc.append(rows)
            dr.append(draws)
            truth[(sc, indicator)] = mc
    out = prime(store, tmp_path / "out", pd.concat(fc, ignore_index=True))
    (out / DRAWS_FILE).write_bytes(draws_bytes(pd.concat(dr, ignore_index=True)))
    f = tmp_path / "new.csv"
    f.write_text(
        "\n".join(
            [
                OBS_HEADER,
                obs_row("Tajikistan", "registered_users", 2003, 9518),
                obs_row("Tajikistan", "registered_users", 2004, 10279),
                obs_row("Uzbekistan", "drug_crimes", 2004, 9604),
            ]
        )
        + "\n"
    )
    cal = prepare([f], Store(store), out)
    assert "its run.json names vintage base" in cal.forecast_source and DRAWS_FILE in cal.forecast_source
    s = cal.scores.set_index(["scenario", "indicator", "year"])
    up = s.loc[("up", "registered_users", 2003)]
    assert up.pit == pytest.approx(0.5, abs=0.02) and up.band == "inside 80" and up.horizon == 1
    down = s.loc[("down", "registered_users", 2004)]
    assert down.band == "inside 95" and down.pit == pytest.approx(
        stats.norm.cdf(math.log(10279 / (8813 * 0.95**2)) / (SD * math.sqrt(2))), abs=0.02
    )
    # each series' new figures are one path: the Tajik 2003-2004 pair by its joint (random-walk) density
    paths = cal.paths.set_index(["scenario", "indicator"])
    assert paths.loc[("up", "registered_users"), "years"] == "2003 2004"
    ll = {}
    for sc in ("up", "down"):
        total = 0.0
        for indicator, y in (("registered_users", [9518, 10279]), ("drug_crimes", [9604])):
            mu, cov = truth[(sc, indicator)]
            k = len(y)
            z = np.log1p(y)
            exact = stats.multivariate_normal.logpdf(z, mu[:k], cov[:k, :k]) - z.sum()
            assert paths.loc[(sc, indicator), "log_lik"] == pytest.approx(exact, abs=0.1)
            total += exact
        ll[sc] = total
    w = cal.weights.set_index("scenario")
    log_odds = math.log(w.loc["up", "weight"] / w.loc["down", "weight"])
    assert log_odds == pytest.approx(ll["up"] - ll["down"], abs=0.2)  # two families of one series: no tempering
    assert w.weight.sum() == pytest.approx(1) and (w.figures == 3).all() and (w.series == 2).all()
    assert (w.prior == 0.5).all() and cal.prior_source == ""  # the first calibration: equal priors
    assert cal.verdict.startswith("Reality is tracking 'up'") and "moderate" in cal.verdict  # a path, not 3 draws


def test_the_next_calibration_starts_from_the_weights_the_last_one_left(cli, store, out, files, tmp_path):
    code, _, err = cli("calibrate", files["year"], "--data", store, "--out", out, "--no-refit")
    assert code == 0, err
    first = pd.read_csv(store / "vintages" / "v1" / "scenario_weights.csv").set_index("scenario")
    assert (store / "vintages" / "v1" / "path_scores.csv").exists()
    f = tmp_path / "next.csv"
    f.write_text("\n".join([OBS_HEADER, obs_row("Tajikistan", "registered_users", 2004, 10450)]) + "\n")
    cal = prepare([f], Store(store), tmp_path / "elsewhere")
    assert cal.prior_source == "v1" and "vintage v1" in cal.verdict
    w = cal.weights.set_index("scenario")
    expected = carried_prior(first.weight, list(w.index))
    np.testing.assert_allclose(w.prior, expected[w.index])


# ---------------------------------------------------------------------------------------------
# the command


def test_a_year_of_figures(cli, store, out, files):
    before_base = load_dataset(store)
    code, stdout, err = cli("calibrate", files["year"], files["study"], "--data", store, "--out", out, "--no-refit")
    assert code == 0, err
    assert "11 new, 1 restated, 1 revised" in stdout
    assert "Stored vintage v1" in stdout and "Refit skipped" in stdout
    v1 = store / "vintages" / "v1"
    # the diff, kept with the vintage
    ch = pd.read_csv(v1 / "changes.csv")
    status = dict(zip(zip(ch.country, ch.indicator, ch.year, strict=True), ch.status, strict=True))
    assert status[("Tajikistan", "registered_users", 2002)] == "restated"
    assert status[("Kyrgyzstan", "drug_crimes", 2003)] == "revised"
    assert status[("Turkmenistan", "registered_users", 2004)] == "new"
    assert status[("Tajikistan", "multiplier:users", 2004)] == "new"
    scored = dict(zip(zip(ch.country, ch.indicator, ch.year, strict=True), ch.scored.fillna(""), strict=True))
    assert scored[("Kazakhstan", "drug_crimes", 2030)].startswith("new data: beyond the forecast horizon")
    assert scored[("Turkmenistan", "registered_users", 2004)] == "new data: no previous forecast for this series"
    assert scored[("Tajikistan", "registered_users", 2003)] == "scored (1 y ahead)"
    rev = pd.read_csv(v1 / "revisions.csv").iloc[0]
    assert (rev.old_value, rev.new_value, rev.new_source) == (3106, 3150, SRC)
    assert rev.old_source.startswith("Osmonaliev 2005")
    # the vintage: the new state, the old one still there
    ds = load_dataset(store)
    assert ds.vintage == "v1"
    assert len(ds.observations) == len(before_base.observations) + 11  # 10 new + 1 kept beside another source's
    assert "capture_recapture" in set(ds.multipliers.method)
    assert load_dataset(store, vintage="base").observations.equals(before_base.observations)
    kg = ds.observations[
        (ds.observations.country == "Kyrgyzstan")
        & (ds.observations.indicator == "drug_crimes")
        & (ds.observations.year == 2003)
    ]
    assert sorted(kg.value.tolist()) == [3106, 3150]  # both sources kept as printed
    # the scores: every scored figure under every scenario of the previous forecast
    scores = pd.read_csv(out / "calibration.csv")
    assert scores.equals(pd.read_csv(v1 / "calibration.csv"))
    figures = scores[["country", "indicator", "year"]].drop_duplicates()
    assert len(figures) == 7 and set(scores.scenario) == {"baseline", "optimistic", "pessimistic"}
    assert scores.pit.between(0, 1).all() and (scores.crps >= 0).all()
    assert set(scores.band) <= {"inside 80", "inside 95", "outside 95 (high)", "outside 95 (low)"}
    weights = pd.read_csv(out / "scenario_weights.csv")
    assert weights.weight.sum() == pytest.approx(1, abs=1e-5) and (weights.figures == 7).all()  # 6 digits in CSV
    assert "Which scenario is reality tracking?" in stdout and "Reality is tracking" in stdout
    # the track record, in the store and (for the report) in the results folder
    hist = pd.read_csv(out / "calibration_history.csv")
    assert set(hist.vintage) == {"v1"} and (hist.n_new == 11).all() and hist.weight.sum() == pytest.approx(1, abs=1e-5)
    code, stdout, _ = cli("history", "--data", store)
    assert code == 0 and "v1 (latest)" in stdout and "year.csv study.csv" in stdout
    code, stdout, _ = cli("history", "--data", store, "--vintage", "v1")
    assert code == 0 and "Revisions" in stdout and "Scenario weights" in stdout


def test_same_file_twice_changes_nothing(cli, store, out, files):
    code, _, err = cli("calibrate", files["year"], "--data", store, "--out", out, "--no-refit")
    assert code == 0, err
    before = tree_hash(store)
    code, stdout, _ = cli("calibrate", files["year"], "--data", store, "--out", out, "--no-refit")
    assert code == 0 and "already calibrated as vintage v1" in stdout
    assert tree_hash(store) == before


def test_restating_only_writes_nothing(cli, store, out, tmp_path):
    f = tmp_path / "same.csv"
    f.write_text("\n".join([OBS_HEADER, obs_row("Tajikistan", "registered_users", 2002, 8813)]) + "\n")
    before = tree_hash(store)
    code, stdout, _ = cli("calibrate", f, "--data", store, "--out", out, "--no-refit")
    assert code == 0 and "Nothing new" in stdout
    assert tree_hash(store) == before


def test_dry_run_writes_nothing(cli, store, out, files):
    before, before_out = tree_hash(store), tree_hash(out)
    code, stdout, _ = cli("calibrate", files["year"], "--data", store, "--out", out, "--dry-run")
    assert code == 0 and "Dry run: nothing written" in stdout and "Reality is tracking" in stdout
    assert tree_hash(store) == before and tree_hash(out) == before_out


def test_figures_far_beyond_the_forecast_are_just_new_data(cli, store, out, tmp_path):
    f = tmp_path / "far.csv"
    f.write_text("\n".join([OBS_HEADER, obs_row("Tajikistan", "registered_users", 2040, 30000)]) + "\n")
    code, stdout, _ = cli("calibrate", f, "--data", store, "--out", out, "--no-refit")
    assert code == 0
    assert "no overlap with the previous forecast horizon" in stdout
    assert not (store / "vintages" / "v1" / "scenario_weights.csv").exists()
    assert pd.read_csv(out / "calibration.csv").empty
    hist = calibration_history(Store(store))
    assert hist.n_scored.tolist() == [0]
    code, stdout, _ = cli("history", "--data", store)
    assert code == 0 and "v1 (latest)" in stdout


def test_next_calibration_scores_the_forecast_stored_with_the_vintage(
    cli, store, out, files, tmp_path, base_forecast, base_run
):
    code, _, err = cli("calibrate", files["year"], "--data", store, "--out", tmp_path / "elsewhere", "--no-refit")
    assert code == 0, err
    Store(store).add_file("v1", "forecasts.csv", base_forecast.to_csv(index=False).encode())
    Store(store).add_file("v1", DRAWS_FILE, draws_bytes(base_run[1]))
    f = tmp_path / "next.csv"
    f.write_text("\n".join([OBS_HEADER, obs_row("Tajikistan", "registered_users", 2004, 10450)]) + "\n")
    code, stdout, _ = cli("calibrate", f, "--data", store, "--out", out, "--no-refit")
    assert code == 0 and f"forecasts.csv and {DRAWS_FILE} stored with vintage v1" in stdout
    assert list(calibration_history(Store(store)).drop_duplicates("vintage").vintage) == ["v1", "v2"]


def test_without_a_stored_forecast_it_is_computed_and_said(cli, store, tmp_path, files):
    out = tmp_path / "other"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"data_dir": str(tmp_path / "another-folder")}))
    code, stdout, _ = cli("calibrate", files["year"], "--data", store, "--out", out, "--dry-run")
    assert code == 0 and "computed now from vintage base" in stdout


# ---------------------------------------------------------------------------------------------
# bad calibration files: exit 2, one line per problem, the data folder byte-for-byte unchanged

GOOD = obs_row("Tajikistan", "registered_users", 2003, 9610)
LATIN = "Minist\u00e8re de la Sant\u00e9"
BAD_FILES = {
    "wrong columns": (
        "country,indicator,year,amount,kind,source\nTajikistan,registered_users,2003,9610,official,x\n",
        "missing column(s) value, low, high",
    ),
    "unknown indicator": (
        f"{OBS_HEADER}\n{GOOD.replace('registered_users', 'addicts')}\n",
        "unknown indicator 'addicts'; valid:",
    ),
    "negative value": (f"{OBS_HEADER}\n{GOOD.replace('9610', '-9610')}\n", "is negative"),
    "non-numeric value": (f"{OBS_HEADER}\n{GOOD.replace('9610', 'many')}\n", "'many' is not a number"),
    "decimal comma": (f"{OBS_HEADER}\n{GOOD.replace('9610', '9610,5')}\n", "has 11 fields"),
    "duplicate key": (f"{OBS_HEADER}\n{GOOD}\n{GOOD}\n", "row 3: duplicate of row 2"),
    "empty file": ("", "file is empty"),
    "header only": (f"{OBS_HEADER}\n", "has a header but no data rows"),
    "wrong encoding": (f"{OBS_HEADER}\n{GOOD.replace(SRC, 'Agence Tadjikistan')}\n".encode("utf-16"), "not UTF-8 text"),
    "latin-1": (f"{OBS_HEADER}\n{GOOD.replace(SRC, LATIN)}\n".encode("latin-1"), "not UTF-8 text"),
    "recorded conflict rewritten": (
        "id,topic,country,indicator,year,ref_a,says_a,ref_b,says_b,note\n"
        "seed000-c01,t,Tajikistan,registered_users,2003,a,1,b,2,\n",
        "is recorded already",
    ),
    "multiplier <= 0": (f"{MULT_HEADER}\nTajikistan,users,2004,0,,,study,x,,\n", "must be > 0"),
    "unknown target": (f"{MULT_HEADER}\nTajikistan,dealers,2004,5,,,study,x,,\n", "unknown target 'dealers'"),
}


@pytest.fixture
def calibrated_store(cli, store, out, files):
    """A store that already holds a vintage, so that an unchanged index is part of the check."""
    code, _, err = cli("calibrate", files["year"], "--data", store, "--out", out, "--no-refit")
    assert code == 0, err
    return store


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_exit_2_and_nothing_written(cli, calibrated_store, out, tmp_path, case):
    content, message = BAD_FILES[case]
    bad = tmp_path / f"{case.replace(' ', '_')}.csv"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    before, before_out = tree_hash(calibrated_store), tree_hash(out)
    code, stdout, err = cli("calibrate", bad, "--data", calibrated_store, "--out", out)
    assert code == 2, (stdout, err)
    assert message in err and str(bad) in err, err
    assert all(line.startswith("error: ") for line in err.strip().splitlines())
    assert tree_hash(calibrated_store) == before and tree_hash(out) == before_out


def test_bad_file_next_to_a_good_one_writes_nothing_on_a_fresh_store(cli, store, out, files, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{OBS_HEADER}\n{GOOD.replace('9610', 'n/a')}\n")
    before = tree_hash(store)
    code, _, err = cli("calibrate", files["year"], bad, "--data", store, "--out", out)
    assert code == 2 and "'n/a' is not a number" in err
    assert tree_hash(store) == before and not (store / "vintages").exists()


def test_missing_file_and_unknown_vintage(cli, store, tmp_path):
    code, _, err = cli("calibrate", tmp_path / "nope.csv", "--data", store)
    assert code == 2 and "file not found" in err
    code, _, err = cli("history", "--data", store, "--vintage", "v7")
    assert code == 2 and "unknown vintage 'v7'; valid: base" in err


# ---------------------------------------------------------------------------------------------
# end to end, with the refit (Bayesian fit: about 2-3 minutes)


@pytest.mark.slow
def test_calibrate_and_refit_moves_the_true_users_estimate(cli, store, out, files, tmp_path, monkeypatch):
    import re
    from dataclasses import replace

    from forecast.core.resources import EMBEDDED_MODELS_DIR
    from forecast.data.dataset import Dataset
    from forecast.prevalence import estimate
    from forecast.prevalence.config import load_config

    # a shorter refit through ./models/prevalence.toml, as a user would set one (the shift below is
    # far larger than the Monte Carlo error of 2 x 1,000 draws; convergence is not what is tested)
    quick = tmp_path / "quick"
    (quick / "models").mkdir(parents=True)
    toml = (EMBEDDED_MODELS_DIR / "prevalence.toml").read_text(encoding="utf-8")
    for key, value in (("draws", 1000), ("tune", 500), ("chains", 2), ("retry_draws", 0)):
        toml, n = re.subn(rf"^{key} = \d+", f"{key} = {value}", toml, flags=re.M)
        assert n == 1, key
    (quick / "models" / "prevalence.toml").write_text(toml, encoding="utf-8")
    monkeypatch.chdir(quick)
    code, stdout, err = cli("calibrate", files["year"], files["study"], "--data", store, "--out", out, "--no-report")
    assert code in (0, 3), err  # 3: outputs written, convergence flagged
    assert "Stored vintage v1" in stdout and "Refit done" in stdout
    run = json.loads((out / "run.json").read_text())
    assert run["vintage"] == "v1" and run["priors"] == str((quick / "models" / "prevalence.toml").resolve())
    for name in ("forecasts.csv", "estimates.csv"):  # the next calibration scores these
        assert (store / "vintages" / "v1" / name).read_bytes() == (out / name).read_bytes()
    fc = pd.read_csv(out / "forecasts.csv")
    tj = fc[(fc.country == "Tajikistan") & (fc.indicator == "registered_users") & (fc.scenario == "baseline")]
    assert tj.year.min() == 2004  # refit on the new figures: the series now ends in 2003
    assert "true_users" in set(fc.indicator)
    after = pd.read_csv(out / "estimates.csv")
    # the same vintage without the new size-estimation study (quick fit: the shift is far larger
    # than the Monte Carlo error of a short chain)
    v1 = load_dataset(store)
    base_mult = load_dataset(store, vintage="base").multipliers
    cfg = replace(load_config(), draws=400, tune=400, chains=2)
    without = estimate(
        Dataset(v1.observations, base_mult, v1.conflicts, store, "v1"), cfg, seed=1, progress=False
    ).estimates

    def tj_users(e):
        return float(
            e[(e.country == "Tajikistan") & (e.target == "users") & (e.method == "synthesis") & (e.year == 2004)][
                "median"
            ].iloc[0]
        )

    print(f"Tajikistan true users 2004: {tj_users(without):,.0f} without the study, {tj_users(after):,.0f} with it")
    assert tj_users(after) > 1.1 * tj_users(without), (tj_users(without), tj_users(after))


def test_new_multiplier_evidence_alone(cli, store, out, files):
    code, stdout, err = cli("calibrate", files["study"], "--data", store, "--out", out, "--no-refit")
    assert code == 0, err
    assert "1 new, 0 restated, 0 revised" in stdout and "No new observations: nothing to score" in stdout
    m = load_dataset(store).multipliers
    row = m[m.method == "capture_recapture"].iloc[0]
    assert (row.country, row.target, row.year, row.value, row.low, row.high) == (
        "Tajikistan",
        "users",
        2004,
        18,
        15,
        22,
    )


def test_the_same_estimate_in_two_files_is_caught_before_writing(cli, store, out, tmp_path):
    row = obs_row("Tajikistan", "estimated_users", 2004, 70000, "estimate")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(f"{OBS_HEADER}\n{row}\n")
    b.write_text(f"{OBS_HEADER}\n{row}\n")
    before = tree_hash(store)
    code, _, err = cli("calibrate", a, b, "--data", store, "--out", out)
    assert code == 2 and f"{b}, row 2: duplicate of {a}, row 2" in err
    assert tree_hash(store) == before


def test_a_broken_previous_forecast_is_an_input_error_naming_file_row_and_column(cli, store, out, files):
    fc = pd.read_csv(out / "forecasts.csv")
    fc["lo_80"] = fc["lo_80"].astype(object)
    fc.loc[2, "lo_80"] = "abc"
    fc.to_csv(out / "forecasts.csv", index=False)
    code, _, err = cli("calibrate", files["year"], "--data", store, "--out", out, "--dry-run")
    assert code == 2, err
    assert f"{out / 'forecasts.csv'}, row 4, column 'lo_80': 'abc' is not a number" in err


def test_an_unreadable_manifest_is_an_input_error(cli, calibrated_store):
    manifest = calibrated_store / "vintages" / "v1" / "manifest.json"
    manifest.write_text("{half a manifest")
    code, _, err = cli("history", "--data", calibrated_store)
    assert code == 2 and f"{manifest}: vintage v1's manifest is unreadable" in err, err


def test_commit_refuses_another_store(store, out, files, tmp_path):
    from forecast.calibration import commit

    cal = prepare([files["year"]], Store(store), out)
    other = tmp_path / "other"
    shutil.copytree(store, other)
    with pytest.raises(ValueError, match="prepared on"):
        commit(cal, Store(other))
    assert not (other / "vintages").exists()


def test_two_official_sources_for_one_year_are_both_kept_and_one_is_scored(cli, store, out, tmp_path):
    """Real figures disagree (Kyrgyz cumulative HIV 2019: 9,800 and 9,757): both stay, one is scored."""
    f = tmp_path / "two.csv"
    f.write_text(
        f"{OBS_HEADER}\n{obs_row('Tajikistan', 'registered_users', 2005, 9610)}\n"
        f"{obs_row('Tajikistan', 'registered_users', 2005, 9700, source='Other agency')}\n"
    )
    code, _, err = cli("calibrate", f, "--data", store, "--out", out, "--no-refit")
    assert code == 0, err
    ch = pd.read_csv(store / "vintages" / "v1" / "changes.csv")
    assert len(ch) == 2 and ch.scored.str.startswith("scored").sum() == 1


def test_a_part_year_or_one_agency_figure_is_kept_but_never_scored_nor_in_a_series(cli, store, out, tmp_path):
    from forecast.scenarios.forecasts import series_table

    header = OBS_HEADER + ",period,scope,precision"
    f = tmp_path / "partial.csv"
    f.write_text(
        f"{header}\n{obs_row('Tajikistan', 'registered_users', 2005, 4000)},H1,,\n"
        f"{obs_row('Tajikistan', 'registered_users', 2005, 3000, source='Agency')},,Khatlon oblast,approximate\n"
    )
    code, _, err = cli("calibrate", f, "--data", store, "--out", out, "--no-refit")
    assert code == 0, err
    ch = pd.read_csv(store / "vintages" / "v1" / "changes.csv", keep_default_na=False)
    assert ch.scored.str.startswith("kept, not scored").all()
    ds = load_dataset(store, vintage="v1")
    assert {"H1"} <= set(ds.observations.period) and "Khatlon oblast" in set(ds.observations.scope)
    hist = series_table(ds)
    tj = hist[(hist.country == "Tajikistan") & (hist.indicator == "registered_users")]
    assert 2005 not in set(tj.year)


CONFLICT_HEADER = "id,topic,country,indicator,year,ref_a,says_a,ref_b,says_b,note"


def test_a_calibration_records_new_conflicts_and_never_rewrites_one(cli, store, out, tmp_path):
    row = "later-c01,cumulative HIV,Kyrgyzstan,registered_hiv_cumulative,2019,https://a,9800,https://b,9757,both kept"
    f = tmp_path / "conflicts.csv"
    f.write_text(f"{CONFLICT_HEADER}\n{row}\n")
    code, _, err = cli("calibrate", f, "--data", store, "--out", out, "--no-refit")
    assert code == 0, err
    conflicts = load_dataset(store).conflicts
    assert "later-c01" in set(conflicts.id) and len(conflicts) == len(load_dataset(store, vintage="base").conflicts) + 1
    g = tmp_path / "conflicts2.csv"
    g.write_text(f"{CONFLICT_HEADER}\n{row.replace('both kept', 'changed')}\n")
    before = tree_hash(store)
    code, _, err = cli("calibrate", g, "--data", store, "--out", out, "--no-refit")
    assert code == 2 and "recorded already" in err and tree_hash(store) == before


def test_manifest_paths_are_relative_to_the_data_folder_and_dates_reproducible(cli, store, out, monkeypatch):
    inside = store / "incoming" / "y.csv"
    inside.parent.mkdir()
    inside.write_text(f"{OBS_HEADER}\n{obs_row('Tajikistan', 'registered_users', 2005, 9610)}\n")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1136073600")  # 2006-01-01
    code, _, err = cli("calibrate", inside, "--data", store, "--out", out, "--no-refit")
    assert code == 0, err
    m = json.loads((store / "vintages" / "v1" / "manifest.json").read_text())
    assert m["files"][0]["path"] == "incoming/y.csv" and m["date"].startswith("2006-01-01")
