"""The Bayesian evidence synthesis, written once: the PyMC model of the true number of drug users
and of people living with HIV. Everything else derives from this definition or is tested against it.

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
6. "at least X" figures are censored: a hidden figure V = model + scale * Logistic(0, 1/1.7) lies
   above X, which has probability logistic(1.7 (model - X) / scale) — a soft lower bound.

The likelihood of steps 4-6 is :func:`evidence_likelihood`, the one definition that the model
registers as its observed variables, that the leave-one-out conflict table (conflict.py)
evaluates pointwise, and whose draws are the simulated figures (simulate.py). Both targets live in
one PyMC model. nutpie samples density.py, a hand-written numba version of the same log density
and gradient that compiles once per machine, with priors and evidence as run-time data
(sampler.py packs them; tests/test_density.py checks both agree at random points).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from forecast.prevalence.inputs import (
    LIKELIHOOD_CODE,
    REF_YEAR,
    SynthesisInputs,
    bound_sign,
    detection_shocks,
    evidence_index,
    prior_vectors,
)

LOGISTIC_SCALE = 1.7  # slope of a bound's logistic: matches the slope of the normal CDF at 0
#: the observed variables of the model, one per kind of likelihood (LIKELIHOOD_CODE)
EVIDENCE_NODES = {"registers": "register", "estimates": "estimate", "bounds": "bound"}


def evidence_likelihood(model_mu, scale, y, sign, kind: np.ndarray, nu: float) -> dict[str, tuple]:
    """The likelihood of the evidence figures: ``{node: (rows, distribution, observed value)}``.

    ``model_mu`` and ``scale`` hold one value per evidence row on their last axis (leading axes,
    e.g. posterior draws, broadcast); ``y`` is the figure (log scale), ``sign`` +1/-1 per bound row
    ("at least" / "at most"), ``kind`` the LIKELIHOOD_CODE per row, ``nu`` the Student-t degrees of
    freedom. Nodes without rows are left out.

    - registers (and treatment counts): Normal(model, scale) at the figure;
    - other point figures: StudentT(nu, model, scale) at the figure;
    - bounds: a source saying "at least X" reports one fact, that a hidden figure
      V = model + scale * Logistic(0, 1 / LOGISTIC_SCALE) lies beyond X. That fact is observed (1)
      with probability P(V >= X) = logistic(LOGISTIC_SCALE * (model - X) / scale): a soft bound,
      which pulls gently above X without a hard wall; "at most X" flips the sign.
    """
    rows = evidence_rows(kind)
    y = pt.as_tensor_variable(y)
    nu = np.float64(nu)  # PyTensor would store a Python 3.0 as a float32 constant, and lose digits
    parts = {}
    if "registers" in rows:
        r = rows["registers"]
        parts["registers"] = (r, pm.Normal.dist(model_mu[..., r], scale[..., r]), y[r])
    if "estimates" in rows:
        r = rows["estimates"]
        parts["estimates"] = (r, pm.StudentT.dist(nu=nu, mu=model_mu[..., r], sigma=scale[..., r]), y[r])
    if "bounds" in rows:
        r = rows["bounds"]
        margin = sign * (model_mu[..., r] - y[r]) / scale[..., r]  # how far the model lies beyond X, in scales
        parts["bounds"] = (r, pm.Bernoulli.dist(logit_p=LOGISTIC_SCALE * margin), np.ones(r.size, dtype="int64"))
    return parts


def evidence_rows(kind: np.ndarray) -> dict[str, np.ndarray]:
    """The evidence rows each observed node of the model holds (nodes without rows left out)."""
    rows = {node: np.flatnonzero(kind == LIKELIHOOD_CODE[code]) for node, code in EVIDENCE_NODES.items()}
    return {node: r for node, r in rows.items() if r.size}


def _walk(name: str, sd, shape: tuple[int, int, int], t_ref: int):
    """Gaussian random walks over years (last axis), pinned to 0 at the reference year (non-centred)."""
    z = pm.Normal(f"{name}_z", 0.0, 1.0, shape=shape)
    # one cumulative sum over the flattened array: each row's offset cancels in the pinning below
    # (density.py walks each row from the reference year outwards: the same numbers)
    path = pt.cumsum((z * sd[:, None, None]).ravel()).reshape(shape)
    return path - path[:, :, t_ref : t_ref + 1]


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
        sign = bound_sign(ev)
        # +1 "at least X", -1 "at most X"; data, so simulated sources may state either (simulate.py)
        sign = pm.Data("evidence_bound_sign", sign[sign != 0]) if (sign != 0).any() else sign[:0]
        likelihood = evidence_likelihood(model_mu, scale, y_obs, sign, a["likelihood"], cfg.student_t_nu)
        for name, (_, dist, observed) in likelihood.items():
            model.register_rv(dist, name, observed=observed)
    return model
