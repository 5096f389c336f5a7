"""The Bayesian evidence synthesis, written once: the PyMC model of the true number of high-risk
drug users and of people living with HIV. Everything else derives from this definition or is
tested against it (docs/prevalence_model_v2.md; priors and their sources in models/prevalence.toml).

Per country c and year t (one grid for both targets; t_ref = 2001):

Users (high-risk drug users), a smooth dynamic on the truth, bounded by construction:
    U[c, t] = F[c, t] + (ceiling[c, t] - F[c, t]) * logistic(z[c, t])
    z[c, t] = level[c] + slope[c] * (t - t_ref) + walk[c, t]
F is the number on the drug register that year (0 where none), the ceiling a cited maximum share
of those aged 15-64 (scaled by the population draw): every draw lies between them. The register
catches a share d[c, t] = logistic(beta[c] + walk_d[c, t]) of them (register coverage), so the
expected register is U * d; coverage drifts slowly.

PLHIV, a stock with flows (UNAIDS CSAVR / ECDC HIV Modelling Tool in spirit), one year at a time:
    iota[c, t] = incidence[c] + rise[c] * (s((t - t_ref - onset[c]) / w) - s(-onset[c] / w)) + walk[c, t]
(the logit of the yearly infection share: CSAVR's single logistic take-off around the onset year,
s the logistic function, w years wide, pinned at t_ref, plus a random walk for the rest)
    H[t] = H[t-1] (1 - mu) + I[t],        I[t] = (ceiling[t] - H[t-1] (1 - mu)) * logistic(iota[t])
    D[t] = D[t-1] (1 - mu) + dx[t],       dx[t] = delta[t] * (H[t] - D[t-1] (1 - mu))
H[0] = ceiling[0] * logistic(h0[c]), D[0] = delta[0] H[0]. New infections take a share of the room
left, so H stays below the ceiling; diagnoses come from the undiagnosed, so D <= H; delta (the
yearly chance of diagnosis, a slow walk on the logit scale) moves with testing, and a known break
(Tajik laboratories down 2002 - mid 2003) acts on it: on the flow of diagnoses, not on the stock.
Registered cumulative cases are all diagnoses so far (the dead included), registered living are D,
new registrations dx, deaths among the diagnosed mu * D[t-1], people on ART at most D.

Evidence: every figure on the log scale, ~ StudentT_nu(model + bias[method], scale); counts have
the register sd as scale and no bias; estimates have sqrt(sd_figure^2 + tau^2) and the bias of their
method (one per method, cited priors: a generic norm weighs far less than a field study).
"At least X" is censored: a hidden figure V = model + scale * Logistic(0, 1/1.7) lies above X, with
probability logistic(1.7 (model - X) / scale). Regional ("Central Asia") figures measure sums.

The likelihood is :func:`evidence_likelihood`, the one definition that the model registers as its
observed variables, that the leave-one-out conflict table (conflict.py) evaluates pointwise, and
whose draws are the simulated figures (simulate.py). nutpie samples density.py, a hand-written
numba version of the same log density and gradient that compiles once per machine
(tests/test_density.py checks both agree at random points, in every branch).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt

from forecast.prevalence.inputs import (
    LIKELIHOOD_CODE,
    N_SLOTS,
    REF_YEAR,
    SCALE_COUNT,
    SCALE_STATED,
    SynthesisInputs,
    bound_sign,
    detection_shocks,
    evidence_index,
    log_ceiling_index,
    method_priors,
)

LOGISTIC_SCALE = 1.7  # slope of a bound's logistic: matches the slope of the normal CDF at 0
#: the observed variables of the model, one per kind of likelihood (LIKELIHOOD_CODE)
EVIDENCE_NODES = {"estimates": "point", "bounds": "bound"}


def evidence_likelihood(model_mu, scale, y, sign, kind: np.ndarray, nu: float) -> dict[str, tuple]:
    """The likelihood of the evidence figures: ``{node: (rows, distribution, observed value)}``.

    ``model_mu`` and ``scale`` hold one value per evidence row on their last axis (leading axes,
    e.g. posterior draws, broadcast); ``y`` is the figure (log scale), ``sign`` +1/-1 per bound row
    ("at least" / "at most"), ``kind`` the LIKELIHOOD_CODE per row, ``nu`` the Student-t degrees of
    freedom. Nodes without rows are left out.

    - point figures: StudentT(nu, model, scale) at the figure;
    - bounds: a source saying "at least X" reports one fact, that a hidden figure
      V = model + scale * Logistic(0, 1 / LOGISTIC_SCALE) lies beyond X. That fact is observed (1)
      with probability P(V >= X) = logistic(LOGISTIC_SCALE * (model - X) / scale): censored
      evidence, a soft bound; "at most X" flips the sign.
    """
    rows = evidence_rows(kind)
    y = pt.as_tensor_variable(y)
    nu = np.float64(nu)  # PyTensor would store a Python 3.0 as a float32 constant, and lose digits
    parts = {}
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


def _walk(name: str, sd, shape: tuple[int, int], t_ref: int):
    """Gaussian random walks over years (last axis), pinned to 0 at the reference year (non-centred)."""
    z = pm.Normal(f"{name}_z", 0.0, 1.0, shape=shape)
    path = pt.cumsum(z * sd, axis=-1)
    return path - path[:, t_ref : t_ref + 1]


def scale_prior(name: str, median_and_log_sd, **kwargs):
    """A scale (sd) parameter with a log-normal prior given by its median and log-scale sd.

    Log-normal rather than half-normal on purpose: with five countries and a handful of figures
    the data cannot tell a tiny scale from a small one, and a prior with mass at zero lets the
    sampler into the neck of a funnel (divergences, biased posteriors in simulation checks).
    """
    median, log_sd = median_and_log_sd
    return pm.LogNormal(name, np.log(median), log_sd, **kwargs)


def _pooled(prefix: str, priors, name: str, centred: bool = False):
    """A country effect pooled across countries, with the priors ``[logit_]<name>_mean`` and
    ``<name>_country_sd`` of the target's table. Non-centred (mean + sd * z, ``<prefix>_<name>_z``)
    by default: centred effects mixed worse for the users (ESS 83 against 175 of 4,000 draws,
    Turkmenistan's having no data at all). ``centred`` (``<prefix>_<name>`` ~ Normal(mean, sd)) where
    the countries' data pin the effect, which mean + sd * z bends into a curved ridge."""
    mean = f"logit_{name}_mean" if hasattr(priors, f"logit_{name}_mean") else f"{name}_mean"
    mu = pm.Normal(f"{prefix}_{mean}", *getattr(priors, mean))
    sd = scale_prior(f"{prefix}_{name}_country_sd", getattr(priors, f"{name}_country_sd"))
    if centred:
        return pm.Normal(f"{prefix}_{name}", mu, sd, dims="country")
    return mu + sd * pm.Normal(f"{prefix}_{name}_z", 0.0, 1.0, dims="country")


def _users(priors, log_pop, log_cap, floor, shift, t_ref: int):
    """(log true users, log expected register, logit coverage) per (country, year)."""
    n_c, n_t = floor.shape
    level = _pooled("users", priors, "level")
    slope = _pooled("users", priors, "slope")
    walk = _walk("users_walk", scale_prior("users_walk_sd", priors.walk_sd), (n_c, n_t), t_ref)
    z = level[:, None] + slope[:, None] * (np.arange(n_t) - t_ref)[None, :] + walk
    cap = pt.exp(log_pop[:, None] + log_cap)
    log_u = pt.log(floor + (cap - floor) * pm.math.sigmoid(z))
    # Register coverage beta = register level - users level, the register level centred on the users
    # level plus the pooled coverage mean: the same prior on beta, but the registers pin the register
    # level while the level moves freely along the ridge "more users, caught less often" (a change of
    # variables; mixing along that ridge was the slowest part of the posterior).
    b_mu = pm.Normal("users_logit_detection_mean", *priors.logit_detection_mean)
    b_sd = scale_prior("users_detection_country_sd", priors.detection_country_sd)
    register_level = pm.Normal("users_register_level", level + b_mu, b_sd, dims="country")
    logit_d = (register_level - level)[:, None] + shift
    logit_d = logit_d + _walk(
        "users_detection_walk", scale_prior("users_detection_walk_sd", priors.detection_walk_sd), (n_c, n_t), t_ref
    )
    return log_u, log_u - pt.softplus(-logit_d), logit_d


def _plhiv(priors, log_pop, log_cap, shift, t_ref: int):
    """The PLHIV stock and its flows: a list of six (country, year) log quantities (inputs.SLOT) and
    the log diagnosed share."""
    n_c, n_t = log_cap.shape
    h0 = _pooled("plhiv", priors, "initial")
    # centred: the countries' registers pin their incidence, where mean + sd * z mixed worst of all
    # (ESS 140 of 4,800 draws for the mean); the take-off (CSAVR's single logistic curve: the logit
    # rises by `rise` around `onset`) centred too, as the Tajik registers pin its onset to months and
    # mean + sd * z bent that into the stiffest directions of the posterior, which set the step size
    incidence, onset, rise = (_pooled("plhiv", priors, n, centred=True) for n in ("incidence", "onset", "rise"))
    years_from_ref = (np.arange(n_t) - t_ref)[None, :]
    width = priors.incidence_rise_years
    take_off = pm.math.sigmoid((years_from_ref - onset[:, None]) / width) - pm.math.sigmoid(-onset[:, None] / width)
    iota = (
        incidence[:, None]
        + rise[:, None] * take_off
        + _walk(
            "plhiv_incidence_walk", scale_prior("plhiv_incidence_walk_sd", priors.incidence_walk_sd), (n_c, n_t), t_ref
        )
    )
    logit_delta = _pooled("plhiv", priors, "detection")[:, None] + shift
    logit_delta = logit_delta + _walk(
        "plhiv_detection_walk", scale_prior("plhiv_detection_walk_sd", priors.detection_walk_sd), (n_c, n_t), t_ref
    )
    mu = pm.LogNormal("plhiv_mortality", np.log(priors.mortality[0]), priors.mortality[1])
    cap = pt.exp(log_pop[:, None] + log_cap)
    p_inf, p_dx = pm.math.sigmoid(iota), pm.math.sigmoid(logit_delta)
    h0 = cap[:, 0] * pm.math.sigmoid(h0)
    d0 = p_dx[:, 0] * h0

    def year(cap_t, p_inf_t, p_dx_t, h, d, cum, cum_deaths, mu):
        h_s, d_s = h * (1 - mu), d * (1 - mu)
        h_new = h_s + (cap_t - h_s) * p_inf_t
        dx = p_dx_t * (h_new - d_s)
        deaths = mu * d
        return h_new, d_s + dx, cum + dx, cum_deaths + deaths, dx, deaths

    first = (h0, d0, d0, mu * d0, d0, mu * d0)  # year 0: everyone diagnosed so far is new
    if n_t > 1:
        steps = pytensor.scan(
            year,
            sequences=[cap.T[1:], p_inf.T[1:], p_dx.T[1:]],
            outputs_info=[*first[:4], None, None],
            non_sequences=[mu],
            strict=True,
            return_updates=False,
        )
        paths = [pt.concatenate([f[None], x], axis=0).T for f, x in zip(first, steps, strict=True)]
    else:
        paths = [f[:, None] for f in first]
    h, d, cum, cum_deaths, dx, deaths = paths
    logs = [pt.log(x) for x in (h, cum, dx, d, deaths, cum_deaths)]  # inputs.SLOT order
    return logs, logs[3] - logs[0]


def build_model(inputs: SynthesisInputs) -> pm.Model:
    """The PyMC model of both targets (see the module docstring)."""
    cfg = inputs.config
    targets, countries, years = list(inputs.targets), list(inputs.countries), inputs.years
    n_c, n_t = len(countries), len(years)
    t_ref = int(REF_YEAR - years[0])
    pop = inputs.population.set_index("country").loc[countries]
    ev = inputs.evidence
    a = evidence_index(ev, inputs)
    log_cap = log_ceiling_index(inputs)
    coords = {"target": targets, "country": countries, "year": years, "evidence": ev.evidence_id.tolist()}
    if inputs.methods:
        coords["method"] = list(inputs.methods)
    dims3 = ("target", "country", "year")
    with pm.Model(coords=coords) as model:
        log_pop = pm.Normal(
            "log_population", np.log(pop.population.to_numpy(float)), pop.log_sd.to_numpy(float), dims="country"
        )
        tau = scale_prior("between_source_sd", cfg.between_source_sd)
        means, sds, mask, labels = detection_shocks(inputs)
        shift = pt.zeros((len(targets), n_c, n_t))
        if labels:
            model.add_coord("shock", labels)
            shift = shift + pt.tensordot(pm.Normal("detection_shock", means, sds, dims="shock"), mask, axes=1)
        ku, kh = targets.index("users"), targets.index("plhiv")
        log_u, log_r, logit_cov = _users(cfg.priors["users"], log_pop, log_cap[ku], inputs.floor[ku], shift[ku], t_ref)
        plhiv, log_share = _plhiv(cfg.priors["plhiv"], log_pop, log_cap[kh], shift[kh], t_ref)
        zero = pt.zeros((n_c, n_t))
        slots = [[log_u, log_r, *[zero] * (N_SLOTS - 2)], plhiv]
        if ku != 0:
            slots = slots[::-1]
        pm.Deterministic("log_true", pt.stack([s[0] for s in slots]), dims=dims3)
        log_detection = [log_r - log_u, log_share]
        pm.Deterministic("log_detection", pt.stack(log_detection if ku == 0 else log_detection[::-1]), dims=dims3)
        cells = pt.concatenate([pt.stack(s).ravel() for s in slots])
        sums = pt.concatenate([pt.logsumexp(s[q], axis=0) for s in slots for q in (0, 1)])
        flat = pt.concatenate([cells, sums])
        # evidence: one flat vector of model quantities, gathered by index. The figures are
        # pm.Data so a compiled model can be refitted to simulated figures (benchmarks/sbc.py).
        y_obs = pm.Data("evidence_log_mu", a["log_mu"], dims="evidence")
        y_sd = pm.Data("evidence_log_sd", a["log_sd"], dims="evidence")
        q = a["quantity"]
        treated = pm.Normal("log_treated_vs_registered", 0, cfg.treated_vs_registered_sd) if (q == 1).any() else 0.0
        model_mu = flat[a["first"]] - flat[a["second"]] * a["ratio"] + treated * (q == 1)
        if inputs.methods:
            b_mu, b_sd = method_priors(inputs)
            bias = pm.Deterministic(
                "method_bias", b_mu + b_sd * pm.Normal("method_bias_z", 0.0, 1.0, dims="method"), dims="method"
            )
            has = a["method"] >= 0
            model_mu = model_mu + pt.where(has, bias[np.maximum(a["method"], 0)], 0.0)
        model_mu = pm.Deterministic("evidence_model", model_mu, dims="evidence")
        scale = pt.where(
            a["register"] == SCALE_COUNT,
            cfg.register_log_sd,
            pt.where(a["register"] == SCALE_STATED, y_sd, pt.sqrt(y_sd**2 + tau**2)),
        )
        scale = pm.Deterministic("evidence_scale", scale, dims="evidence")
        sign = bound_sign(ev)
        # +1 "at least X", -1 "at most X"; data, so simulated sources may state either (simulate.py)
        sign = pm.Data("evidence_bound_sign", sign[sign != 0]) if (sign != 0).any() else sign[:0]
        likelihood = evidence_likelihood(model_mu, scale, y_obs, sign, a["likelihood"], cfg.student_t_nu)
        for name, (_, dist, observed) in likelihood.items():
            model.register_rv(dist, name, observed=observed)
    return model
