"""R-hat and bulk/tail ESS of many quantities at once (forecast.core.mcmc_stats) equal ArviZ's, one
quantity at a time; the diagnostics table built on them is the one ArviZ's calls give."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from forecast.core.diagnostics import RHAT_MAX, diagnostics_table
from forecast.core.mcmc_stats import rhat_ess

RTOL = 1e-8
# ArviZ divides 0 by 0 for a constant quantity (its R-hat is nan, as ours)
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in scalar divide:RuntimeWarning")


def ar1(rng, n_chain, n_draw, k, phi):
    """k AR(1) series per chain with autocorrelation ``phi`` (a number or one per series)."""
    e = rng.standard_normal((n_chain, n_draw, k))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0]
    for t in range(1, n_draw):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def arviz_stats(x):
    """ArviZ's R-hat (rank), bulk ESS and tail ESS of each quantity of (chain, draw, k)."""
    cols = [x[:, :, j] for j in range(x.shape[2])]
    return (
        np.array([az.rhat(c, method="rank") for c in cols]),
        np.array([az.ess(c, method="bulk") for c in cols]),
        np.array([az.ess(c, method="tail") for c in cols]),
    )


def assert_as_arviz(x):
    for ours, theirs in zip(rhat_ess(x), arviz_stats(x), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, equal_nan=True)


@pytest.mark.parametrize(("n_chain", "n_draw"), [(4, 400), (2, 300), (4, 301), (3, 57), (2, 5)])
def test_ar1_chains_of_several_autocorrelations(n_chain, n_draw):
    rng = np.random.default_rng(n_chain * 1000 + n_draw)
    x = ar1(rng, n_chain, n_draw, 8, np.array([0.0, 0.3, 0.6, 0.9, 0.95, 0.99, -0.5, -0.9]))
    assert_as_arviz(x)


@pytest.mark.parametrize("n_chain", [2, 4])
def test_one_stuck_chain_heavy_tails_ties_and_a_constant_column(n_chain):
    rng = np.random.default_rng(n_chain)
    x = ar1(rng, n_chain, 301, 6, 0.5)
    x[1, :, 0] = 2.5  # one chain stuck
    x[:, :, 1] = rng.standard_t(1, (n_chain, 301))  # Cauchy draws
    x[:, :, 2] = 1.5  # constant
    x[:, :, 3] = np.round(x[:, :, 3])  # many ties
    x[:, :, 4] = x[:, :, 4] > 1.2  # a rare event's indicator
    assert_as_arviz(x)
    rhat, ess_bulk, ess_tail = rhat_ess(x)
    assert rhat[0] > 1.1  # far over RHAT_MAX
    assert np.isnan(rhat[2]) and ess_bulk[2] == ess_tail[2] == 2 * n_chain * 150  # ArviZ: the split draws


def test_nan_draws_one_chain_few_draws_and_other_dtypes():
    rng = np.random.default_rng(7)
    x = ar1(rng, 4, 100, 3, 0.5)
    x[2, 40, 1] = np.nan
    assert_as_arviz(x)
    assert np.isnan([s[1] for s in rhat_ess(x)]).all()
    assert_as_arviz(x[:1])  # one chain: no R-hat, ESS of its two halves
    assert np.isnan(rhat_ess(x[:, :3])).all()  # under 4 draws
    assert_as_arviz(np.round(x[:, :, [0, 2]] * 10).astype(int))
    assert_as_arviz(x[:, :, [0, 2]].astype(np.float32))
    assert [a.shape for a in rhat_ess(x[:, :, :0])] == [(0,), (0,), (0,)]


def test_chains_each_stuck_at_their_own_value_fail_rather_than_vanish():
    # ArviZ's R-hat here is rounding noise (can be nan, which the table would read as "constant")
    x = np.repeat(np.arange(4.0)[:, None, None], 200, axis=1)
    rhat, _, _ = rhat_ess(x)
    assert rhat[0] > RHAT_MAX


def arviz_row(idata, name, keep=None):
    """What one row of the table must say, from ArviZ's own calls on that variable alone."""
    post = idata.posterior
    rhat = az.rhat(post[[name]])[name].to_numpy()
    ess_b = az.ess(post[[name]], method="bulk")[name].to_numpy()
    ess_t = az.ess(post[[name]], method="tail")[name].to_numpy()
    if keep is not None:
        rhat, ess_b, ess_t = (np.where(np.asarray(keep, dtype=bool), a, np.nan) for a in (rhat, ess_b, ess_t))
    return int(np.isfinite(rhat).sum()), np.nanmax(rhat), np.nanmin(ess_b), np.nanmin(ess_t)


@pytest.fixture
def idata():
    rng = np.random.default_rng(11)
    c, d = 4, 500
    theta = ar1(rng, c, d, 3, 0.2)
    theta[:, :, 2] = 0.0  # a fixed element
    cell = ar1(rng, c, d, 6, np.array([0.1, 0.97, 0.2, 0.3, 0.99, 0.4])).reshape(c, d, 2, 3)
    stuck = ar1(rng, c, d, 1, 0.5)[:, :, 0]
    stuck[0] += 3.0
    posterior = {
        "mu": ar1(rng, c, d, 1, 0.8)[:, :, 0],
        "theta": theta,
        "cell": cell,
        "scale": np.ones((c, d)),  # constant: skipped
        "stuck": stuck,
        "eta_z": rng.standard_normal((c, d, 2)),  # a non-centred helper: not judged by default
    }
    diverging = np.zeros((c, d), dtype=bool)
    diverging[1, 7] = True
    return az.from_dict(posterior=posterior, sample_stats={"diverging": diverging})


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"var_names": ["cell", "mu", "eta_z"], "model": "m"},
        {"only": {"cell": np.array([[True, False, True], [True, False, True]]), "theta": [False, False, True]}},
    ],
)
def test_diagnostics_table_is_the_one_arviz_gives(idata, kwargs):
    ours = diagnostics_table(idata, **kwargs)
    names = kwargs.get("var_names") or ["mu", "theta", "cell", "stuck"]  # constants and *_z left out
    if "only" in kwargs:
        names.remove("theta")  # its one judged element is the fixed one: no row
    assert ours.variable.tolist() == names
    assert (ours.model == kwargs.get("model", "prevalence")).all() and (ours.divergences == 1).all()
    for _, row in ours.iterrows():
        size, rhat, ess_b, ess_t = arviz_row(idata, row.variable, kwargs.get("only", {}).get(row.variable))
        assert row["size"] == size
        np.testing.assert_allclose([row.r_hat_max, row.ess_bulk_min, row.ess_tail_min], [rhat, ess_b, ess_t], rtol=RTOL)
        assert row["pass"] == (rhat <= RHAT_MAX and min(ess_b, ess_t) >= 400 and row.divergences == 0)
    assert "scale" not in set(ours.variable)
