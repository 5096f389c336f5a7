"""Bayesian evidence synthesis of the true number of drug users and of people living with HIV.

The generative story, per target (users, plhiv), for the five countries c and years t:

1. detection d[c, t] = logistic(beta[c] + walk_d[c, t] + shocks[c, t]) — the share of the true
   number that the register catches; beta is pooled across countries; known breaks (Tajik HIV
   labs down Jan 2002 - mid 2003) are extra shifts with their own prior.
2. the register rate (expected registered count per person)
   log rate[c, t] = rho[c] + growth[c] * (t - t_ref) + walk[c, t], pooled across countries
   (hierarchical normal, non-centred), so Turkmenistan, with no data, borrows strength and
   stays honestly wide.
3. expected registered count R[c, t] = rate * population; the true count N = R / d.
   (Parametrising by the register rate and detection, rather than by true prevalence and
   detection, removes the ridge "more users, caught less often" that registers alone cannot
   resolve: the registers pin the rate, multipliers and size estimates pin detection. The
   implied prior on true prevalence is wide: see models/prevalence.toml.)
4. registered figures ~ LogNormal(log R, register_sd): registers are partial observations.
5. every independent size estimate E ~ StudentT_nu(log N, sqrt(sd_E^2 + tau^2)) on the log scale;
   every multiplier m (true / registered) ~ StudentT_nu(-log d, sqrt(sd_m^2 + tau^2)). Heavy tails
   (nu = 3) let a source at odds with the rest be down-weighted, not averaged in; tau is the
   between-source disagreement. Regional ("Central Asia") figures measure sums over countries.
6. "at least X" figures are soft lower bounds (a logistic CDF term).

Both targets live in one PyMC model. That model is the definition (and simulate.py draws from it);
nutpie samples density.py, a hand-written numba version of the same log density and gradient that
compiles once per machine, with priors and evidence as run-time data (compiled.py packs them;
tests/test_density.py checks both agree at random points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from forecast.data import vocab
from forecast.data.dataset import Dataset
from forecast.prevalence.config import PrevalenceConfig, load_config
from forecast.prevalence.evidence import REGION, build_evidence, populations

TARGETS = ("users", "plhiv")
REF_YEAR = 2001  # reference year of the level priors (the seeds' best-documented year)
QUANTITY_CODE = {"register": 0, "treated": 1, "size": 2, "multiplier": 3}
BOUND_CODE = {"point": 0, "lower": 1, "upper": 2}
# the likelihood of an evidence row: a register point figure (normal), another point figure
# (Student-t), or a bound (logistic); density.py's KIND_* constants
LIKELIHOOD_CODE = {"register": 0, "estimate": 1, "bound": 2}


@dataclass
class SynthesisInputs:
    """Everything the model needs, as tidy tables (so simulated data can reuse the layout)."""

    years: np.ndarray  # one year grid shared by both targets
    evidence: pd.DataFrame  # all targets, one row per measurement
    left_out: pd.DataFrame  # figures not used, with the reason
    population: pd.DataFrame
    config: PrevalenceConfig
    targets: tuple[str, ...] = TARGETS
    countries: tuple[str, ...] = vocab.MODEL_COUNTRIES


def prepare(ds: Dataset, config: PrevalenceConfig | None = None) -> SynthesisInputs:
    cfg = config or load_config()
    evidence, left_out = [], []
    for target in TARGETS:
        ev, lo = build_evidence(ds, target, cfg)
        if ev.empty:
            raise ValueError(f"no evidence at all for target {target!r} in {ds.folder}")
        evidence.append(ev)
        left_out.append(lo.assign(target=target))
    ev = pd.concat(evidence, ignore_index=True)
    years = np.arange(int(min(ev.year.min(), REF_YEAR)), int(max(ev.year.max(), REF_YEAR)) + 1)
    return SynthesisInputs(years, ev, pd.concat(left_out, ignore_index=True), populations(ds, cfg, REF_YEAR), cfg)


def soft_bound_logp(z):
    """log P(bound holds) for a standardised margin z: a logistic CDF (close to a Student-t CDF,
    but cheap to compile), so "over X" pulls gently above X without a hard wall."""
    return -pt.softplus(-LOGISTIC_SCALE * z)


LOGISTIC_SCALE = 1.7  # matches the slope of the normal CDF at 0


def bound_sign(ev: pd.DataFrame) -> np.ndarray:
    """Per evidence row: +1 for "at least X", -1 for "at most X", 0 for a point figure."""
    return ev.bound.map({"point": 0.0, "lower": 1.0, "upper": -1.0}).to_numpy(float)


def _walk(name: str, sd, shape: tuple[int, int, int], t_ref: int):
    """Gaussian random walks over years (last axis), pinned to 0 at the reference year (non-centred)."""
    z = pm.Normal(f"{name}_z", 0.0, 1.0, shape=shape)
    # one cumulative sum over the flattened array: each row's offset cancels in the pinning below
    # (density.py walks each row from the reference year outwards: the same numbers)
    path = pt.cumsum((z * sd[:, None, None]).ravel()).reshape(shape)
    return path - path[:, :, t_ref : t_ref + 1]


def evidence_index(ev: pd.DataFrame, inputs: SynthesisInputs) -> dict[str, np.ndarray]:
    """Plain arrays describing each evidence row, and where it reads in the flat model vector.

    The flat vector is [log N (target, country, year), log R (same), log sum_c N (target, year),
    log sum_c R (target, year)]. register/treated read log R; size reads log N; a multiplier reads
    log N - log R (its ``second`` index); regional figures read the sums.
    """
    n_k, n_c, n_t = len(inputs.targets), len(inputs.countries), len(inputs.years)
    k = ev.target.map({t: i for i, t in enumerate(inputs.targets)}).to_numpy("int64")
    c_index = {c: i for i, c in enumerate(inputs.countries)}
    c = np.array([c_index.get(x, -1) for x in ev.country], dtype="int64")
    t = ev.year.to_numpy("int64") - int(inputs.years[0])
    q = ev.quantity.map(QUANTITY_CODE).to_numpy("int64")
    cells = n_k * n_c * n_t
    cell = (k * n_c + np.maximum(c, 0)) * n_t + t
    region = c < 0
    n_pos = np.where(region, 2 * cells + k * n_t + t, cell)
    r_pos = np.where(region, 2 * cells + n_k * n_t + k * n_t + t, cells + cell)
    return {
        "target": k,
        "quantity": q,
        "bound": ev.bound.map(BOUND_CODE).to_numpy("int64"),
        "first": np.where(q <= 1, r_pos, n_pos),
        "second": r_pos,
        "likelihood": np.where(
            ev.bound != "point",
            LIKELIHOOD_CODE["bound"],
            np.where(q <= 1, LIKELIHOOD_CODE["register"], LIKELIHOOD_CODE["estimate"]),
        ),
        "log_mu": ev.log_mu.to_numpy(float),
        "log_sd": ev.log_sd.to_numpy(float),
    }


def detection_shocks(inputs: SynthesisInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The known breaks in detection: prior means and sds of each shift, a (shock, target, country,
    year) 0/1 mask of the cells it applies to, and a label per shock."""
    targets, countries, years = list(inputs.targets), list(inputs.countries), inputs.years
    shocks = [(targets.index(t), s) for t in targets for s in inputs.config.priors[t].detection_shocks]
    mask = np.zeros((len(shocks), len(targets), len(countries), len(years)))
    labels = []
    for j, (k, s) in enumerate(shocks):
        for y in s["years"]:
            if years[0] <= y <= years[-1]:
                mask[j, k, countries.index(s["country"]), y - years[0]] = 1.0
        labels.append(f"{s['country']} {targets[k]} {min(s['years'])}-{max(s['years'])}")
    return (
        np.array([s["shift"][0] for _, s in shocks], dtype=float),
        np.array([s["shift"][1] for _, s in shocks], dtype=float),
        mask,
        labels,
    )


def prior_vectors(cfg: PrevalenceConfig, targets) -> dict[str, np.ndarray]:
    """Each prior as an array over targets, so both targets share one vectorised graph."""
    out = {}
    for name in (
        "log_register_rate_mean",
        "growth_mean",
        "logit_detection_mean",
        "log_register_rate_country_sd",
        "growth_country_sd",
        "random_walk_sd",
        "logit_detection_country_sd",
        "detection_walk_sd",
    ):
        pair = np.array([getattr(cfg.priors[t], name) for t in targets])
        out[name] = (pair[:, 0], pair[:, 1])
    return out


def scale_prior(name: str, median_and_log_sd, **kwargs):
    """A scale (sd) parameter with a log-normal prior given by its median and log-scale sd.

    Log-normal rather than half-normal on purpose: with five countries and a handful of figures
    the data cannot tell a tiny scale from a small one, and a prior with mass at zero lets the
    sampler into the neck of a funnel (divergences, biased posteriors in simulation checks).
    """
    median, log_sd = median_and_log_sd
    return pm.LogNormal(name, np.log(median), log_sd, **kwargs)


def build_model(inputs: SynthesisInputs) -> pm.Model:
    """The PyMC model for both targets (see the module docstring), vectorised over targets."""
    cfg = inputs.config
    targets, countries, years = list(inputs.targets), list(inputs.countries), inputs.years
    n_k, n_c, n_t = len(targets), len(countries), len(years)
    t_ref = int(REF_YEAR - years[0])
    pop = inputs.population.set_index("country").loc[countries]
    pv = prior_vectors(cfg, targets)
    ev = inputs.evidence
    a = evidence_index(ev, inputs)
    coords = {"target": targets, "country": countries, "year": years, "evidence": ev.evidence_id.tolist()}
    dims3 = ("target", "country", "year")
    with pm.Model(coords=coords) as model:
        log_pop = pm.Normal(
            "log_population", np.log(pop.population.to_numpy(float)), pop.log_sd.to_numpy(float), dims="country"
        )
        tau = scale_prior("between_source_sd", cfg.between_source_sd)
        # 1. detection by the registers (share caught), pooled across countries, slow drift, known breaks
        b_mu = pm.Normal("logit_detection_mean", *pv["logit_detection_mean"], dims="target")
        b_sd = scale_prior("logit_detection_country_sd", pv["logit_detection_country_sd"], dims="target")
        beta = b_mu[:, None] + b_sd[:, None] * pm.Normal("beta_z", 0, 1, dims=("target", "country"))
        dw_sd = scale_prior("detection_walk_sd", pv["detection_walk_sd"], dims="target")
        logit_d = beta[:, :, None] + _walk("detection_walk", dw_sd, (n_k, n_c, n_t), t_ref)
        means, sds, mask, labels = detection_shocks(inputs)
        if labels:
            model.add_coord("shock", labels)
            shift = pm.Normal("detection_shock", means, sds, dims="shock")
            logit_d = logit_d + pt.tensordot(shift, mask, axes=1)
        log_d = pm.Deterministic("log_detection", -pt.softplus(-logit_d), dims=dims3)
        # 2. the register rate (expected registered count per person): pooled level, growth, random walk
        rho_mu = pm.Normal("log_register_rate_mean", *pv["log_register_rate_mean"], dims="target")
        rho_sd = scale_prior("log_register_rate_country_sd", pv["log_register_rate_country_sd"], dims="target")
        # centred: four countries' registers pin their rates tightly, where non-centring mixes badly
        rho = pm.Normal("log_register_rate", rho_mu[:, None], rho_sd[:, None], dims=("target", "country"))
        g_mu = pm.Normal("growth_mean", *pv["growth_mean"], dims="target")
        g_sd = scale_prior("growth_country_sd", pv["growth_country_sd"], dims="target")
        growth = pm.Deterministic(
            "growth",
            g_mu[:, None] + g_sd[:, None] * pm.Normal("growth_z", 0, 1, dims=("target", "country")),
            dims=("target", "country"),
        )
        rw_sd = scale_prior("random_walk_sd", pv["random_walk_sd"], dims="target")
        trend = (np.arange(n_t) - t_ref)[None, None, :]
        log_rate = rho[:, :, None] + growth[:, :, None] * trend + _walk("walk", rw_sd, (n_k, n_c, n_t), t_ref)
        # 3. expected register counts and the true counts they are a share of: N = R / d
        log_r = log_rate + log_pop[None, :, None]
        log_n = pm.Deterministic("log_true", log_r - log_d, dims=dims3)
        # 4-6. evidence: one flat vector of model quantities, gathered by index. The figures are
        # pm.Data so a compiled model can be refitted to simulated figures (benchmarks/sbc.py).
        y_obs = pm.Data("evidence_log_mu", a["log_mu"], dims="evidence")
        y_sd = pm.Data("evidence_log_sd", a["log_sd"], dims="evidence")
        flat = pt.concatenate(
            [log_n.ravel(), log_r.ravel(), pt.logsumexp(log_n, axis=1).ravel(), pt.logsumexp(log_r, axis=1).ravel()]
        )
        treated = (
            pm.Normal("log_treated_vs_registered", 0, cfg.treated_vs_registered_sd)
            if (a["quantity"] == 1).any()
            else 0.0
        )
        q = a["quantity"]
        model_mu = flat[a["first"]] - flat[a["second"]] * (q == 3) + treated * (q == 1)
        model_mu = pm.Deterministic("evidence_model", model_mu, dims="evidence")
        is_register = q <= 1
        scale = pt.where(is_register, cfg.register_log_sd, pt.sqrt(y_sd**2 + tau**2))
        scale = pm.Deterministic("evidence_scale", scale, dims="evidence")
        reg = np.flatnonzero(a["likelihood"] == LIKELIHOOD_CODE["register"])
        other = np.flatnonzero(a["likelihood"] == LIKELIHOOD_CODE["estimate"])
        if reg.size:
            pm.Normal("registers", model_mu[reg], scale[reg], observed=y_obs[reg])
        if other.size:
            pm.StudentT("estimates", nu=cfg.student_t_nu, mu=model_mu[other], sigma=scale[other], observed=y_obs[other])
        bounds = np.flatnonzero(a["likelihood"] == LIKELIHOOD_CODE["bound"])
        if bounds.size:
            # +1 "at least X", -1 "at most X"; data, so simulated sources may state either (simulate.py)
            sign = pm.Data("evidence_bound_sign", bound_sign(ev)[bounds])
            zscore = sign * (model_mu[bounds] - y_obs[bounds]) / scale[bounds]
            pm.Potential("bounds", soft_bound_logp(zscore).sum())
    return model


def compile_model(inputs: SynthesisInputs):
    """The model ready for nutpie: the hand-written density of compiled.py (checked against
    ``build_model`` by tests/test_density.py), whose numba code is compiled once per machine."""
    from forecast.prevalence.compiled import compile_model as _compile

    return _compile(inputs)


def fit(inputs: SynthesisInputs, seed: int = 1, progress: bool = True, compiled=None):
    """Sample the posterior with nutpie; returns (InferenceData, compiled model for reuse)."""
    import nutpie

    cfg = inputs.config
    if compiled is None:
        compiled = compile_model(inputs)
    idata = nutpie.sample(
        compiled,
        draws=cfg.draws,
        tune=cfg.tune,
        chains=cfg.chains,
        seed=seed,
        progress_bar=progress,
        target_accept=cfg.target_accept,
        save_warmup=False,
    )
    return idata, compiled


def draws_of(idata, name: str) -> np.ndarray:
    """Posterior draws of a (target, country, year) variable as (sample, target, country, year)."""
    x = idata.posterior[name]
    return x.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()


def target_years(inputs: SynthesisInputs, target: str) -> np.ndarray:
    """Years reported for a target: from its first evidence year to the end of the grid."""
    first = int(inputs.evidence.loc[inputs.evidence.target == target, "year"].min())
    return inputs.years[inputs.years >= first]


def _summ(draws: np.ndarray) -> dict[str, float]:
    q = np.quantile(draws, [0.5, 0.1, 0.9, 0.025, 0.975])
    return {"mean": float(draws.mean()), "median": q[0], "lo_80": q[1], "hi_80": q[2], "lo_95": q[3], "hi_95": q[4]}


def synthesis_estimates(idata, inputs: SynthesisInputs) -> pd.DataFrame:
    """estimates.csv rows (method = synthesis) for every country, target and reported year."""
    rows = []
    pop = inputs.population.set_index("country").population
    draws = np.exp(draws_of(idata, "log_true"))
    places = [(c, draws[:, :, i, :], pop[c]) for i, c in enumerate(inputs.countries)]
    places.append((REGION, draws.sum(axis=2), pop.sum()))
    for k, target in enumerate(inputs.targets):
        for y in target_years(inputs, target):
            j = int(y - inputs.years[0])
            for place, d, p in places:
                s = _summ(d[:, k, j])
                rows.append(
                    {
                        "country": place,
                        "target": target,
                        "year": int(y),
                        "method": "synthesis",
                        **s,
                        "per_100k_median": s["median"] / p * 1e5,
                        "per_100k_lo_95": s["lo_95"] / p * 1e5,
                        "per_100k_hi_95": s["hi_95"] / p * 1e5,
                        "pct_population_median": s["median"] / p * 100,
                    }
                )
    return pd.DataFrame(rows)


def detection_table(idata, inputs: SynthesisInputs) -> pd.DataFrame:
    """Posterior share caught by the register, and its inverse (the multiple of the register)."""
    rows = []
    d = np.exp(draws_of(idata, "log_detection"))
    for k, target in enumerate(inputs.targets):
        for y in target_years(inputs, target):
            j = int(y - inputs.years[0])
            for i, c in enumerate(inputs.countries):
                m = 1 / d[:, k, i, j]
                q = np.quantile(m, [0.5, 0.025, 0.975])
                rows.append(
                    {
                        "country": c,
                        "target": target,
                        "year": int(y),
                        "detection_median": float(np.median(d[:, k, i, j])),
                        "multiple_median": q[0],
                        "multiple_lo_95": q[1],
                        "multiple_hi_95": q[2],
                    }
                )
    return pd.DataFrame(rows)
