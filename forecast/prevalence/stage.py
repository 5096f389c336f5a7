"""True prevalence: the multiplier method and the Bayesian evidence synthesis.

from forecast.data.dataset import load_dataset
from forecast.prevalence import estimate
result = estimate(load_dataset(), seed=1)
result.estimates          # tidy table, DESIGN.md's estimates.csv
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from forecast.core.diagnostics import Verdict, diagnostics_table, verdict
from forecast.core.outputs import atomic_write_bytes, netcdf_bytes, write_csv
from forecast.data.dataset import Dataset
from forecast.prevalence import cache
from forecast.prevalence.config import PrevalenceConfig, load_config
from forecast.prevalence.conflict import conflict_table
from forecast.prevalence.inputs import SynthesisInputs, prepare
from forecast.prevalence.methods import method_bias_table
from forecast.prevalence.multiplier import multiplier_estimates
from forecast.prevalence.posterior import detection_table, reported_mask, synthesis_estimates
from forecast.prevalence.sampler import compile_model, fit
from forecast.prevalence.strength import OWN, evidence_strength

ESTIMATE_COLUMNS = [
    "country",
    "target",
    "year",
    "method",
    "mean",
    "median",
    "lo_80",
    "hi_80",
    "lo_95",
    "hi_95",
    "evidence_strength",
]
DIAGNOSED = [
    "log_true",
    "log_detection",
    "between_source_sd",
    "method_bias",
    "detection_shock",
    "log_treated_vs_registered",
    "log_population",
    "users_logit_level_mean",
    "users_level_country_sd",
    "users_slope_mean",
    "users_slope_country_sd",
    "users_walk_sd",
    "users_logit_detection_mean",
    "users_detection_country_sd",
    "users_detection_walk_sd",
    "plhiv_logit_initial_mean",
    "plhiv_initial_country_sd",
    "plhiv_logit_incidence_mean",
    "plhiv_incidence_country_sd",
    "plhiv_onset_mean",
    "plhiv_onset_country_sd",
    "plhiv_rise_mean",
    "plhiv_rise_country_sd",
    "plhiv_incidence_walk_sd",
    "plhiv_logit_detection_mean",
    "plhiv_detection_country_sd",
    "plhiv_detection_walk_sd",
    "plhiv_mortality",
]


RETRY_NOTE = "sampling_note"  # posterior attribute: what a second attempt of the sampler was for


@dataclass
class PrevalenceResult:
    estimates: pd.DataFrame  # synthesis + one row set per multiplier
    detection: pd.DataFrame  # share caught by the register, multiple of the register
    conflicts: pd.DataFrame  # per evidence item: LOO shift, surprise, flag
    method_biases: pd.DataFrame  # per estimation method: prior and posterior bias factor, flag
    diagnostics: pd.DataFrame
    verdict: Verdict
    left_out: pd.DataFrame  # figures not used by the synthesis, with the reason
    idata: object
    inputs: SynthesisInputs
    timings: dict[str, float] = field(default_factory=dict)
    posterior_bytes: bytes | memoryview | None = None  # idata as netCDF (posterior.nc), if already encoded

    @property
    def sampling_note(self) -> str:
        """Why the posterior was sampled twice, if it was ("" otherwise)."""
        return str(self.idata.posterior.attrs.get(RETRY_NOTE, ""))

    def write(self, out: Path) -> list[Path]:
        out = Path(out)
        return [
            write_csv(self.estimates, out / "estimates.csv"),
            write_csv(self.detection, out / "detection.csv"),
            write_csv(self.conflicts, out / "prevalence_conflicts.csv"),
            write_csv(self.method_biases, out / "method_biases.csv"),
            write_csv(self.diagnostics, out / "diagnostics.csv"),
            write_csv(self.left_out, out / "evidence_left_out.csv"),
            write_csv(self.inputs.evidence, out / "evidence_used.csv"),
            self._write_posterior(out / "posterior.nc"),
        ]

    def _write_posterior(self, path: Path) -> Path:
        atomic_write_bytes(path, self.posterior_bytes if self.posterior_bytes is not None else netcdf_bytes(self.idata))
        return path


def estimate(
    ds: Dataset,
    config: PrevalenceConfig | None = None,
    seed: int = 1,
    progress: bool = True,
    compiled=None,
    on_stage=None,
) -> PrevalenceResult:
    """Fit the synthesis, check it, and compute every table of the prevalence stage."""
    cfg = config or load_config()
    say = on_stage or (lambda msg: None)
    t0 = time.perf_counter()
    inputs = prepare(ds, cfg)
    if compiled is None:
        say("preparing the model (about 10 s of compilation the first time on a machine, then cached)")
        compiled = compile_model(inputs)
    tc = time.perf_counter()
    digest = cache.key(compiled, cfg, seed)
    cached = cache.load(digest)
    reused = cached is not None
    posterior_bytes, diag = None, None  # posterior.nc, when already encoded (otherwise write() encodes it)
    if reused:
        idata, posterior_bytes, diag = cached
        say(
            "reusing the posterior of an identical earlier fit (same data, priors, sampler settings, seed "
            f"and code; key {digest[:12]}); FORECAST_CACHE=off samples again"
        )
    else:
        idata, compiled, diag = _sample(inputs, seed, progress, compiled, say)
    t1 = time.perf_counter()
    synth = synthesis_estimates(idata, inputs)
    synth["evidence_strength"] = evidence_strength(inputs.evidence, synth, inputs.countries)
    mult = multiplier_estimates(ds, cfg).assign(evidence_strength=OWN)
    estimates = pd.concat([synth, mult], ignore_index=True)
    extra = [c for c in estimates.columns if c not in ESTIMATE_COLUMNS]
    estimates = estimates[ESTIMATE_COLUMNS + extra]
    if diag is None:
        diag = _diagnose(idata, inputs)
    if not reused and cache.cache_dir() is not None:  # encoded once: for the cache and for posterior.nc
        posterior_bytes = netcdf_bytes(idata)
        cache.store(digest, posterior_bytes, diag)
    result = PrevalenceResult(
        estimates=estimates,
        detection=detection_table(idata, inputs),
        conflicts=conflict_table(idata, inputs),
        method_biases=method_bias_table(idata, inputs),
        diagnostics=diag,
        verdict=verdict(diag),
        left_out=inputs.left_out,
        idata=idata,
        inputs=inputs,
        timings={
            "fit_s": t1 - t0,
            "compile_s": tc - t0,
            "sample_s": 0.0 if reused else t1 - tc,
            "reuse_s": t1 - tc if reused else 0.0,
            "summaries_s": time.perf_counter() - t1,
            "reused": float(reused),
        },
        posterior_bytes=posterior_bytes,
    )
    result.compiled = compiled
    return result


def _sample(inputs: SynthesisInputs, seed: int, progress: bool, compiled, say):
    """Sample and diagnose; a fit whose only failure is divergent transitions is sampled once more
    with smaller steps and more draws ([sampler] retry_*), noted in the posterior's attributes."""
    cfg = inputs.config
    say(f"sampling {cfg.chains} chains x {cfg.draws} draws")
    idata, compiled = fit(inputs, seed=seed, progress=progress, compiled=compiled)
    diag = _diagnose(idata, inputs)
    if not (_only_divergent(diag) and cfg.retry_draws):
        return idata, compiled, diag
    n = int(diag.divergences.max())
    first = f"{n} divergent transition{'s' if n > 1 else ''} at target_accept {cfg.target_accept}"
    draws = max(cfg.draws, cfg.retry_draws)
    say(
        f"{first}: sampling once more with smaller steps (target_accept {cfg.retry_target_accept}, "
        f"{cfg.chains} chains × {draws:,} draws)"
    )
    retry = replace(cfg, target_accept=cfg.retry_target_accept, draws=draws)
    idata, compiled = fit(replace(inputs, config=retry), seed=seed, progress=progress, compiled=compiled)
    idata.posterior.attrs[RETRY_NOTE] = (
        f"sampled twice: the first attempt had {first} ({cfg.chains} × {cfg.draws:,} draws); the estimates "
        f"are from the second, at target_accept {cfg.retry_target_accept} ({cfg.chains} × {draws:,} draws)"
    )
    return idata, compiled, _diagnose(idata, inputs)


def _diagnose(idata, inputs: SynthesisInputs) -> pd.DataFrame:
    """The diagnostics table of a fit; the cells are judged where estimates.csv publishes them
    (years before a target's first figure are the model's run-up, not estimates)."""
    cells = reported_mask(inputs)
    return diagnostics_table(
        idata,
        [v for v in DIAGNOSED if v in idata.posterior],
        model="prevalence synthesis",
        only={"log_true": cells, "log_detection": cells},
    )


def _only_divergent(diag: pd.DataFrame) -> bool:
    """Failed on divergent transitions alone (R-hat and ESS pass): the case smaller steps remedy."""
    v = verdict(diag)
    return not v.passed and len(v.messages) == 1 and bool(diag.divergences.max())
