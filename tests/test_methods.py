"""The method bias table: each estimation method's prior beside what the evidence says."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from forecast.data.dataset import load_dataset
from forecast.prevalence.config import load_config
from forecast.prevalence.inputs import prepare
from forecast.prevalence.methods import method_bias_table


@pytest.fixture(scope="module")
def inputs():
    return prepare(load_dataset(), load_config())


def _posterior(inputs, shift_sd: dict[str, float], shrink: float = 1.0, seed: int = 0):
    """Draws of method_bias: each method's prior, shifted by ``shift_sd`` prior sds, sd times ``shrink``."""
    rng = np.random.default_rng(seed)
    cols = []
    for m in inputs.methods:
        mean, sd = inputs.config.method_bias[m]
        cols.append(mean + shift_sd.get(m, 0.0) * sd + shrink * sd * rng.standard_normal((4, 1000)))
    return az.from_dict(posterior={"method_bias": np.stack(cols, axis=-1)}, dims={"method_bias": ["method"]})


def test_a_method_at_its_prior_is_not_flagged_and_one_beyond_it_is(inputs):
    assert "rapid_assessment" in inputs.methods and "norm" in inputs.methods
    table = method_bias_table(_posterior(inputs, {"rapid_assessment": 3.0, "norm": -2.5}, shrink=0.2), inputs)
    row = table.set_index("method")
    assert list(row.index) == list(inputs.methods)
    assert row.loc["rapid_assessment", "flag"].startswith("CONFLICT") and "above" in row.loc["rapid_assessment", "flag"]
    assert "below" in row.loc["norm", "flag"]
    quiet = row.drop(["rapid_assessment", "norm"])
    assert (quiet.flag == "").all() and (quiet.prior_tail_probability > 0.5).all()
    # the factors read as figure / truth: the prior's median and 90% band, the posterior's
    mean, sd = inputs.config.method_bias["rapid_assessment"]
    ra = row.loc["rapid_assessment"]
    assert ra.prior_factor == pytest.approx(np.exp(mean))
    assert ra.prior_lo_90 == pytest.approx(np.exp(mean - 1.6449 * sd), rel=1e-4)
    assert ra.factor == pytest.approx(np.exp(mean + 3 * sd), rel=0.05)
    assert ra.lo_90 < ra.factor < ra.hi_90
    assert ra.narrowed == pytest.approx(0.2, rel=0.05)
    assert ra.figures == (inputs.evidence.method == "rapid_assessment").sum() == 6


def test_a_posterior_like_its_prior_has_not_narrowed(inputs):
    table = method_bias_table(_posterior(inputs, {}), inputs)
    assert table.narrowed.between(0.95, 1.05).all()
    assert (table.flag == "").all()
