"""Short-series models: shapes, non-negativity, widening bands, gaps, and known-truth recovery."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from forecast.timeseries import MODELS, ForecastSamples, TooShortError, arima, ets, fit_forecast, fit_many, registry
from forecast.timeseries.llt import bayes_llt_pymc

ALL = list(MODELS)


@pytest.fixture
def series10() -> pd.Series:
    """Ten years of growing counts, the typical case (a register growing ~12% a year)."""
    values = [100, 120, 150, 160, 210, 230, 260, 300, 310, 360.0]
    return pd.Series(values, index=range(1995, 2005), name="registered_users")


@pytest.fixture(scope="module")
def all_fits() -> dict[str, ForecastSamples]:
    values = [100, 120, 150, 160, 210, 230, 260, 300, 310, 360.0]
    return fit_many(pd.Series(values, index=range(1995, 2005)), 5, ALL, n_samples=2000, seed=1)


@pytest.mark.parametrize("name", ALL)
def test_shapes_years_and_non_negative(all_fits, name):
    fc = all_fits[name]
    assert isinstance(fc, ForecastSamples)
    assert fc.model == name
    assert list(fc.years) == [2005, 2006, 2007, 2008, 2009]
    assert fc.samples.shape == (2000, 5)
    assert np.all(np.isfinite(fc.samples)) and np.all(fc.samples >= 0)


@pytest.mark.parametrize("name", ALL)
def test_bands_widen_with_horizon(all_fits, name):
    summ = all_fits[name].summary()
    for lo, hi in (("lo_80", "hi_80"), ("lo_95", "hi_95")):
        log_width = np.log1p(summ[hi]) - np.log1p(summ[lo])
        assert np.all(np.diff(log_width) > -0.02), (name, log_width.round(3).tolist())
        assert log_width.iloc[-1] > 1.1 * log_width.iloc[0], (name, log_width.round(3).tolist())


def test_summary_and_quantiles_tables(all_fits):
    fc = all_fits["combined"]
    summ = fc.summary()
    assert list(summ.columns) == ["year", "mean", "median", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert np.all(summ["lo_95"] <= summ["lo_80"]) and np.all(summ["lo_80"] <= summ["median"])
    assert np.all(summ["median"] <= summ["hi_80"]) and np.all(summ["hi_80"] <= summ["hi_95"])
    q = fc.quantiles([0.1, 0.5, 0.9])
    assert list(q.columns) == [0.1, 0.5, 0.9] and q.index.name == "year"
    np.testing.assert_allclose(q[0.5].to_numpy(), summ["median"].to_numpy())


def test_declining_series_near_zero_stays_non_negative():
    s = pd.Series([40, 20, 9, 5, 2, 1, 0, 0.0], index=range(2000, 2008))
    for name, fc in fit_many(s, 5, ALL, n_samples=1000).items():
        assert np.all(fc.samples >= 0), name


def test_two_points_raise_too_short_with_clear_message():
    s = pd.Series([5.0, np.nan, 7.0], index=[2002, 2004, 2003])
    s = s.drop(2004)
    with pytest.raises(TooShortError, match=r"needs at least 3 observed years, got 2 \(2002, 2003\)"):
        fit_forecast(s, 3)
    assert issubclass(TooShortError, ValueError)


def test_bad_inputs_are_rejected_at_the_boundary(series10):
    with pytest.raises(ValueError, match="unknown model"):
        fit_forecast(series10, 3, model="prophet")
    with pytest.raises(ValueError, match=">= 0"):
        fit_forecast(series10 * -1, 3)
    with pytest.raises(ValueError, match="horizon"):
        fit_forecast(series10, 0)
    with pytest.raises(ValueError, match="duplicate"):
        fit_forecast(pd.Series([1.0, 2, 3, 4], index=[2000, 2001, 2001, 2002]), 2)


@pytest.mark.parametrize("name", ALL)
def test_gappy_series(name):
    # missing years (2003 absent, 2006 NaN) and a trailing NaN: forecasts start after 2008
    s = pd.Series(
        [30, 36, 45, 60, np.nan, 70, 88, 95, np.nan], index=[2000, 2001, 2002, 2004, 2006, 2005, 2007, 2008, 2009]
    )
    fc = fit_forecast(s, 4, model=name, n_samples=500)
    assert list(fc.years) == [2009, 2010, 2011, 2012]
    assert fc.samples.shape == (500, 4) and np.all(fc.samples >= 0)
    assert 60 < np.median(fc.samples[:, 0]) < 200


@pytest.mark.parametrize("name", ["ets_damped", "arima", "loglinear", "bayes_llt", "theta", "combined"])
def test_known_log_linear_trend_is_inside_95_band(name):
    rng = np.random.default_rng(42)
    t = np.arange(10)
    a, b = np.log(500.0), 0.15
    s = pd.Series(np.exp(a + b * t + rng.normal(0, 0.08, 10)), index=2000 + t)
    fc = fit_forecast(s, 1, model=name)
    truth = np.exp(a + b * 10)
    lo, hi = np.quantile(fc.samples[:, 0], [0.025, 0.975])
    assert lo < truth < hi, (name, lo, truth, hi)


def test_three_points_is_enough(series10):
    short = series10.iloc[:3]
    for name, fc in fit_many(short, 2, ALL, n_samples=500).items():
        assert fc.samples.shape == (500, 2) and np.all(np.isfinite(fc.samples)), name


def test_seed_reproducible_and_combined_is_a_weighted_mixture(series10):
    one = fit_many(series10, 3, ["combined", "arima", "loglinear"], n_samples=4000, seed=7)
    two = fit_forecast(series10, 3, "combined", n_samples=4000, seed=7)
    np.testing.assert_array_equal(one["combined"].samples, two.samples)
    assert not np.array_equal(fit_forecast(series10, 3, "combined", n_samples=4000, seed=8).samples, two.samples)
    # draws split by the stacking weights of the series' length class (10 points: the last row)
    weights = registry.COMBINED_WEIGHTS[registry.length_class(10)]
    sizes = two.diagnostics["sizes"]
    assert sum(sizes) == 4000
    np.testing.assert_allclose(np.array(sizes) / 4000, weights, atol=1 / 4000)
    used = {m for m, w in zip(registry.COMBINED_MEMBERS, weights, strict=True) if w > 0}
    assert set(two.diagnostics["members"]) == used


def test_combined_band_profile_scales_the_pool_around_its_median(series10):
    calibrated = fit_forecast(series10, 5, "combined", n_samples=4000, seed=3)
    raw = fit_forecast(series10, 5, "combined", n_samples=4000, seed=3, bands="none")
    factor = np.array(calibrated.diagnostics["band_scale"])
    rough = registry.roughness(registry.prepare(series10))
    assert calibrated.diagnostics["bands"] == registry.DEFAULT_BANDS
    assert calibrated.diagnostics["roughness"] == pytest.approx(rough)
    np.testing.assert_array_equal(factor, registry.band_scale(10, 5, rough))
    np.testing.assert_array_equal(raw.diagnostics["band_scale"], np.ones(5))
    log_cal, log_raw = np.log1p(calibrated.samples), np.log1p(raw.samples)
    np.testing.assert_allclose(np.median(log_cal, axis=0), np.median(log_raw, axis=0), rtol=1e-9)
    assert np.all(factor > 0)
    spread_cal = np.subtract(*np.quantile(log_cal, [0.9, 0.1], axis=0))
    spread_raw = np.subtract(*np.quantile(log_raw, [0.9, 0.1], axis=0))
    np.testing.assert_allclose(spread_cal, factor * spread_raw, rtol=1e-6)


def test_length_roughness_classes_and_band_profiles():
    assert [registry.length_class(n) for n in (3, 5, 6, 9, 10, 40)] == [0, 0, 1, 1, 2, 2]
    assert [registry.roughness_class(r) for r in (0.0, 0.029, 0.03, 0.099, 0.1, 0.3, 2.0)] == [0, 0, 1, 1, 2, 3, 3]
    assert registry.COMBINED_WEIGHTS.shape == (3, len(registry.COMBINED_MEMBERS))
    np.testing.assert_allclose(registry.COMBINED_WEIGHTS.sum(axis=1), 1.0)
    assert {"default", "m3_tourism", "drug", "none"} <= set(registry.BAND_PROFILES)
    for name, profile in registry.BAND_PROFILES.items():
        assert profile.shape == (3, len(registry._ROUGHNESS_EDGES) + 1, 6), name
        assert np.all(np.isfinite(profile) & (profile > 0.2) & (profile < 2)), name
    # horizons past the calibrated ones reuse the last column
    assert registry.band_scale(4, 8)[-1] == registry.BAND_PROFILES["default"][0, 0, -1]
    assert registry.band_scale(12, 2, 0.5, "drug").tolist() == registry.BAND_PROFILES["drug"][2, 3, :2].tolist()


def test_default_band_profile_is_made_of_the_family_profiles_rows():
    default = registry.BAND_PROFILES["default"]
    for cls, row in enumerate(registry.DEFAULT_BANDS_SOURCE):
        for rough, family in enumerate(row):
            np.testing.assert_array_equal(default[cls, rough], registry.BAND_PROFILES[family][cls, rough])


def test_roughness_of_a_straight_line_is_zero_and_of_a_zigzag_large():
    line = registry.prepare(pd.Series(np.expm1(np.linspace(1, 5, 8)), index=range(2000, 2008)))
    zigzag = registry.prepare(pd.Series([10, 20, 10, 20, 10.0], index=range(2000, 2005)))
    assert registry.roughness(line) == pytest.approx(0.0, abs=1e-9)
    assert registry.roughness(zigzag) > 1.0
    assert registry.roughness(registry.prepare(pd.Series([5, 6, 7.0], index=[2000, 2001, 2002]))) >= 0


def test_unknown_band_profile_lists_the_valid_ones(series10):
    with pytest.raises(ValueError, match="m3_tourism"):
        fit_forecast(series10, 3, "combined", bands="nonsense")


def test_theta_follows_half_the_trend_slope():
    # a clean log-linear trend: Theta's drift is half the slope, so its median lags the trend line
    t = np.arange(12)
    s = pd.Series(np.exp(5 + 0.1 * t), index=2000 + t)
    fc = fit_forecast(s, 3, "theta", n_samples=4000, seed=0)
    growth = np.diff(np.log(np.median(fc.samples, axis=0)))
    np.testing.assert_allclose(growth, 0.05, atol=0.01)
    assert 0.05 <= fc.diagnostics["alpha"] <= 1.0


def test_ets_recursion_and_likelihood_match_statsmodels():
    """The ETS recursion reproduces statsmodels' ETSModel(A, Ad, N) exactly."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(0.05, 0.2, 12)) + 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ETSModel(y, error="add", trend="add", damped_trend=True).fit(disp=False)
    alpha, beta, phi, l0, b0 = fit.params
    X, z, A, c = ets.linear_form(y, alpha, beta, phi)
    errors = z[0] - X[0] @ np.array([l0, b0])
    np.testing.assert_allclose(y - errors, fit.fittedvalues, atol=1e-10)
    np.testing.assert_allclose(A[0] @ np.array([l0, b0]) + c[0], fit.states[-1], atol=1e-10)
    # the grid's best node attains statsmodels' maximum likelihood (within grid resolution)
    _, _, sse = ets.batched_least_squares(*ets.linear_form(y, *ets.SMOOTHING_NODES.T)[:2])
    loglik = -len(y) / 2 * (np.log(2 * np.pi * sse.min() / len(y)) + 1)
    assert loglik > fit.llf - 0.05


def test_arima_aicc_matches_statsmodels():
    """The profiled exact likelihood gives statsmodels' ARIMA AICc (at a hundredth of its time)."""
    from statsmodels.tsa.arima.model import ARIMA

    rng = np.random.default_rng(5)
    y = np.cumsum(rng.normal(0.05, 0.2, 11)) + 5
    for p, drift in arima.CANDIDATES:
        ours = arima.candidate_aicc(y, p, drift)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = float(ARIMA(y, order=(p, 1, 0), trend="t" if drift else "n").fit().aicc)
        assert ours == pytest.approx(ref, abs=0.01), (p, drift)


def test_bayes_llt_grid_posterior_learns_the_noise():
    rng = np.random.default_rng(0)
    quiet = pd.Series(np.exp(6 + 0.05 * np.arange(12) + rng.normal(0, 0.02, 12)), index=range(2000, 2012))
    noisy = pd.Series(np.exp(6 + 0.05 * np.arange(12) + rng.normal(0, 0.5, 12)), index=range(2000, 2012))
    d_quiet = fit_forecast(quiet, 3, "bayes_llt").diagnostics
    d_noisy = fit_forecast(noisy, 3, "bayes_llt").diagnostics
    assert d_noisy["sigma_obs_mean"] + d_noisy["sigma_level_mean"] > 3 * (
        d_quiet["sigma_obs_mean"] + d_quiet["sigma_level_mean"]
    )
    assert d_quiet["ess_nodes"] > 20


@pytest.mark.skipif(
    not os.environ.get("FORECAST_SLOW_TESTS"), reason="PyMC compile + NUTS takes ~10-40 s; set FORECAST_SLOW_TESTS=1"
)
def test_pymc_engine_agrees_with_grid(series10):
    pymc_fc = bayes_llt_pymc(series10, 3, n_samples=2000, seed=1)
    grid_fc = fit_forecast(series10, 3, "bayes_llt", n_samples=2000, seed=1)
    for col in ("median", "hi_95"):
        ratio = pymc_fc.summary()[col] / grid_fc.summary()[col]
        assert np.all(np.abs(np.log(ratio)) < 0.15), (col, ratio.tolist())
