"""The hand-written density nutpie samples (forecast/prevalence/density.py) is PyMC's model.

``model.build_model`` is the model's definition; density.py re-implements its log density and
gradient in numba so that it compiles once per machine. These tests evaluate both at random points
of the unconstrained space, through the same C callbacks nutpie calls, and require agreement to
rounding in the log density, in every component of the gradient, and in every stored quantity.
"""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from forecast.data.dataset import load_dataset
from forecast.prevalence import density, sampler
from forecast.prevalence.inputs import prepare
from forecast.prevalence.model import build_model
from forecast.prevalence.sampler import compile_model, expand_point, logp_and_grad
from forecast.prevalence.simulate import with_figures


@pytest.fixture(scope="module")
def inputs():
    return prepare(load_dataset(vintage="base"))


@pytest.fixture(scope="module")
def latest(linked):
    """The data to 2025: new diagnoses, living diagnosed, deaths and people on ART too; and the
    PLHIV <- PWID link switched on (off by default), whose bounds read across the two targets."""
    assert (linked.evidence.quantity == "pwid_link").any()
    return linked


def _variants(inputs, latest=None):
    """The seeds' layout, one with every bound flipped to "at most" and no known detection break,
    one with no treatment figures, and the data to 2025 (every kind of evidence): between them
    every branch of the density."""
    ev = inputs.evidence
    flipped = np.where(ev.bound == "point", "point", np.where(ev.bound == "lower", "upper", "lower"))
    cfg = inputs.config
    no_shocks = dataclasses.replace(
        cfg, priors={t: dataclasses.replace(p, detection_shocks=()) for t, p in cfg.priors.items()}
    )
    upper = dataclasses.replace(with_figures(inputs, ev.log_mu.to_numpy(), flipped), config=no_shocks)
    untreated = dataclasses.replace(inputs, evidence=ev[ev.quantity != "treated"].reset_index(drop=True))
    return {"embedded": inputs, "upper bounds, no shocks": upper, "no treatment figures": untreated, "latest": latest}


def _pymc_functions(inputs):
    """PyMC's log density (as partial sums, added up by the caller), its gradient and the
    deterministics, compiled with PyTensor's fast-compile rewrites (which make PyMC's Bernoulli
    numerically stable) and the Python linker (seconds to compile; the C linker takes minutes on
    the PLHIV scan). The partial sums keep every Add under numpy's 32 operands."""
    model = build_model(inputs)
    terms = [pt.sum(term) for term in model.logp(sum=False)]
    chunks = [pt.add(*terms[i : i + 16]) if len(terms[i : i + 16]) > 1 else terms[i] for i in range(0, len(terms), 16)]
    total = functools.reduce(lambda a, b: a + b, terms)
    values = model.value_vars
    names = [n for n in density.DETERMINISTICS if n in model.named_vars]
    deterministic = model.replace_rvs_by_values([model[n] for n in names])
    mode = pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile").including("stabilize")
    f = pytensor.function(values, [*pt.grad(total, values), *deterministic, *chunks], mode=mode)
    n_values, n_det = len(values), len(names)

    def evaluate(*args):
        out = f(*args)
        return [sum(float(c) for c in out[n_values + n_det :]), *out[: n_values + n_det]]

    return [v.name for v in values], evaluate


def _split(x, compiled):
    names, slices, shapes = compiled.shape_info
    return [x[s].reshape(shape) for n, s, shape in zip(names, slices, shapes, strict=True) if n in density.PARAMS]


@pytest.mark.parametrize(
    "variant",
    [
        "embedded",
        *(
            pytest.param(v, marks=pytest.mark.slow)
            for v in ("upper bounds, no shocks", "no treatment figures", "latest")
        ),
    ],
)
def test_log_density_gradient_and_trace_equal_pymc(inputs, latest, variant):
    inp = _variants(inputs, latest)[variant]
    compiled = compile_model(inp)
    value_names, f = _pymc_functions(inp)
    names = [n for n in compiled.shape_info[0] if n in density.PARAMS]
    assert value_names == [f"{n}_log__" if n in density.LOG_SCALED else n for n in names]
    rng = np.random.default_rng(5)
    for trial in range(4):
        x = compiled.initial_point_func(trial) + rng.normal(0, 0.7, compiled.n_dim)
        logp, grad = logp_and_grad(compiled, x)
        ref = f(*_split(x, compiled))
        assert logp == pytest.approx(float(ref[0]), rel=1e-10, abs=1e-6)
        ref_grad = np.concatenate([np.ravel(g) for g in ref[1 : 1 + len(names)]])
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-8, atol=1e-8)
        trace = expand_point(compiled, x)
        for name, value, constrained in zip(names, _split(x, compiled), [trace[n] for n in names], strict=True):
            np.testing.assert_allclose(
                constrained, np.exp(value) if name in density.LOG_SCALED else value, err_msg=name
            )
        for name, ref_value in zip(
            [n for n in density.DETERMINISTICS if n in trace], ref[1 + len(names) :], strict=True
        ):
            np.testing.assert_allclose(trace[name], ref_value, rtol=1e-10, atol=1e-10, err_msg=name)


def test_with_data_equals_packing_the_new_figures(inputs):
    """Refitting other figures through with_data sees exactly the data a fresh build would."""
    compiled = compile_model(inputs)
    ev = inputs.evidence
    y = ev.log_mu.to_numpy() + np.linspace(-0.3, 0.3, len(ev))
    bound = np.where(ev.bound == "point", "point", "upper")
    fresh = compile_model(with_figures(inputs, y, bound))
    sign = np.where(bound == "point", 0.0, -1.0)
    refit = compiled.with_data(evidence_log_mu=y, evidence_bound_sign=sign[sign != 0])
    np.testing.assert_array_equal(refit.user_data, fresh.user_data)
    assert not np.array_equal(compiled.user_data, fresh.user_data)


def test_with_data_rejects_unknown_names_and_wrong_shapes(inputs):
    compiled = compile_model(inputs)
    with pytest.raises(KeyError, match="unknown data 'evidence_mu'"):
        compiled.with_data(evidence_mu=np.zeros(len(inputs.evidence)))
    with pytest.raises(ValueError, match="evidence_log_mu must have shape"):
        compiled.with_data(evidence_log_mu=np.zeros(3))


def test_a_nutpie_with_a_new_required_field_still_builds_the_model(inputs, monkeypatch):
    """nutpie 0.16.11 added a required ``shared_var_keys`` to CompiledPyMCModel, and a SynthesisModel
    built field by field crashed. Built from ``dataclasses.fields()``, it fills what it does not know."""

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Newer(sampler.SynthesisModel):
        shared_var_keys: dict[Any, str]
        reparameterized: list[str]
        backend: str

    monkeypatch.setattr(sampler, "SynthesisModel", Newer)
    model = compile_model(inputs)
    assert isinstance(model, Newer)
    assert (model.shared_var_keys, model.reparameterized, model.backend) == ({}, [], None)
    x = model.initial_point_func(0)
    assert np.isfinite(logp_and_grad(model, x)[0])
    refit = model.with_data(evidence_log_mu=inputs.evidence.log_mu.to_numpy() + 0.1)
    assert isinstance(refit, Newer) and refit.shared_var_keys == {}


def test_a_new_process_loads_the_density_from_the_disk_cache():
    """numba silently skips its disk cache for a function holding a dynamic global; then every run
    would recompile (~10 s). After this session's import, a fresh process must find both callbacks."""
    code = "from forecast.prevalence import density as d; print(d.logp_cfunc.cache_hits, d.expand_cfunc.cache_hits)"
    hits = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert hits == ["1", "1"]
