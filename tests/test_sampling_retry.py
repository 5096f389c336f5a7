"""A fit failing on divergent transitions alone is sampled once more with smaller steps and more
draws, and says so (forecast/prevalence/stage.py ``_sample``); any other failure is not retried."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pandas as pd
import pytest

from forecast.prevalence import stage
from forecast.prevalence.config import PrevalenceConfig, load_config


def _table(r_hat=1.002, ess=900.0, divergences=0):
    row = {"model": "m", "variable": "v", "size": 1, "r_hat_max": r_hat, "ess_bulk_min": ess, "ess_tail_min": ess}
    t = pd.DataFrame([{**row, "divergences": divergences}])
    t["pass"] = (t.r_hat_max <= 1.01) & (t.ess_bulk_min >= 400) & (t.ess_tail_min >= 400) & (t.divergences == 0)
    return t


@dataclasses.dataclass(frozen=True)
class _Inputs:  # what _sample reads of SynthesisInputs (fit and the diagnostics are replaced here)
    config: PrevalenceConfig


@pytest.fixture(scope="module")
def inputs():
    return _Inputs(load_config())


def _run(monkeypatch, inputs, tables, **settings):
    """_sample with fit() and the diagnostics replaced: the sampler settings of each fit, the result."""
    calls, queue = [], list(tables)

    def fake_fit(inp, seed, progress, compiled):
        c = inp.config
        calls.append((c.target_accept, c.draws, c.tune, c.chains, seed))
        return SimpleNamespace(posterior=SimpleNamespace(attrs={})), compiled  # what _sample reads

    monkeypatch.setattr(stage, "fit", fake_fit)
    monkeypatch.setattr(stage, "_diagnose", lambda idata, inp: queue.pop(0))
    said = []
    inp = dataclasses.replace(inputs, config=dataclasses.replace(inputs.config, **settings))
    idata, _, diag = stage._sample(inp, seed=7, progress=False, compiled=None, say=said.append)
    return calls, idata, diag, said


def test_divergences_alone_are_sampled_again_with_smaller_steps_and_more_draws(monkeypatch, inputs):
    calls, idata, diag, said = _run(
        monkeypatch, inputs, [_table(divergences=2), _table()], target_accept=0.9, draws=3000, retry_draws=5000
    )
    assert calls == [(0.9, 3000, 1000, 4, 7), (0.95, 5000, 1000, 4, 7)]
    assert bool(diag["pass"].all())
    note = idata.posterior.attrs[stage.RETRY_NOTE]
    assert "2 divergent transitions at target_accept 0.9 (4 × 3,000 draws)" in note
    assert "the second, at target_accept 0.95 (4 × 5,000 draws)" in note
    assert any("sampling once more" in m for m in said)


def test_a_retry_that_fails_again_is_reported_as_failed(monkeypatch, inputs):
    calls, idata, diag, _ = _run(monkeypatch, inputs, [_table(divergences=2), _table(divergences=1)])
    assert len(calls) == 2 and not bool(diag["pass"].all()) and int(diag.divergences.max()) == 1
    assert stage.RETRY_NOTE in idata.posterior.attrs  # the second attempt is said, pass or fail


@pytest.mark.parametrize(
    "first",
    [_table(), _table(r_hat=1.03, divergences=1), _table(ess=150.0, divergences=3), _table(ess=150.0)],
    ids=["passed", "r-hat too", "ess too", "ess alone"],
)
def test_anything_but_divergences_alone_is_not_retried(monkeypatch, inputs, first):
    calls, idata, _, _ = _run(monkeypatch, inputs, [first])
    assert len(calls) == 1 and stage.RETRY_NOTE not in idata.posterior.attrs


def test_retry_draws_zero_turns_the_second_attempt_off(monkeypatch, inputs):
    calls, _, diag, _ = _run(monkeypatch, inputs, [_table(divergences=2)], retry_draws=0)
    assert len(calls) == 1 and int(diag.divergences.max()) == 2


def test_a_retry_never_samples_fewer_draws_than_the_first_attempt(monkeypatch, inputs):
    calls, _, _, _ = _run(monkeypatch, inputs, [_table(divergences=1), _table()], draws=8000, retry_draws=5000)
    assert [c[1] for c in calls] == [8000, 8000]
