"""Scoring metrics against hand-computed values; rolling-origin output and summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast.evaluation.backtest import (
    BACKTEST_COLUMNS,
    rolling_origin,
    simulated_short_series,
    summarise,
)
from forecast.evaluation.scoring import (
    crps_from_quantiles,
    crps_from_samples,
    interval_hit,
    mase,
    naive_scale,
    pit,
    score_table,
)

# --- scoring ------------------------------------------------------------------------------


def test_crps_of_point_mass_is_absolute_error():
    assert crps_from_samples(np.full(100, 7.0), 10.0) == pytest.approx(3.0)
    assert crps_from_samples(np.full(5, 7.0), 2.5) == pytest.approx(4.5)


def test_crps_two_point_distribution_by_hand():
    # X uniform on {0, 2}, y = 1: E|X-y| = 1, E|X-X'| = 1 -> CRPS = 1 - 0.5 = 0.5
    assert crps_from_samples(np.array([0.0, 2.0]), 1.0) == pytest.approx(0.5)
    # y = 3: E|X-y| = 2, CRPS = 2 - 0.5 = 1.5
    assert crps_from_samples(np.array([0.0, 2.0]), 3.0) == pytest.approx(1.5)


def test_crps_matches_normal_closed_form():
    rng = np.random.default_rng(0)
    draws = rng.normal(0, 1, 200_000)
    y = 0.7
    exact = y * (2 * stats.norm.cdf(y) - 1) + 2 * stats.norm.pdf(y) - 1 / np.sqrt(np.pi)
    assert crps_from_samples(draws, y) == pytest.approx(exact, abs=0.005)
    levels = np.arange(1, 100) / 100
    assert crps_from_quantiles(stats.norm.ppf(levels), levels, y) == pytest.approx(exact, abs=0.01)


def test_crps_vectorised_over_targets():
    s = np.column_stack([np.full(10, 1.0), np.full(10, 5.0)])
    np.testing.assert_allclose(crps_from_samples(s, [2.0, 2.0]), [1.0, 3.0])


def test_mase_by_hand():
    insample = [10, 12, 11, 15]  # naive MAE = (2 + 1 + 4) / 3 = 7/3
    assert naive_scale(insample) == pytest.approx(7 / 3)
    assert mase([16, 18], [15, 15], insample) == pytest.approx(2 / (7 / 3))
    assert np.isnan(mase([1.0], [1.0], [5, 5, 5]))  # flat history: no scale


def test_interval_hit_and_pit():
    draws = np.arange(1, 101, dtype=float)  # 1..100
    assert interval_hit(draws, 50.0, 0.8)
    assert not interval_hit(draws, 95.0, 0.8)
    assert interval_hit(draws, 95.0, 0.95)
    assert pit(draws, 50.5) == pytest.approx(0.5)
    assert pit(draws, 0.0) == 0.0 and pit(draws, 1000.0) == 1.0
    assert pit(np.zeros(10), 0.0) == pytest.approx(0.5)  # ties count half
    with pytest.raises(ValueError):
        interval_hit(draws, 1.0, 80)


def test_score_table_by_hand():
    df = pd.DataFrame(
        {
            "model": ["a", "a"],
            "y": [10.0, 20.0],
            "median": [12.0, 20.0],
            "lo_80": [11.0, 15.0],
            "hi_80": [13.0, 25.0],
            "lo_95": [9.0, 14.0],
            "hi_95": [14.0, 26.0],
            "scale": [2.0, 4.0],
            "crps": [1.0, 2.0],
        }
    )
    out = score_table(df).iloc[0]
    assert out["MASE"] == pytest.approx((2 / 2 + 0 / 4) / 2)
    assert out["CRPS"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert out["coverage_80"] == 0.5 and out["coverage_95"] == 1.0 and out["n_folds"] == 2


# --- backtest -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backtest_df() -> pd.DataFrame:
    s = pd.Series([50, 60, 72, 80, 95, 110, 118, 140.0], index=range(2000, 2008))
    return rolling_origin(s, ["combined", "naive", "drift"], horizons=3, min_train=4, n_samples=400)


def test_rolling_origin_columns_and_folds(backtest_df):
    assert list(backtest_df.columns) == BACKTEST_COLUMNS
    # origins 2003..2006; horizons up to 3 but capped by the data: 3 + 3 + 2 + 1 = 9 per model
    assert set(backtest_df["origin_year"]) == {2003, 2004, 2005, 2006}
    assert (backtest_df.groupby("model").size() == 9).all()
    assert set(backtest_df["model"]) == {"combined", "naive", "drift"}
    assert (backtest_df["year"] - backtest_df["origin_year"] == backtest_df["horizon"]).all()
    row = backtest_df.query("model == 'naive' and origin_year == 2003 and horizon == 1").iloc[0]
    assert row["scale"] == pytest.approx((10 + 12 + 8) / 3)
    assert row["abs_err"] == pytest.approx(abs(row["y"] - row["median"]))
    assert row["covered_95"] == (row["lo_95"] <= row["y"] <= row["hi_95"])
    assert (backtest_df["crps"] >= 0).all()


def test_summarise(backtest_df):
    summ = summarise(backtest_df)
    assert list(summ.columns) == ["model", "MASE", "CRPS", "CRPS_raw", "coverage_80", "coverage_95", "n_folds"]
    assert set(summ["model"]) == {"combined", "naive", "drift"}
    per_h = summarise(backtest_df, by_horizon=True)
    assert set(per_h["horizon"]) == {1, 2, 3}
    assert per_h["n_folds"].sum() == len(backtest_df)


def test_rolling_origin_passes_the_band_profile():
    s = pd.Series([50, 60, 72, 80, 95, 110, 118, 140.0], index=range(2000, 2008))
    default = rolling_origin(s, "combined", horizons=2, min_train=5, n_samples=400)
    raw = rolling_origin(s, "combined", horizons=2, min_train=5, n_samples=400, bands="none")
    np.testing.assert_allclose(default["median"], raw["median"], rtol=1e-4)  # even n: mean of 2 middle
    assert not np.allclose(default["hi_95"] - default["lo_95"], raw["hi_95"] - raw["lo_95"])


def test_rolling_origin_with_gaps_and_too_short():
    s = pd.Series([10, 12, np.nan, 15, 18, 21.0], index=[2000, 2001, 2002, 2004, 2005, 2007])
    df = rolling_origin(s, "naive", horizons=2, min_train=3, n_samples=200)
    # observed years 2000, 2001, 2004, 2005, 2007: origins 2004 (-> 2005), 2005 (-> 2007)
    assert sorted(zip(df["origin_year"], df["year"], strict=True)) == [(2004, 2005), (2005, 2007)]
    tiny = rolling_origin(s.iloc[:3], "naive", min_train=3)
    assert tiny.empty and list(tiny.columns) == BACKTEST_COLUMNS


def test_simulated_short_series_look_like_the_real_ones():
    series = simulated_short_series(200, np.random.default_rng(0))
    assert len(series) == 200
    lengths = [len(s) for s in series]
    assert min(lengths) >= 4 and max(lengths) <= 15
    assert any(np.diff(s.index).max() > 1 for s in series)  # some have gaps
    firsts = np.array([s.iloc[0] for s in series])
    assert np.all(np.concatenate([s.to_numpy() for s in series]) >= 0)
    assert firsts.min() < 30 and firsts.max() > 10_000
