"""The prevalence stage: multiplier arithmetic, the synthesis on the embedded data, reproducibility,
the conflict flag, calibration against simulated truth, and config errors.

The model is prepared once per session (fixture ``compiled``) and refitted with ``with_data``.
Slow tests are marked ``slow`` but run by default (they are part of CI); the whole file takes
about a minute on two cores (tests/test_density.py checks the sampled density against PyMC).
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from click.testing import CliRunner

from forecast.cli import main
from forecast.core.diagnostics import ESS_MIN, RHAT_MAX
from forecast.core.errors import DataError
from forecast.data.dataset import load_dataset
from forecast.data.vocab import REGION
from forecast.prevalence import estimate
from forecast.prevalence.config import DEFAULT_PRIORS, load_config
from forecast.prevalence.conflict import _pointwise, conflict_table
from forecast.prevalence.evidence import REGISTER_INDICATORS
from forecast.prevalence.inputs import bound_sign, evidence_index, log_ceiling_index, prepare
from forecast.prevalence.model import EVIDENCE_NODES, LOGISTIC_SCALE, build_model, evidence_likelihood, evidence_rows
from forecast.prevalence.multiplier import multiplier_estimates
from forecast.prevalence.projection import project
from forecast.prevalence.sampler import compile_model
from forecast.prevalence.simulate import (
    calibration_table,
    draw_prior,
    inject_bias,
    inject_method_bias,
    refit,
    reported_mask,
    simulate,
    simulate_figures,
    with_figures,
)
from tests.conftest import with_pwid_link

# Sampler settings for refits where only the shape of the answer matters (fast, still 4 chains),
# and for the reproducibility check, where only the bytes matter.
QUICK = {"draws": 300, "tune": 300}
TINY = {"draws": 100, "tune": 100, "chains": 2}
BIAS_ITEM, BIAS_FACTOR, BIAS_SEED = "seed001-m01", 5.0, 7
SBC_DATASETS, SBC_SEED = 6, 11


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def dataset():
    """The embedded data to 2025: what `forecast run` fits by default."""
    return load_dataset()


@pytest.fixture(scope="session")
def config():
    return load_config()


@pytest.fixture(scope="session")
def inputs(dataset, config):
    return prepare(dataset, config)


@pytest.fixture(scope="session")
def model(inputs):
    return build_model(inputs)


@pytest.fixture(scope="session")
def compiled(inputs):
    """The synthesis ready for nutpie (its numba code comes from the disk cache after the first run)."""
    return compile_model(inputs)


@pytest.fixture(scope="session")
def quick_config(config):
    return dataclasses.replace(config, **QUICK)


@pytest.fixture(scope="session")
def embedded(dataset, config, compiled):
    """The synthesis of the embedded data with the default settings of models/prevalence.toml."""
    return estimate(dataset, config, seed=1, progress=False, compiled=compiled)


def _row(table: pd.DataFrame, **where) -> pd.Series:
    sel = table
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, f"expected one row for {where}, got {len(sel)}"
    return sel.iloc[0]


# ---------------------------------------------------------------------------------------------
# the multiplier method


def test_multiplier_twelve_times_tajik_register_2001(dataset, config):
    m = multiplier_estimates(dataset, config)
    r = _row(m, method="multiplier:seed000-m01")
    assert (r.country, r.target, r.year, r.registered) == ("Tajikistan", "users", 2001, 6243)
    assert r["median"] == pytest.approx(12 * 6243)  # 74,916: Engvall's "approximately 75,000"
    assert r.lo_95 < 74_916 < r.hi_95


def test_multiplier_who_one_in_fifty(dataset, config):
    r = _row(multiplier_estimates(dataset, config), method="multiplier:seed000-m02")
    assert r["median"] == pytest.approx(312_150)  # 50 x 6,243: "about 312,000"


def test_multiplier_tajik_hiv_twenty_times(dataset, config):
    r = _row(multiplier_estimates(dataset, config), method="multiplier:seed000-m03")
    assert (r.target, r.year, r.registered) == ("plhiv", 2004, 152)
    assert r["median"] == pytest.approx(3_040)


def test_multiplier_band_widens_with_the_stated_range(dataset, config):
    """A point multiplier gets point_log_sd; a stated range sets the spread, wider range -> wider band."""
    widths = []
    for low, high in ((11, 13), (10, 15), (6, 24), (3, 48)):
        mult = dataset.multipliers.copy()
        hit = mult.id == "seed000-m01"
        mult.loc[hit, ["value", "low", "high"]] = [12.0, low, high]
        r = _row(
            multiplier_estimates(dataclasses.replace(dataset, multipliers=mult), config),
            method="multiplier:seed000-m01",
        )
        assert r["median"] == pytest.approx(12 * 6243)
        assert r.lo_95 < r.lo_80 < r["median"] < r.hi_80 < r.hi_95
        widths.append(math.log(r.hi_95 / r.lo_95))
    assert widths == sorted(widths) and widths[0] < widths[-1] / 5
    point = _row(multiplier_estimates(dataset, config), method="multiplier:seed000-m02")
    assert math.log(point.hi_95 / point.lo_95) == pytest.approx(2 * 1.959964 * config.point_log_sd, rel=1e-4)


# ---------------------------------------------------------------------------------------------
# the synthesis on the embedded data


def _ceilings_and_floors(inputs):
    """{(target, country, year): (floor the data give, stated ceiling)}: the register (users) or the
    largest of living diagnosed and people on ART (PLHIV) that year; the population x the share
    aged 15-64 x the cited maximum (models/prevalence.toml [ceilings])."""
    ceiling = inputs.ceiling()
    ev = inputs.evidence
    out = {}
    for k, target in enumerate(inputs.targets):
        for c, country in enumerate(inputs.countries):
            for t, year in enumerate(inputs.years):
                mine = ev[(ev.target == target) & (ev.country == country) & (ev.year == year)]
                if target == "users":
                    floor = inputs.floor[k, c, t]
                else:
                    living = mine[mine.quantity == "living"]
                    floor = float(np.exp(living.log_mu).max()) if len(living) else 0.0
                out[(target, country, int(year))] = (floor, ceiling[k, c, t])
    return out


@pytest.mark.slow
def test_no_estimate_lies_above_its_ceiling_or_below_its_floor(embedded):
    """Every synthesis row: the 95% band between the data's floor and the stated ceiling."""
    bounds = _ceilings_and_floors(embedded.inputs)
    synth = embedded.estimates[(embedded.estimates.method == "synthesis") & (embedded.estimates.country != REGION)]
    assert len(synth) > 300
    for r in synth.itertuples():
        floor, ceiling = bounds[(r.target, r.country, int(r.year))]
        # the stated ceiling is at the population's point value; the model draws the population
        # (World Bank figures, log-sd 0.02), so its own ceiling may lie up to ~4% higher
        assert r.hi_95 <= ceiling * 1.04, (r.target, r.country, r.year, r.hi_95, ceiling)
        assert r.lo_95 >= floor * 0.999, (r.target, r.country, r.year, r.lo_95, floor)


@pytest.mark.slow
def test_rates_per_1000_aged_15_64(embedded):
    """estimates.csv gives each synthesis cell per 1,000 aged 15-64 (the population times the
    TOML's adult share), the rate the report's page 1 shows: 1/(100 x share) of the rate per 100,000."""
    synth = embedded.estimates[embedded.estimates.method == "synthesis"]
    share = embedded.inputs.config.adult_share
    for q in ("median", "lo_80", "hi_80"):
        assert synth[f"per_1000_15_64_{q}"].notna().all()
    ratio = synth.per_100k_median / synth.per_1000_15_64_median
    assert np.allclose(ratio, 100 * share)
    assert (synth.per_1000_15_64_lo_80 <= synth.per_1000_15_64_median).all()
    assert (synth.per_1000_15_64_median <= synth.per_1000_15_64_hi_80).all()


@pytest.mark.slow
def test_projected_true_counts_stay_below_the_ceiling(embedded):
    """The synthesis carried forward (forecasts of true numbers) keeps the model's bounds."""
    from forecast.prevalence.projection import project

    ceiling = embedded.inputs.ceiling()
    for k, target in enumerate(embedded.inputs.targets):
        paths = project(embedded.idata, embedded.inputs, target, 5, 2000, np.random.default_rng(3))
        for c, country in enumerate(embedded.inputs.countries):
            p, level, cap = paths[country]
            assert (p <= cap[:, None]).all() and (level <= cap[:, None]).all()
            assert np.isfinite(p).all() and (p > 0).all()
            # the ceiling of the last year, scaled by the population draw: never above 1.2x the stated one
            assert np.quantile(p, 0.975) <= ceiling[k, c, -1] * 1.2, (target, country)


def test_the_projection_carries_the_take_off_curve_on(inputs):
    """PLHIV after the grid: new infections follow the incidence curve of model._plhiv, so a take-off
    placed in the horizon (here in 2027, a rise of 3 on the logit scale) grows the stock faster
    than the same draws without it, and by the curve's own arithmetic."""
    import arviz as az

    n_c, n_t, t_ref = len(inputs.countries), len(inputs.years), 2001 - int(inputs.years[0])
    k = inputs.targets.index("plhiv")
    pop = inputs.population.set_index("country").loc[list(inputs.countries)].population.to_numpy(float)
    cap = np.exp(np.log(pop) + log_ceiling_index(inputs)[k, :, -1])

    def posterior(rise: float):
        one = {
            "log_true": np.log(np.broadcast_to(cap * 0.01, (len(inputs.targets), n_t, n_c)).transpose(0, 2, 1)),
            "log_population": np.log(pop),
            "plhiv_incidence": np.full(n_c, -6.0),
            "plhiv_incidence_walk_sd": 1e-9,
            "plhiv_incidence_walk_z": np.zeros((n_c, n_t)),
            "plhiv_mortality": 0.04,
            "plhiv_onset_mean": 2027.0 - 2001,
            "plhiv_onset_country_sd": 1.0,
            "plhiv_onset": np.full(n_c, 2027.0 - 2001),
            "plhiv_rise_mean": rise,
            "plhiv_rise_country_sd": 1.0,
            "plhiv_rise": np.full(n_c, rise),
        }
        return az.from_dict(posterior={name: np.asarray(v)[None, None] for name, v in one.items()})

    paths = {}
    for rise in (0.0, 3.0):
        out = project(posterior(rise), inputs, "plhiv", 5, 4, np.random.default_rng(0))
        paths[rise] = np.stack([out[c][0] for c in inputs.countries], axis=1)  # (draw, country, year ahead)
    assert (paths[3.0][..., -1] > paths[0.0][..., -1] * 1.5).all()
    # the first year ahead (2026), by hand: the stock survives and infections take their share of the room
    width = inputs.config.priors["plhiv"].incidence_rise_years
    ahead = n_t - t_ref  # 2026 in years from 2001
    iota = -6.0 + 3.0 * (1 / (1 + math.exp(-(ahead - 26.0) / width)) - 1 / (1 + math.exp(26.0 / width)))
    survivors = cap * 0.01 * 0.96
    expected = survivors + (cap - survivors) / (1 + math.exp(-iota))
    np.testing.assert_allclose(paths[3.0][0, :, 0], expected, rtol=1e-9)


@pytest.mark.slow
def test_scenario_forecasts_of_true_counts_stay_below_the_ceiling(embedded):
    """Every scenario's forecast of a true count (the forecasts.csv rows true_users / true_plhiv):
    hi_95 at most the last year's ceiling (the population drawn: x1.04), and, where the scenario does
    not make the count fall, lo_95 at least the last year's floor. A scenario's rate laid over the
    synthesis on the log scale took true users' hi_95 to 3.35% of those aged 15-64 by 2030 under the
    pessimistic scenario, above the 3% ceiling (5% of users x the 15-64 share)."""
    from forecast.scenarios.definitions import load_scenarios
    from forecast.scenarios.forecasts import TRUE_INDICATORS, forecast_paths, true_count_paths

    scenarios = load_scenarios()
    bounds = _ceilings_and_floors(embedded.inputs)
    last_year = int(embedded.inputs.years[-1])
    checked = 0
    for target, indicator in TRUE_INDICATORS.items():
        for country, mp in true_count_paths(embedded, target, 5, seed=1).items():
            floor, ceiling = bounds[(target, country, last_year)]
            for name, paths in forecast_paths(mp, scenarios, indicator, seed=1).items():
                lo, hi = np.quantile(paths, [0.025, 0.975], axis=0)
                assert (hi <= ceiling * 1.04).all(), (target, country, name, hi, ceiling)
                growth = scenarios[name].rule(indicator)[1].growth_pct
                if growth is None or min(growth) >= 0:
                    assert (lo >= floor * 0.999).all(), (target, country, name, lo, floor)
                checked += 1
    assert checked == 2 * len(embedded.inputs.countries) * len(scenarios)


@pytest.mark.slow
def test_synthesis_diagnostics_pass(embedded):
    d = embedded.diagnostics
    assert embedded.verdict.passed, embedded.verdict.messages
    assert (d.r_hat_max <= RHAT_MAX).all() and (d.ess_bulk_min >= ESS_MIN).all() and (d.ess_tail_min >= ESS_MIN).all()
    assert (d.divergences == 0).all()
    assert {"log_true", "log_detection", "between_source_sd"} <= set(d.variable)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["users", "plhiv"])
def test_turkmenistan_without_data_gets_a_wider_band(embedded, target):
    est = embedded.estimates[(embedded.estimates.method == "synthesis") & (embedded.estimates.target == target)]
    years = sorted(embedded.inputs.evidence.query("target == @target and country == 'Tajikistan'").year.unique())
    assert years
    for year in years:
        tkm = _row(est, country="Turkmenistan", year=year)
        tjk = _row(est, country="Tajikistan", year=year)
        assert 0 < tkm.lo_95 < tkm["median"] < tkm.hi_95 and np.isfinite(tkm.hi_95)
        assert math.log(tkm.hi_95 / tkm.lo_95) > math.log(tjk.hi_95 / tjk.lo_95), (target, year)


@pytest.mark.slow
def test_a_generic_norm_weighs_far_less_than_a_field_study(embedded):
    """Bias by method: each figure's spread around the truth is its own sd, the between-source sd
    and its method's bias sd. The WHO "1 in 50" norm then carries under a quarter of the weight
    (inverse variance) of the UNODC field sampling, and the conflict table names both methods."""
    c, cfg = embedded.conflicts, embedded.inputs.config
    norm, field = _row(c, evidence_id="seed000-m02"), _row(c, evidence_id="seed000-m01")
    assert (norm.method, field.method) == ("norm", "field_sampling")
    ev = embedded.inputs.evidence.set_index("evidence_id")
    tau = float(np.median(embedded.idata.posterior["between_source_sd"]))

    def variance(item, method):
        return ev.loc[item, "log_sd"] ** 2 + tau**2 + cfg.method_bias[method][1] ** 2

    assert variance("seed000-m01", "field_sampling") / variance("seed000-m02", "norm") < 0.25


# ---------------------------------------------------------------------------------------------
# reproducibility


@pytest.mark.slow
def test_same_seed_same_estimates_different_seed_different(dataset, config, compiled, tmp_path):
    tiny = dataclasses.replace(config, **TINY)

    def run(seed: int, folder: str) -> bytes:
        result = estimate(dataset, tiny, seed=seed, progress=False, compiled=compiled)
        result.write(tmp_path / folder)
        return (tmp_path / folder / "estimates.csv").read_bytes()

    first, again, other = run(5, "a"), run(5, "b"), run(6, "c")
    assert first == again
    assert first != other


# ---------------------------------------------------------------------------------------------
# validation against simulated truth


@pytest.fixture(scope="session")
def simulated(inputs, model):
    return simulate(inputs, n=SBC_DATASETS, seed=SBC_SEED, model=model)


def test_simulated_data_keep_the_layout_and_the_bias_lands_on_one_item(inputs, simulated):
    sim = simulated.datasets[0]
    ev = sim.inputs.evidence
    assert ev.evidence_id.tolist() == inputs.evidence.evidence_id.tolist()
    assert np.allclose(ev.log_sd, inputs.evidence.log_sd)
    assert not np.allclose(sim.log_mu, inputs.evidence.log_mu)
    assert sim.truth.shape == (len(inputs.targets), len(inputs.countries), len(inputs.years))
    biased = inject_bias(sim, BIAS_ITEM, 4.0)
    shift = biased.log_mu - sim.log_mu
    assert shift[ev.evidence_id == BIAS_ITEM] == pytest.approx(math.log(4.0))
    assert np.count_nonzero(shift) == 1
    assert simulated.attempted >= SBC_DATASETS
    with pytest.raises(KeyError, match="no single evidence item"):
        inject_bias(sim, "nonexistent", 2.0)


def test_a_planted_method_bias_moves_every_figure_of_that_method_and_nothing_else(simulated):
    sim = simulated.datasets[0]
    ev = sim.inputs.evidence
    j = sim.inputs.methods.index("rapid_assessment")
    drawn = float(sim.latent["method_bias"][j])
    planted = inject_method_bias(sim, "rapid_assessment", 2.5)
    shift = planted.log_mu - sim.log_mu
    mine = (ev.method == "rapid_assessment").to_numpy()
    assert mine.sum() == 6
    np.testing.assert_allclose(shift[mine], 2.5 - drawn)
    assert not shift[~mine].any()
    assert planted.latent["method_bias"][j] == 2.5
    others = np.arange(len(sim.inputs.methods)) != j
    np.testing.assert_array_equal(planted.latent["method_bias"][others], sim.latent["method_bias"][others])
    np.testing.assert_allclose(planted.latent["evidence_model"] - sim.latent["evidence_model"], shift)
    with pytest.raises(KeyError, match="no method 'census'"):
        inject_method_bias(sim, "census", 1.0)


@pytest.mark.slow
def test_simulated_bounds_state_the_direction_the_hidden_figure_falls(inputs, model):
    """An "at least X" source is censored data: the model scores P(V >= X) with a logistic CDF, so
    the simulator keeps X and says "at least" with exactly that probability (else "at most").
    The model value and scale are fixed by intervention (pm.do) on the model the simulator draws from."""
    ev = inputs.evidence
    item = int(np.flatnonzero((ev.bound == "lower").to_numpy())[0])
    threshold, scale = ev.log_mu.iloc[item], 0.1
    for seed, margin in enumerate((-1.0, 0.0, 0.5)):  # model value minus X, in units of the scale
        mu = ev.log_mu.to_numpy(float).copy()
        mu[item] = threshold + margin * scale
        fixed = pm.do(model, {"evidence_model": mu, "evidence_scale": np.full(len(ev), scale)})
        draws = draw_prior(inputs, 4000, seed, fixed)
        said_at_least = []
        for i in range(4000):
            figure, bound = simulate_figures(inputs, {name: v[i] for name, v in draws.items()})
            assert figure[item] == threshold
            said_at_least.append(bound[item] == "lower")
        assert np.mean(said_at_least) == pytest.approx(1 / (1 + math.exp(-LOGISTIC_SCALE * margin)), abs=0.025)
    flipped = with_figures(inputs, ev.log_mu.to_numpy(float), np.where(np.arange(len(ev)) == item, "upper", ev.bound))
    row = flipped.evidence.iloc[item]
    assert row.bound == "upper" and row.high == pytest.approx(math.exp(threshold)) and pd.isna(row.low)


@pytest.mark.slow
def test_biased_source_is_flagged_and_the_same_source_unbiased_is_not(inputs, model, compiled, quick_config):
    sim = simulate(inputs, n=1, seed=BIAS_SEED, model=model).datasets[0]
    biased = inject_bias(sim, BIAS_ITEM, BIAS_FACTOR)
    tails = {}
    for name, data in (("unbiased", sim), ("biased", biased)):
        idata = refit(data, compiled, seed=3, config=quick_config)
        tails[name] = _row(conflict_table(idata, data.inputs), evidence_id=BIAS_ITEM)
    assert "CONFLICT" in tails["biased"].flag and tails["biased"].tail_probability < 0.05
    assert "CONFLICT" not in tails["unbiased"].flag and tails["unbiased"].tail_probability >= 0.05
    # the range the rest of the evidence expects holds the unbiased figure, not the biased one, and
    # (leaving the item out, it does not depend on the figure) the unbiased fit already said so
    figure = math.exp(sim.inputs.evidence.set_index("evidence_id").log_mu[BIAS_ITEM])
    unbiased, biased_row = tails["unbiased"], tails["biased"]
    assert unbiased.expected_low < figure < unbiased.expected_high
    assert not biased_row.expected_low < figure * BIAS_FACTOR < biased_row.expected_high
    assert figure * BIAS_FACTOR > unbiased.expected_high


@pytest.mark.slow
def test_posterior_intervals_cover_the_simulated_truth(simulated, compiled, quick_config):
    """Reduced SBC: a band that is too narrow (or far too wide) fails this; benchmarks/sbc.py does 100."""
    cells = pd.concat(
        [
            calibration_table(refit(sim, compiled, seed=i, config=quick_config), sim).assign(dataset=i)
            for i, sim in enumerate(simulated.datasets)
        ]
    )
    assert len(cells) == SBC_DATASETS * reported_mask(simulated.datasets[0].inputs).sum()
    cover90, cover50 = cells.covered_90.mean(), cells.covered_50.mean()
    assert 0.70 <= cover90 <= 1.0, f"90% intervals cover {cover90:.0%} of simulated truths"
    assert 0.25 <= cover50 <= 0.80, f"50% intervals cover {cover50:.0%} of simulated truths"
    per_dataset = cells.groupby("dataset").covered_90.mean()
    assert per_dataset.min() >= 0.4, per_dataset.to_dict()


def test_loo_pointwise_log_likelihood_is_the_models_own(inputs, model):
    """The conflict table's pointwise log-likelihood is PyMC's, observed node by observed node
    (pm.compute_log_likelihood), bounds included; here at prior draws of the model."""
    idata = pm.sample_prior_predictive(draws=40, model=model, random_seed=3)
    idata.add_groups(posterior=idata.prior)
    ll, cdf = _pointwise(idata, inputs)
    reference = pm.compute_log_likelihood(idata, model=model, var_names=list(EVIDENCE_NODES), progressbar=False)
    rows = evidence_rows(evidence_index(inputs.evidence, inputs)["likelihood"])
    assert set(rows) == set(EVIDENCE_NODES)  # the embedded data have every kind of evidence
    for node, r in rows.items():
        expected = reference.log_likelihood[node].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()
        np.testing.assert_allclose(ll[:, r], expected, rtol=1e-10, atol=1e-12, err_msg=node)
    # the CDF of a point figure is PyMC's StudentT CDF; that of a bound, its likelihood
    r = rows["estimates"]
    mu, scale = (
        idata.posterior[v].stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()[:, r]
        for v in ("evidence_model", "evidence_scale")
    )
    dist = pm.StudentT.dist(nu=float(inputs.config.student_t_nu), mu=mu, sigma=scale)
    expected_cdf = np.exp(pm.logcdf(dist, inputs.evidence.log_mu.to_numpy(float)[r]).eval())
    np.testing.assert_allclose(cdf[:, r], expected_cdf, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(cdf[:, rows["bounds"]], np.exp(ll[:, rows["bounds"]]), rtol=1e-12)
    assert ((0 <= cdf) & (cdf <= 1)).all()


def test_no_evidence_for_a_target_is_a_data_error_naming_the_folder(dataset, config):
    obs = dataset.observations
    ds = dataclasses.replace(
        dataset,
        observations=obs[~obs.indicator.isin([*REGISTER_INDICATORS["plhiv"], "estimated_plhiv"])],
        multipliers=dataset.multipliers[dataset.multipliers.target != "plhiv"],
    )
    with pytest.raises(DataError, match=f"{re.escape(str(dataset.folder))}: no evidence at all for target 'plhiv'"):
        prepare(ds, config)


# ---------------------------------------------------------------------------------------------
# bad priors are rejected by the CLI with one line naming the file and the key


def _bad(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} no longer in {DEFAULT_PRIORS.name}: update the test"
    return text.replace(old, new, 1)


DEFAULT_TEXT = DEFAULT_PRIORS.read_text(encoding="utf-8")
DEFAULT_DRAWS = re.search(r"^draws = \d+", DEFAULT_TEXT, re.M).group(0)  # the default's line


BAD_PRIORS = {
    "negative sd": (
        _bad(DEFAULT_TEXT, "slope_mean = { mean = 0.0, sd = 0.1 }", "slope_mean = { mean = 0.0, sd = -0.1 }"),
        "users.slope_mean.sd",
        "must be > 0",
    ),
    "missing table": (
        re.sub(r"\[sampler\].*?(?=\[evidence\])", "", DEFAULT_TEXT, count=1, flags=re.S),
        "sampler",
        "missing table",
    ),
    "unknown key": (_bad(DEFAULT_TEXT, "[users]\n", "[users]\ncolour = 1\n"), "users.colour", "unknown key"),
    "not TOML": ("[sampler\ndraws = = 3\n", None, "not valid TOML"),
    "unknown country in a detection shock": (
        _bad(DEFAULT_TEXT, 'country = "Tajikistan"', 'country = "Narnia"'),
        "plhiv.detection_shocks[0].country",
        "unknown country 'Narnia'",
    ),
    "non-number": (_bad(DEFAULT_TEXT, DEFAULT_DRAWS, 'draws = "many"'), "sampler.draws", "must be a number"),
    "PLHIV-PWID link: a share above 1": (
        _bad(with_pwid_link(DEFAULT_TEXT), "injecting_share_min = 0.29", "injecting_share_min = 29"),
        "plhiv.pwid_link[1].injecting_share_min",
        "29",
    ),
    "PLHIV-PWID link: a year twice": (
        _bad(with_pwid_link(DEFAULT_TEXT), "year = 2022", "year = 2011"),
        "plhiv.pwid_link",
        "a year is given twice",
    ),
    "scale prior median zero": (
        _bad(
            DEFAULT_TEXT,
            "incidence_walk_sd = { median = 0.2, log_sd = 0.6 }",
            "incidence_walk_sd = { median = 0, log_sd = 0.6 }",
        ),
        "plhiv.incidence_walk_sd.median",
        "must be > 0",
    ),
    "take-off width not a number": (
        _bad(DEFAULT_TEXT, "incidence_rise_years = 1.5", 'incidence_rise_years = "fast"'),
        "plhiv.incidence_rise_years",
        "must be a number",
    ),
    "take-off width missing": (
        _bad(DEFAULT_TEXT, "incidence_rise_years = 1.5\n", ""),
        "plhiv.incidence_rise_years",
        "missing",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PRIORS))
def test_bad_priors_exit_2_with_one_line_naming_file_and_key(case, tmp_path):
    text, key, problem = BAD_PRIORS[case]
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["estimate", "--priors", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert str(path) in lines[0] and problem in lines[0]
    if key:
        assert f"'{key}'" in lines[0] or f"{key}:" in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def test_missing_priors_file_exits_2(tmp_path):
    path = tmp_path / "nope.toml"
    result = CliRunner().invoke(main, ["estimate", "--priors", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {path}: file not found"


def test_default_priors_are_valid():
    cfg = load_config()
    assert cfg.chains >= 1 and cfg.priors["plhiv"].detection_shocks[0]["country"] == "Tajikistan"


# ---------------------------------------------------------------------------------------------
# bounds are bounds; evidence strength


@pytest.mark.parametrize(
    ("evidence_id", "country", "target", "year", "figure"),
    [
        ("seed000-m01", "Tajikistan", "users", 2001, 12),
        (None, "Tajikistan", "users", 2003, 100_000),
        (None, "Tajikistan", "plhiv", 2002, 2_000),
    ],
)
def test_at_least_figures_enter_as_lower_bounds(evidence_id, country, target, year, figure):
    """'at least twelve times' (seed000-m01), Tajikistan 2003 '>= 100,000' and Tajik PLHIV 2002
    'over 2,000' are stored as value = low; they are censored evidence, never point figures."""
    from forecast.prevalence.inputs import prepare

    ev = prepare(load_dataset(vintage="base")).evidence
    rows = ev[(ev.country == country) & (ev.target == target) & (ev.year == year)]
    rows = rows[rows.evidence_id == evidence_id] if evidence_id else rows[(rows.quantity == "size")]
    rows = rows[rows.value == figure]
    assert len(rows) == 1 and rows.bound.iloc[0] == "lower"


def test_a_synthetic_bound_in_either_convention_is_a_bound():
    from forecast.prevalence.config import load_config
    from forecast.prevalence.evidence import log_spread

    cfg = load_config()
    nan = float("nan")
    assert log_spread(nan, 500.0, nan, cfg, 0.1)[0] == "lower"  # low only
    assert log_spread(500.0, 500.0, nan, cfg, 0.1)[0] == "lower"  # value = low, no high
    assert log_spread(500.0, nan, 500.0, cfg, 0.1)[0] == "upper"  # value = high, no low
    assert log_spread(500.0, 400.0, nan, cfg, 0.1)[0] == "point"  # a point with a one-sided note stays a point
    assert log_spread(500.0, 400.0, 600.0, cfg, 0.1)[0] == "point"


def test_evidence_strength_of_a_cell():
    from forecast.prevalence.inputs import prepare
    from forecast.prevalence.strength import OWN, POOLING, PRIOR, cell_strength, evidence_strength

    ev = prepare(load_dataset(vintage="base")).evidence
    assert cell_strength(ev, "Tajikistan", "users", 2001) == OWN  # UNODC field sampling
    assert cell_strength(ev, "Turkmenistan", "users", 2003) == PRIOR  # no Turkmen figure at all
    assert cell_strength(ev, "Turkmenistan", "plhiv", 2004) == PRIOR
    # its cumulative 17,602 of 2002 is excluded as a typo; its HIV cases among injectors (2002) remain
    assert cell_strength(ev, "Uzbekistan", "plhiv", 2004) == POOLING
    assert cell_strength(ev, "Kazakhstan", "plhiv", 2004) == POOLING  # registers, no multiplier of its own
    cells = pd.DataFrame({"country": ["Central Asia"], "target": ["users"], "year": [2003]})
    assert evidence_strength(ev, cells, ["Tajikistan", "Turkmenistan"]).iloc[0] == PRIOR  # the weakest part


@pytest.mark.slow
def test_the_three_at_least_figures_enter_as_censored_bounds(embedded):
    """'At least twelve times' (2001), 'at least 100,000' (2003) and Tajik PLHIV 'over 2,000' (2002)
    are lower bounds in the evidence the synthesis used, each with its method; and the synthesis
    does not sit on them as it would on a point: the expert figure carries the upward lean the
    literature reports for expert estimates (its method bias stays positive)."""
    ev = embedded.inputs.evidence
    for target, quantity, year, value in (
        ("users", "multiplier", 2001, 12),
        ("users", "size", 2003, 100_000),
        ("plhiv", "size", 2002, 2_000),
    ):
        row = ev[(ev.target == target) & (ev.quantity == quantity) & (ev.year == year) & (ev.country == "Tajikistan")]
        row = row[np.isclose(np.exp(row.log_mu), value)]
        assert len(row) == 1 and row.bound.iloc[0] == "lower", (target, quantity, year)
    bias = embedded.idata.posterior["method_bias"].sel(method="expert_judgement").to_numpy()
    assert np.median(bias) > 0
    est = embedded.estimates
    synth = est[est.method == "synthesis"]
    assert set(synth.evidence_strength) <= {"own data", "pooling", "prior only"}
    assert (synth[synth.country == "Turkmenistan"].evidence_strength == "prior only").all()


def test_a_zero_figure_is_left_out_with_a_reason_not_a_crash(tmp_path):
    import shutil

    from forecast.prevalence.inputs import prepare
    from tests.conftest import BASE_ONLY, DATA

    data = tmp_path / "data"
    shutil.copytree(DATA, data, ignore=BASE_ONLY)
    with open(data / "observations.csv", "a", encoding="utf-8") as fh:
        fh.write("Kyrgyzstan,registered_users,2004,0,,,official,Test zero,,\n")
    inputs = prepare(load_dataset(data))
    lo = inputs.left_out
    assert (lo.source == "Test zero").any() and lo[lo.source == "Test zero"].reason.str.contains("zero").all()


# ---------------------------------------------------------------------------------------------
# the PLHIV <- people who inject drugs link (off by default: models/prevalence.toml says why)


def test_the_pwid_link_is_off_by_default_and_on_when_uncommented(dataset, config, linked):
    assert not (prepare(dataset, config).evidence.quantity == "pwid_link").any()
    anchors = linked.config.priors["plhiv"].pwid_link
    assert [a["year"] for a in anchors] == [2001, 2011, 2022]


def test_pwid_link_rows_only_where_a_country_counts_its_own_plhiv(linked):
    """One "at most" row per country-year with a PLHIV count; none for Turkmenistan (no count),
    none before the first anchor; the ratio is prevalence max / injecting share min, interpolated
    on the log scale and flat after the last anchor."""
    ev = linked.evidence
    link = ev[ev.quantity == "pwid_link"]
    counts = ev[(ev.target == "plhiv") & ev.quantity.isin(["register", "new", "living", "floor"]) & (ev.year >= 2001)]
    counts = counts[counts.country.isin(linked.countries)]
    assert set(zip(link.country, link.year, strict=True)) == set(zip(counts.country, counts.year, strict=True))
    assert len(link) == link[["country", "year"]].drop_duplicates().shape[0]
    assert "Turkmenistan" not in set(link.country) and (link.bound == "upper").all()
    ratio = dict(zip(link.year, np.exp(link.log_mu), strict=False))
    assert ratio[2011] == pytest.approx(0.35 / 0.29)
    assert ratio[2023] == pytest.approx(0.35 / 0.15)  # flat after 2022
    mid = np.exp((np.log(0.35 / 0.6) * 5 + np.log(0.35 / 0.29) * 5) / 10)
    assert ratio[2006] == pytest.approx(mid)  # halfway between 2001 and 2011, on the log scale


def test_pwid_link_reads_true_plhiv_over_true_users_of_the_same_cell(linked):
    ev = linked.evidence
    a = evidence_index(ev, linked)
    n_c, n_t, n_slots = len(linked.countries), len(linked.years), 6
    ku, kh = linked.targets.index("users"), linked.targets.index("plhiv")
    for i in np.flatnonzero((ev.quantity == "pwid_link").to_numpy())[:5]:
        c, t = linked.countries.index(ev.country.iloc[i]), int(ev.year.iloc[i] - linked.years[0])
        assert a["first"][i] == ((kh * n_slots) * n_c + c) * n_t + t
        assert a["second"][i] == ((ku * n_slots) * n_c + c) * n_t + t
        assert a["ratio"][i] == 1 and a["method"][i] == -1 and a["likelihood"][i] == 1
        assert a["log_sd"][i] == pytest.approx(0.3)


def test_the_pwid_link_penalises_plhiv_above_its_bound(linked):
    """The model's bound term: a point where PLHIV sits far above ratio x users has a lower log
    density than the same point with PLHIV far below it (the likelihood of the link rows)."""
    ev = linked.evidence
    rows = (ev.quantity == "pwid_link").to_numpy()
    kind = evidence_index(ev, linked)["likelihood"]
    sign = bound_sign(ev)
    parts = {}
    for gap in (-2.0, 2.0):  # log PLHIV - log users - log ratio
        mu = np.where(rows, ev.log_mu.to_numpy() + gap, ev.log_mu.to_numpy())
        lik = evidence_likelihood(mu, ev.log_sd.to_numpy(), ev.log_mu.to_numpy(), sign[sign != 0], kind, 3.0)
        r, dist, obs = lik["bounds"]
        logp = pm.logp(dist, obs).eval()
        parts[gap] = logp[np.isin(r, np.flatnonzero(rows))].sum()
    assert parts[2.0] < parts[-2.0] - 10
