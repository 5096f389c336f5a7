"""The posterior cache (forecast/prevalence/cache.py): the same inputs and seed reuse the draws,
anything else samples again, and a broken cache never breaks a run."""

from __future__ import annotations

import dataclasses
import os
import warnings

import pandas as pd
import pytest

from forecast.core.diagnostics import diagnostics_table
from forecast.core.errors import InputWarning
from forecast.data.dataset import load_dataset
from forecast.prevalence import cache, stage
from forecast.prevalence.config import load_config
from forecast.prevalence.inputs import prepare
from forecast.prevalence.sampler import compile_model

TINY = {"draws": 40, "tune": 40, "chains": 2}


@pytest.fixture(scope="module")
def setup():
    ds = load_dataset(vintage="base")
    cfg = dataclasses.replace(load_config(), **TINY)
    return ds, cfg, compile_model(prepare(ds, cfg))


@pytest.fixture
def on(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECAST_CACHE", "on")
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", InputWarning)
        return fn(*args, **kwargs)


@pytest.mark.slow
def test_the_same_inputs_and_seed_reuse_the_posterior(setup, on, monkeypatch, tmp_path):
    ds, cfg, compiled = setup
    first = _quiet(stage.estimate, ds, cfg, seed=3, progress=False, compiled=compiled)
    assert first.timings["reused"] == 0.0 and len(list(on.glob("*.posterior.nc"))) == 1

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled again although an identical fit is cached")

    def no_diagnostics(*args, **kwargs):
        raise AssertionError("diagnostics computed again although the cache holds them")

    monkeypatch.setattr(stage, "fit", no_sampling)
    monkeypatch.setattr(stage, "diagnostics_table", no_diagnostics)
    again = _quiet(stage.estimate, ds, cfg, seed=3, progress=False, compiled=compiled)
    assert again.timings["reused"] == 1.0
    # an entry without its diagnostics table (kept by an older version) is used, the table computed
    monkeypatch.setattr(stage, "diagnostics_table", diagnostics_table)
    (entry,) = on.glob(f"*{cache.DIAGNOSTICS}")
    entry.unlink()
    older = _quiet(stage.estimate, ds, cfg, seed=3, progress=False, compiled=compiled)
    assert older.timings["reused"] == 1.0
    for folder, result in (("a", first), ("b", again), ("c", older)):
        result.write(tmp_path / folder)
    for name in (
        "estimates.csv",
        "detection.csv",
        "diagnostics.csv",
        "prevalence_conflicts.csv",
        "method_biases.csv",
        "posterior.nc",
    ):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "c" / name).read_bytes(), name


def test_a_changed_prior_setting_or_seed_is_another_key(setup):
    ds, cfg, compiled = setup
    base = cache.key(compiled, cfg, 1)
    assert cache.key(compiled, cfg, 2) != base
    assert cache.key(compiled, dataclasses.replace(cfg, draws=41), 1) != base
    users = dataclasses.replace(cfg.priors["users"], slope_mean=(0.01, 0.1))
    other = dataclasses.replace(cfg, priors={**cfg.priors, "users": users})
    assert cache.key(compile_model(prepare(ds, other)), other, 1) != base
    assert cache.key(compiled, cfg, 1) == base


def test_off_means_no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FORECAST_CACHE", "off")
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path))
    assert cache.cache_dir() is None and cache.load("0" * 64) is None and cache.store("0" * 64, b"x") is None
    assert not list(tmp_path.iterdir())


def test_a_damaged_entry_is_sampled_again_with_a_warning(setup, on, monkeypatch):
    ds, cfg, compiled = setup
    digest = cache.key(compiled, cfg, 5)
    on.mkdir(parents=True)
    (on / f"{digest}{cache.SUFFIX}").write_bytes(b"not a netCDF file")
    with pytest.warns(InputWarning, match="cached posterior unreadable"):
        result = stage.estimate(ds, cfg, seed=5, progress=False, compiled=compiled)
    assert result.timings["reused"] == 0.0
    assert cache.load(digest) is not None  # the fresh fit replaced the damaged entry
    assert (on / f"{digest}{cache.SUFFIX}").read_bytes() != b"not a netCDF file"


def test_an_unwritable_cache_warns_and_the_fit_goes_on(setup, monkeypatch, tmp_path):
    ds, cfg, compiled = setup
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    monkeypatch.setenv("FORECAST_CACHE", "on")
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(blocker / "cache"))  # cannot be made: a file is in the way
    with pytest.warns(InputWarning, match="cannot keep the posterior for reuse"):
        result = stage.estimate(ds, cfg, seed=6, progress=False, compiled=compiled)
    assert len(result.estimates) and result.timings["reused"] == 0.0


def test_only_the_newest_entries_are_kept(on, monkeypatch):
    for i in range(cache.KEEP + 2):
        path = cache.store(f"{i:064d}", b"a posterior", pd.DataFrame({"variable": ["x"], "r_hat_max": [1.0]}))
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    kept = sorted(p.name for p in on.glob(f"*{cache.SUFFIX}"))
    assert kept == [f"{i:064d}{cache.SUFFIX}" for i in range(2, cache.KEEP + 2)]
    tables = sorted(p.name for p in on.glob(f"*{cache.DIAGNOSTICS}"))  # each goes with its posterior
    assert tables == [f"{i:064d}{cache.DIAGNOSTICS}" for i in range(2, cache.KEEP + 2)]
