"""The synthesis' log density and its gradient, written by hand in numba: what nutpie samples.

Why by hand: PyMC's model (``model.build_model``, the definition) compiles through PyTensor
into numba code that took 70 s on an empty cache and 30 s again after any edit of a prior or an
evidence row, because those are constants of the compiled graph (benchmarks/results/fit_time.md).
Here the same density is one fixed numba function, disk-cached next to this file (``cache=True``),
and everything that varies (dimensions, priors, evidence, populations, floors, ceilings) is a
run-time float vector ``blob``; editing models/prevalence.toml or data/ never recompiles.

The two must agree: tests/test_density.py checks log density and gradient against PyMC's own
``model.logp()`` and its gradient at random points, in every variable. Change one, change both.

Layout. ``x`` is the unconstrained parameter vector: the free variables of ``build_model`` in
``PARAMS`` order, each flattened (country, year order), scales on the log scale (PyMC's log
transform, whose Jacobian makes a log-normal prior a normal prior on the log). ``blob`` holds a
header (``H_*`` slots: sizes, constants, and the offset of every parameter and data segment), then
the segments. ``sampler.py`` writes it; the functions here only read it.

The generative story is documented in model.py: users bounded between floor and ceiling with a
smooth dynamic and a register coverage; PLHIV a stock with flows, whose gradient runs backwards
through the years (``_plhiv_adjoint``). The evidence likelihood (Student-t, and the logistic
censored bound as ``-softplus``) is model.evidence_likelihood's.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# free variables, in x order (build_model's order); "log" ones are scales sampled on the log scale
PARAMS = (
    "log_population",
    "between_source_sd",
    "detection_shock",
    "users_logit_level_mean",
    "users_level_country_sd",
    "users_level_z",
    "users_slope_mean",
    "users_slope_country_sd",
    "users_slope_z",
    "users_walk_sd",
    "users_walk_z",
    "users_logit_detection_mean",
    "users_detection_country_sd",
    "users_register_level",
    "users_detection_walk_sd",
    "users_detection_walk_z",
    "plhiv_logit_initial_mean",
    "plhiv_initial_country_sd",
    "plhiv_initial_z",
    "plhiv_logit_incidence_mean",
    "plhiv_incidence_country_sd",
    "plhiv_incidence",
    "plhiv_onset_mean",
    "plhiv_onset_country_sd",
    "plhiv_onset",
    "plhiv_rise_mean",
    "plhiv_rise_country_sd",
    "plhiv_rise",
    "plhiv_incidence_walk_sd",
    "plhiv_incidence_walk_z",
    "plhiv_logit_detection_mean",
    "plhiv_detection_country_sd",
    "plhiv_detection_z",
    "plhiv_detection_walk_sd",
    "plhiv_detection_walk_z",
    "plhiv_mortality",
    "log_treated_vs_registered",
    "method_bias_z",
)
(
    P_POP,
    P_TAU,
    P_SHOCK,
    P_U_LMU,
    P_U_LSD,
    P_U_LZ,
    P_U_SMU,
    P_U_SSD,
    P_U_SZ,
    P_U_WSD,
    P_U_WZ,
    P_U_DMU,
    P_U_DSD,
    P_U_DZ,
    P_U_DWSD,
    P_U_DWZ,
    P_H_IMU,
    P_H_ISD,
    P_H_IZ,
    P_H_NMU,
    P_H_NSD,
    P_H_NZ,
    P_H_OMU,
    P_H_OSD,
    P_H_OZ,
    P_H_RMU,
    P_H_RSD,
    P_H_RZ,
    P_H_NWSD,
    P_H_NWZ,
    P_H_DMU,
    P_H_DSD,
    P_H_DZ,
    P_H_DWSD,
    P_H_DWZ,
    P_H_MU,
    P_TREAT,
    P_BIAS,
) = range(len(PARAMS))
LOG_SCALED = frozenset(
    PARAMS[p]
    for p in (
        P_TAU,
        P_U_LSD,
        P_U_SSD,
        P_U_WSD,
        P_U_DSD,
        P_U_DWSD,
        P_H_ISD,
        P_H_NSD,
        P_H_OSD,
        P_H_RSD,
        P_H_NWSD,
        P_H_DSD,
        P_H_DWSD,
        P_H_MU,
    )
)
#: the standardised pooled country effects (effect = mean + sd * z)
POOLED = (
    *(f"{n}_z" for n in ("users_level", "users_slope", "plhiv_initial", "plhiv_detection")),
    "users_register_level",  # centred: the users level plus the logit register coverage (model._users)
    "plhiv_incidence",  # centred (model._plhiv)
    "plhiv_onset",  # centred (model._plhiv)
    "plhiv_rise",  # centred (model._plhiv)
)
#: the scalar parameters with a prior from models/prevalence.toml: (parameter, [users|plhiv] key);
#: their (loc, scale) are rows of the blob's prior_loc / prior_scale, log median for scales
PRIORS = (
    (P_U_LMU, "users", "logit_level_mean"),
    (P_U_LSD, "users", "level_country_sd"),
    (P_U_SMU, "users", "slope_mean"),
    (P_U_SSD, "users", "slope_country_sd"),
    (P_U_WSD, "users", "walk_sd"),
    (P_U_DMU, "users", "logit_detection_mean"),
    (P_U_DSD, "users", "detection_country_sd"),
    (P_U_DWSD, "users", "detection_walk_sd"),
    (P_H_IMU, "plhiv", "logit_initial_mean"),
    (P_H_ISD, "plhiv", "initial_country_sd"),
    (P_H_NMU, "plhiv", "logit_incidence_mean"),
    (P_H_NSD, "plhiv", "incidence_country_sd"),
    (P_H_OMU, "plhiv", "onset_mean"),
    (P_H_OSD, "plhiv", "onset_country_sd"),
    (P_H_RMU, "plhiv", "rise_mean"),
    (P_H_RSD, "plhiv", "rise_country_sd"),
    (P_H_NWSD, "plhiv", "incidence_walk_sd"),
    (P_H_DMU, "plhiv", "logit_detection_mean"),
    (P_H_DSD, "plhiv", "detection_country_sd"),
    (P_H_DWSD, "plhiv", "detection_walk_sd"),
    (P_H_MU, "plhiv", "mortality"),
)
PRIOR_PARAMS = np.array([p for p, _, _ in PRIORS], dtype=np.int64)
# deterministic quantities written after the parameters by expand()
DETERMINISTICS = ("log_true", "log_detection", "method_bias", "evidence_model", "evidence_scale")
# data segments of the blob
DATA = (
    "pop_mu",
    "pop_sd",
    "prior_loc",
    "prior_scale",
    "shock_mu",
    "shock_sd",
    "shock_mask",
    "cap_share",
    "floor",
    "bias_mu",
    "bias_sd",
    "ev_y",
    "ev_sd",
    "ev_sign",
    "ev_first",
    "ev_second",
    "ev_quantity",
    "ev_kind",
    "ev_method",
    "ev_register",
    "ev_ratio",
)
(
    D_POP_MU,
    D_POP_SD,
    D_PRIOR_LOC,
    D_PRIOR_SCALE,
    D_SHOCK_MU,
    D_SHOCK_SD,
    D_SHOCK_MASK,
    D_CAP_SHARE,
    D_FLOOR,
    D_BIAS_MU,
    D_BIAS_SD,
    D_EV_Y,
    D_EV_SD,
    D_EV_SIGN,
    D_EV_FIRST,
    D_EV_SECOND,
    D_EV_Q,
    D_EV_KIND,
    D_EV_METHOD,
    D_EV_REGISTER,
    D_EV_RATIO,
) = range(len(DATA))
# header slots
(
    H_LEN,
    H_NDIM,
    H_NEXP,
    H_C,
    H_T,
    H_S,
    H_E,
    H_M,
    H_TREF,
    H_REG_SD,
    H_NU,
    H_TREAT_SD,
    H_TAU_LOC,
    H_TAU_SCALE,
    H_LOGISTIC,
    H_RISE_W,
) = range(16)
H_PARAM = 16  # offsets of the PARAMS segments in x, and their end
H_DATA = H_PARAM + len(PARAMS) + 1  # offsets of the DATA segments in blob
HEADER = H_DATA + len(DATA)
N_SLOTS = 6  # inputs.N_SLOTS: per cell, true / register / new / living / deaths / deaths so far
KIND_POINT, KIND_BOUND = 0, 1  # inputs.LIKELIHOOD_CODE
Q_TREATED = 1  # inputs.QUANTITY_CODE
SCALE_ESTIMATE, SCALE_COUNT, SCALE_STATED = 0, 1, 2  # inputs.SCALE_*

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

# Compile-time notes (an empty cache compiles this whole module in ~10 s on 2 cores):
# helpers take run-time ints (offsets read from the blob), never module constants, because numba
# compiles a separate copy of a function for every literal argument value; and there is no slice
# assignment or array-wide ufunc, whose error-reporting code alone took seconds to compile.
jit = numba.njit(cache=True, error_model="numpy")


@jit
def _softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


@jit
def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@jit
def _normal_lp(v, loc, scale):
    z = (v - loc) / scale
    return -HALF_LOG_2PI - math.log(scale) - 0.5 * z * z


@jit
def _offsets(blob, first, n):
    """n offsets stored from header slot ``first`` on, as an int array."""
    out = np.empty(n, dtype=np.int64)
    for j in range(n):
        out[j] = int(blob[first + j])
    return out


@jit
def _unit_walk(x, start, T, t_ref, out, base):
    """A unit random walk pinned to 0 at t_ref, steps x[start + t]: out[base + t] (model._walk / sd)."""
    out[base + t_ref] = 0.0
    for t in range(t_ref + 1, T):
        out[base + t] = out[base + t - 1] + x[start + t]
    for t in range(t_ref - 1, -1, -1):
        out[base + t] = out[base + t + 1] - x[start + t + 1]


@jit
def _walk_adjoint(g_path, T, t_ref, g, start):
    """Gradient of a pinned unit walk (path[t_ref] = 0, steps z[t]) into g[start + t], given g_path."""
    acc = 0.0
    for t in range(T - 1, t_ref, -1):
        acc += g_path[t]
        g[start + t] += acc
    acc = 0.0
    for t in range(1, t_ref + 1):
        acc += g_path[t - 1]
        g[start + t] -= acc


@jit
def _effect(x, mu_at, sd_at, z_at, c):
    """A pooled country effect: mean + sd * z[c] (sd sampled on the log scale; z ~ Normal(0, 1))."""
    return x[mu_at] + math.exp(x[sd_at]) * x[z_at + c]


@jit
def _centred_prior(x, g, at, mu_at, sd_at, C):
    """log Normal(x[at + c] | x[mu_at], exp(x[sd_at])) over countries c, its gradient added to g."""
    mu, sd = x[mu_at], math.exp(x[sd_at])
    lp = 0.0
    for c in range(C):
        dev = x[at + c] - mu
        lp += _normal_lp(dev, 0.0, sd)
        g[at + c] -= dev / sd**2
        g[mu_at] += dev / sd**2
        g[sd_at] += -1.0 + dev * dev / sd**2
    return lp


@jit
def _effect_adjoint(x, g, mu_at, sd_at, z_at, c, g_effect):
    sd = math.exp(x[sd_at])
    g[mu_at] += g_effect
    g[z_at + c] += g_effect * sd
    g[sd_at] += g_effect * x[z_at + c] * sd


@jit
def _needed(blob, od, C, T, E, size):
    """Which entries of ``flat`` the evidence reads: the cells it names, and the country cells of
    every regional sum it names (inputs.evidence_index). The log density computes only these."""
    n = C * T
    base = N_SLOTS * n
    need = np.zeros(size, dtype=np.bool_)
    for e in range(E):
        need[int(blob[od[D_EV_FIRST] + e])] = True
        if blob[od[D_EV_RATIO] + e] > 0:
            need[int(blob[od[D_EV_SECOND] + e])] = True
    for k in range(2):
        for q in range(2):
            for t in range(T):
                if need[2 * base + (k * 2 + q) * T + t]:
                    for c in range(C):
                        need[k * base + q * n + c * T + t] = True
    return need


@jit
def _forward(x, blob, op, od, full):
    """Every latent quantity of one parameter point. Cell arrays are flat in (country, year) order;
    ``flat`` is the vector the evidence reads (inputs.evidence_index). With ``full`` False only the
    entries of ``flat`` that the evidence reads are computed (the log density's case: the others
    are left at 0 and do not enter it); ``expand`` asks for all of them."""
    C, T, S, E, t_ref = int(blob[H_C]), int(blob[H_T]), int(blob[H_S]), int(blob[H_E]), int(blob[H_TREF])
    M = int(blob[H_M])
    n = C * T
    base = N_SLOTS * n
    tau = math.exp(x[op[P_TAU]])
    flat = np.zeros(2 * base + 4 * T)
    need = np.ones(flat.size, dtype=np.bool_) if full else _needed(blob, od, C, T, E, flat.size)
    # known breaks: shift[k * n + cell]
    shift = np.zeros(2 * n)
    for j in range(S):
        for cell in range(2 * n):
            shift[cell] += x[op[P_SHOCK] + j] * blob[od[D_SHOCK_MASK] + j * 2 * n + cell]
    walk_u, walk_ud = np.empty(n), np.empty(n)
    walk_hn, walk_hd = np.empty(n), np.empty(n)
    for c in range(C):
        _unit_walk(x, op[P_U_WZ] + c * T, T, t_ref, walk_u, c * T)
        _unit_walk(x, op[P_U_DWZ] + c * T, T, t_ref, walk_ud, c * T)
        _unit_walk(x, op[P_H_NWZ] + c * T, T, t_ref, walk_hn, c * T)
        _unit_walk(x, op[P_H_DWZ] + c * T, T, t_ref, walk_hd, c * T)
    w_u, w_ud = math.exp(x[op[P_U_WSD]]), math.exp(x[op[P_U_DWSD]])
    w_hn, w_hd = math.exp(x[op[P_H_NWSD]]), math.exp(x[op[P_H_DWSD]])
    mu = math.exp(x[op[P_H_MU]])
    pop = np.empty(C)
    for c in range(C):
        pop[c] = math.exp(x[op[P_POP] + c])
    # users: U = F + (cap - F) * sigmoid(z); register = U * sigmoid(logit_d); only where read
    s_u, cap_u, logit_ud, u = np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n)
    for c in range(C):
        level = _effect(x, op[P_U_LMU], op[P_U_LSD], op[P_U_LZ], c)
        slope = _effect(x, op[P_U_SMU], op[P_U_SSD], op[P_U_SZ], c)
        beta = x[op[P_U_DZ] + c] - level  # register coverage relative to the level (model._users)
        for t in range(T):
            cell = c * T + t
            if not (need[cell] or need[n + cell]):
                continue
            s_u[cell] = _sigmoid(level + slope * (t - t_ref) + w_u * walk_u[cell])
            cap_u[cell] = pop[c] * blob[od[D_CAP_SHARE] + cell]
            floor = blob[od[D_FLOOR] + cell]
            u[cell] = floor + (cap_u[cell] - floor) * s_u[cell]
            log_u = math.log(u[cell])
            flat[cell] = log_u
            if need[n + cell]:
                logit_ud[cell] = beta + w_ud * walk_ud[cell] + shift[cell]
                flat[n + cell] = log_u - _softplus(-logit_ud[cell])
    # plhiv: the stock and its flows, year by year (model._plhiv)
    p_inf, p_dx, cap_h = np.empty(n), np.empty(n), np.empty(n)
    h, d, cum, cdd = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    dx, dd, s_0 = np.empty(n), np.empty(n), np.empty(C)
    width = blob[H_RISE_W]
    for c in range(C):
        iota = x[op[P_H_NZ] + c]  # centred (model._plhiv)
        onset = x[op[P_H_OZ] + c]  # centred (model._plhiv)
        rise = x[op[P_H_RZ] + c]
        at_ref = _sigmoid(-onset / width)
        delta = _effect(x, op[P_H_DMU], op[P_H_DSD], op[P_H_DZ], c)
        for t in range(T):
            cell = c * T + t
            take_off = _sigmoid((t - t_ref - onset) / width) - at_ref
            p_inf[cell] = _sigmoid(iota + rise * take_off + w_hn * walk_hn[cell])
            p_dx[cell] = _sigmoid(delta + w_hd * walk_hd[cell] + shift[n + cell])
            cap_h[cell] = pop[c] * blob[od[D_CAP_SHARE] + n + cell]
        b = c * T
        s_0[c] = _sigmoid(_effect(x, op[P_H_IMU], op[P_H_ISD], op[P_H_IZ], c))
        h[b] = cap_h[b] * s_0[c]
        d[b] = p_dx[b] * h[b]
        cum[b], dx[b] = d[b], d[b]
        dd[b] = mu * d[b]
        cdd[b] = dd[b]
        for t in range(1, T):
            i = b + t
            h_s, d_s = h[i - 1] * (1 - mu), d[i - 1] * (1 - mu)
            h[i] = h_s + (cap_h[i] - h_s) * p_inf[i]
            dx[i] = p_dx[i] * (h[i] - d_s)
            d[i] = d_s + dx[i]
            cum[i] = cum[i - 1] + dx[i]
            dd[i] = mu * d[i - 1]
            cdd[i] = cdd[i - 1] + dd[i]
    stocks = (h, cum, dx, d, dd, cdd)  # inputs.SLOT order
    for q in range(N_SLOTS):
        for cell in range(n):
            if need[base + q * n + cell]:
                flat[base + q * n + cell] = math.log(stocks[q][cell])
    # regional sums of slots 0 and 1: (target, slot, year)
    for k in range(2):
        for q in range(2):
            for t in range(T):
                if not need[2 * base + (k * 2 + q) * T + t]:
                    continue
                top = -np.inf
                for c in range(C):
                    top = max(top, flat[k * base + q * n + c * T + t])
                acc = 0.0
                for c in range(C):
                    acc += math.exp(flat[k * base + q * n + c * T + t] - top)
                flat[2 * base + (k * 2 + q) * T + t] = top + math.log(acc)
    bias = np.empty(M)
    for m in range(M):
        bias[m] = blob[od[D_BIAS_MU] + m] + blob[od[D_BIAS_SD] + m] * x[op[P_BIAS] + m]
    treated = x[op[P_TREAT]] if op[P_TREAT] < op[P_TREAT + 1] else 0.0
    model_mu, scale = np.empty(E), np.empty(E)
    for e in range(E):
        q = int(blob[od[D_EV_Q] + e])
        model_mu[e] = flat[int(blob[od[D_EV_FIRST] + e])]
        if blob[od[D_EV_RATIO] + e] > 0:
            model_mu[e] -= flat[int(blob[od[D_EV_SECOND] + e])]
        if q == Q_TREATED:
            model_mu[e] += treated
        m = int(blob[od[D_EV_METHOD] + e])
        if m >= 0:
            model_mu[e] += bias[m]
        rule = int(blob[od[D_EV_REGISTER] + e])
        if rule == SCALE_COUNT:
            scale[e] = blob[H_REG_SD]
        elif rule == SCALE_STATED:
            scale[e] = blob[od[D_EV_SD] + e]
        else:
            scale[e] = math.sqrt(blob[od[D_EV_SD] + e] ** 2 + tau * tau)
    return (
        flat,
        model_mu,
        scale,
        bias,
        (s_u, cap_u, logit_ud, walk_u, walk_ud, u, need),
        (p_inf, p_dx, cap_h, h, d, cum, cdd, dx, dd, s_0, walk_hn, walk_hd),
    )


@jit
def _normal_prior(x, g, start, n, loc, scale):
    """Normal(loc, scale) prior on x[start:start + n]; adds its gradient to g, returns its logp."""
    ss = 0.0
    for j in range(n):
        z = (x[start + j] - loc) / scale
        ss += z * z
        g[start + j] -= z / scale
    return -n * (HALF_LOG_2PI + math.log(scale)) - 0.5 * ss


@jit
def _walk_back(g_cell, x, g, op, sd_at, z_at, walk, C, T, t_ref):
    """Gradients of sd * unit walk[c, t] (walk sd on the log scale) given g_cell on the cells."""
    sd = math.exp(x[sd_at])
    g_path = np.empty(T)
    for c in range(C):
        for t in range(T):
            cell = c * T + t
            g[sd_at] += g_cell[cell] * walk[cell] * sd
            g_path[t] = g_cell[cell] * sd
        _walk_adjoint(g_path, T, t_ref, g, z_at + c * T)


@jit
def _country_back(g_cell, x, g, mu_at, sd_at, z_at, C, T, weight):
    """Gradient of a pooled country effect added to every year of the cells (times weight[t] if given)."""
    for c in range(C):
        acc = 0.0
        for t in range(T):
            acc += g_cell[c * T + t] * (weight[t] if weight.size else 1.0)
        _effect_adjoint(x, g, mu_at, sd_at, z_at, c, acc)


@jit
def _plhiv_adjoint(g_flat, x, g, op, od, blob, state, C, T, g_logit_dx, g_iota):
    """Back through the PLHIV stock and flows, year by year in reverse; fills the gradients of the
    incidence and diagnosis logits (g_iota, g_logit_dx, per cell), of the mortality, the initial
    share and the log populations."""
    p_inf, p_dx, cap_h, h, d, cum, cdd, dx, dd, s_0, walk_hn, walk_hd = state
    n = C * T
    base = N_SLOTS * n
    mu = math.exp(x[op[P_H_MU]])
    g_mu = 0.0
    for c in range(C):
        b = c * T
        # adjoints carried from year t + 1 to the state of year t
        a_h, a_d, a_cum, a_cdd = 0.0, 0.0, 0.0, 0.0
        for t in range(T - 1, -1, -1):
            i = b + t
            bar_h = a_h + g_flat[base + i] / h[i]
            bar_cum = a_cum + g_flat[base + n + i] / cum[i]
            bar_dx = g_flat[base + 2 * n + i] / dx[i]
            bar_d = a_d + g_flat[base + 3 * n + i] / d[i]
            bar_dd = g_flat[base + 4 * n + i] / dd[i]
            bar_cdd = a_cdd + g_flat[base + 5 * n + i] / cdd[i]
            if t == 0:
                # h = cap * s_0, d = cum = dx = p_dx * h, dd = cdd = mu * d
                bar_dd += bar_cdd
                g_mu += bar_dd * d[i]
                bar_d += bar_cum + bar_dx + bar_dd * mu
                g_logit_dx[i] += bar_d * h[i] * p_dx[i] * (1 - p_dx[i])
                bar_h += bar_d * p_dx[i]
                g[op[P_POP] + c] += bar_h * h[i]
                g_s0 = bar_h * cap_h[i] * s_0[c] * (1 - s_0[c])
                _effect_adjoint(x, g, op[P_H_IMU], op[P_H_ISD], op[P_H_IZ], c, g_s0)
                continue
            h_prev, d_prev = h[i - 1], d[i - 1]
            h_s, d_s = h_prev * (1 - mu), d_prev * (1 - mu)
            # cdd = cdd_prev + dd; dd = mu * d_prev
            a_cdd = bar_cdd
            bar_dd += bar_cdd
            # cum = cum_prev + dx
            a_cum = bar_cum
            bar_dx += bar_cum
            # d = d_s + dx
            bar_d_s = bar_d
            bar_dx += bar_d
            # dx = p_dx * (h - d_s)
            g_logit_dx[i] += bar_dx * (h[i] - d_s) * p_dx[i] * (1 - p_dx[i])
            bar_h += bar_dx * p_dx[i]
            bar_d_s -= bar_dx * p_dx[i]
            # h = h_s + (cap - h_s) * p_inf
            bar_h_s = bar_h * (1 - p_inf[i])
            g[op[P_POP] + c] += bar_h * p_inf[i] * cap_h[i]
            g_iota[i] += bar_h * (cap_h[i] - h_s) * p_inf[i] * (1 - p_inf[i])
            # h_s = h_prev (1 - mu), d_s = d_prev (1 - mu), dd = mu d_prev
            a_h = bar_h_s * (1 - mu)
            a_d = bar_d_s * (1 - mu) + bar_dd * mu
            g_mu += -bar_h_s * h_prev - bar_d_s * d_prev + bar_dd * d_prev
    g[op[P_H_MU]] += g_mu * mu


@jit
def logp_grad(x, blob, g):
    """Log density (PyMC's ``model.logp()``, constants included) at x; writes its gradient into g."""
    C, T, S, E, t_ref = int(blob[H_C]), int(blob[H_T]), int(blob[H_S]), int(blob[H_E]), int(blob[H_TREF])
    M = int(blob[H_M])
    op, od = _offsets(blob, H_PARAM, len(PARAMS) + 1), _offsets(blob, H_DATA, len(DATA))
    n = C * T
    base = N_SLOTS * n
    flat, model_mu, scale, bias, users, plhiv = _forward(x, blob, op, od, False)
    s_u, cap_u, logit_ud, walk_u, walk_ud, u, need = users
    tau = math.exp(x[op[P_TAU]])
    for j in range(x.size):
        g[j] = 0.0
    lp = 0.0
    # evidence
    nu, logistic = blob[H_NU], blob[H_LOGISTIC]
    t_const = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    g_flat = np.zeros(flat.size)
    g_tau, g_treat = 0.0, 0.0
    for e in range(E):
        m, s, y, kind = model_mu[e], scale[e], blob[od[D_EV_Y] + e], int(blob[od[D_EV_KIND] + e])
        if kind == KIND_POINT:
            r = (y - m) / s
            lp += t_const - math.log(s) - (nu + 1) / 2 * math.log1p(r * r / nu)
            g_m = (nu + 1) * r / (s * (nu + r * r))
            g_s = -1.0 / s + (nu + 1) * r * r / (s * (nu + r * r))
        else:
            sign = blob[od[D_EV_SIGN] + e]
            z = sign * (m - y) / s
            lp -= _softplus(-logistic * z)
            w = logistic * _sigmoid(-logistic * z)
            g_m, g_s = w * sign / s, -w * z / s
        q = int(blob[od[D_EV_Q] + e])
        g_flat[int(blob[od[D_EV_FIRST] + e])] += g_m
        if blob[od[D_EV_RATIO] + e] > 0:
            g_flat[int(blob[od[D_EV_SECOND] + e])] -= g_m
        if q == Q_TREATED:
            g_treat += g_m
        mi = int(blob[od[D_EV_METHOD] + e])
        if mi >= 0:
            g[op[P_BIAS] + mi] += g_m * blob[od[D_BIAS_SD] + mi]
        if int(blob[od[D_EV_REGISTER] + e]) == SCALE_ESTIMATE:
            g_tau += g_s * tau / s
    # back through the regional sums (softmax weights)
    for k in range(2):
        for q in range(2):
            for t in range(T):
                gs = g_flat[2 * base + (k * 2 + q) * T + t]
                if gs != 0.0:
                    total = flat[2 * base + (k * 2 + q) * T + t]
                    for c in range(C):
                        cell = k * base + q * n + c * T + t
                        g_flat[cell] += gs * math.exp(flat[cell] - total)
    # users: log U = log(F + (cap - F) s), log R = log U - softplus(-logit_d)
    # (only the cells the evidence reads: elsewhere both gradients are 0)
    g_z, g_ld = np.zeros(n), np.zeros(n)
    for cell in range(n):
        if not (need[cell] or need[n + cell]):
            continue
        c = cell // T
        g_log_u = g_flat[cell] + g_flat[n + cell]
        floor = blob[od[D_FLOOR] + cell]
        g_z[cell] = g_log_u * (cap_u[cell] - floor) * s_u[cell] * (1 - s_u[cell]) / u[cell]
        g[op[P_POP] + c] += g_log_u * cap_u[cell] * s_u[cell] / u[cell]
        if need[n + cell]:
            g_ld[cell] = g_flat[n + cell] * _sigmoid(-logit_ud[cell])
    trend = np.empty(T)
    for t in range(T):
        trend[t] = t - t_ref
    _country_back(g_z, x, g, op[P_U_LMU], op[P_U_LSD], op[P_U_LZ], C, T, trend[:0])
    _country_back(g_z, x, g, op[P_U_SMU], op[P_U_SSD], op[P_U_SZ], C, T, trend)
    _walk_back(g_z, x, g, op, op[P_U_WSD], op[P_U_WZ], walk_u, C, T, t_ref)
    for c in range(C):  # beta = register level - users level
        g_beta = 0.0
        for t in range(T):
            g_beta += g_ld[c * T + t]
        g[op[P_U_DZ] + c] += g_beta
        _effect_adjoint(x, g, op[P_U_LMU], op[P_U_LSD], op[P_U_LZ], c, -g_beta)
    _walk_back(g_ld, x, g, op, op[P_U_DWSD], op[P_U_DWZ], walk_ud, C, T, t_ref)
    # plhiv
    g_ldx, g_iota = np.zeros(n), np.zeros(n)
    _plhiv_adjoint(g_flat, x, g, op, od, blob, plhiv, C, T, g_ldx, g_iota)
    walk_hn, walk_hd = plhiv[10], plhiv[11]
    width = blob[H_RISE_W]
    for c in range(C):  # iota = incidence + rise * (s((t - t_ref - onset) / w) - s(-onset / w)) + walk
        onset = x[op[P_H_OZ] + c]
        rise = x[op[P_H_RZ] + c]
        at_ref = _sigmoid(-onset / width)
        g_rise, g_onset = 0.0, 0.0
        for t in range(T):
            gi = g_iota[c * T + t]
            g[op[P_H_NZ] + c] += gi
            a = _sigmoid((t - t_ref - onset) / width)
            g_rise += gi * (a - at_ref)
            g_onset += gi * rise * (at_ref * (1 - at_ref) - a * (1 - a)) / width
        g[op[P_H_RZ] + c] += g_rise
        g[op[P_H_OZ] + c] += g_onset
    _walk_back(g_iota, x, g, op, op[P_H_NWSD], op[P_H_NWZ], walk_hn, C, T, t_ref)
    _country_back(g_ldx, x, g, op[P_H_DMU], op[P_H_DSD], op[P_H_DZ], C, T, trend[:0])
    _walk_back(g_ldx, x, g, op, op[P_H_DWSD], op[P_H_DWZ], walk_hd, C, T, t_ref)
    for j in range(S):
        acc = 0.0
        for cell in range(n):
            acc += g_ld[cell] * blob[od[D_SHOCK_MASK] + j * 2 * n + cell]
            acc += g_ldx[cell] * blob[od[D_SHOCK_MASK] + j * 2 * n + n + cell]
        g[op[P_SHOCK] + j] += acc
    g[op[P_TAU]] += g_tau * tau
    if op[P_TREAT] < op[P_TREAT + 1]:
        g[op[P_TREAT]] += g_treat
        lp += _normal_prior(x, g, op[P_TREAT], 1, 0.0, blob[H_TREAT_SD])
    # priors
    for c in range(C):
        lp += _normal_prior(x, g, op[P_POP] + c, 1, blob[od[D_POP_MU] + c], blob[od[D_POP_SD] + c])
    lp += _normal_prior(x, g, op[P_TAU], 1, blob[H_TAU_LOC], blob[H_TAU_SCALE])
    for j in range(S):
        lp += _normal_prior(x, g, op[P_SHOCK] + j, 1, blob[od[D_SHOCK_MU] + j], blob[od[D_SHOCK_SD] + j])
    for r in range(PRIOR_PARAMS.size):
        lp += _normal_prior(x, g, op[PRIOR_PARAMS[r]], 1, blob[od[D_PRIOR_LOC] + r], blob[od[D_PRIOR_SCALE] + r])
    for p in (P_U_LZ, P_U_SZ, P_H_IZ, P_H_DZ):
        lp += _normal_prior(x, g, op[p], C, 0.0, 1.0)
    # incidence, onset and rise ~ Normal(mean, country sd), centred (model._plhiv)
    lp += _centred_prior(x, g, op[P_H_NZ], op[P_H_NMU], op[P_H_NSD], C)
    lp += _centred_prior(x, g, op[P_H_OZ], op[P_H_OMU], op[P_H_OSD], C)
    lp += _centred_prior(x, g, op[P_H_RZ], op[P_H_RMU], op[P_H_RSD], C)
    # register level ~ Normal(users level + coverage mean, coverage country sd)
    b_mu, b_sd = x[op[P_U_DMU]], math.exp(x[op[P_U_DSD]])
    for c in range(C):
        dev = x[op[P_U_DZ] + c] - _effect(x, op[P_U_LMU], op[P_U_LSD], op[P_U_LZ], c) - b_mu
        lp += _normal_lp(dev, 0.0, b_sd)
        g[op[P_U_DZ] + c] -= dev / b_sd**2
        _effect_adjoint(x, g, op[P_U_LMU], op[P_U_LSD], op[P_U_LZ], c, dev / b_sd**2)
        g[op[P_U_DMU]] += dev / b_sd**2
        g[op[P_U_DSD]] += -1.0 + dev * dev / b_sd**2
    for p in (P_U_WZ, P_U_DWZ, P_H_NWZ, P_H_DWZ):
        lp += _normal_prior(x, g, op[p], n, 0.0, 1.0)
    lp += _normal_prior(x, g, op[P_BIAS], M, 0.0, 1.0)
    return lp


@jit
def _log_scaled(p):
    return (
        p == P_TAU
        or p == P_U_LSD
        or p == P_U_SSD
        or p == P_U_WSD
        or p == P_U_DSD
        or p == P_U_DWSD
        or p == P_H_ISD
        or p == P_H_NSD
        or p == P_H_OSD
        or p == P_H_RSD
        or p == P_H_NWSD
        or p == P_H_DSD
        or p == P_H_DWSD
        or p == P_H_MU
    )


@jit
def _put(out, pos, values, n):
    for j in range(n):
        out[pos + j] = values[j]
    return pos + n


@jit
def expand(x, blob, out):
    """The trace values of x: every PARAMS variable on its own scale, then the DETERMINISTICS
    (log_true and log_detection as (target, country, year): users' register coverage, PLHIV's
    diagnosed share)."""
    C, T, E, M = int(blob[H_C]), int(blob[H_T]), int(blob[H_E]), int(blob[H_M])
    op, od = _offsets(blob, H_PARAM, len(PARAMS) + 1), _offsets(blob, H_DATA, len(DATA))
    flat, model_mu, scale, bias, users, plhiv = _forward(x, blob, op, od, True)
    n = C * T
    base = N_SLOTS * n
    pos = 0
    for p in range(len(PARAMS)):
        for j in range(op[p], op[p + 1]):
            out[pos] = math.exp(x[j]) if _log_scaled(p) else x[j]
            pos += 1
    for cell in range(n):
        out[pos + cell] = flat[cell]
        out[pos + n + cell] = flat[base + cell]
    pos += 2 * n
    for cell in range(n):
        out[pos + cell] = flat[n + cell] - flat[cell]
        out[pos + n + cell] = flat[base + 3 * n + cell] - flat[base + cell]
    pos += 2 * n
    pos = _put(out, pos, bias, M)
    pos = _put(out, pos, model_mu, E)
    return _put(out, pos, scale, E)


LOGP_SIGNATURE = numba.types.int64(
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.voidptr,
)
EXPAND_SIGNATURE = numba.types.int64(
    numba.types.uint64,
    numba.types.uint64,
    numba.types.CPointer(numba.types.double),
    numba.types.CPointer(numba.types.double),
    numba.types.voidptr,
)


@jit
def _blob_of(ptr):
    n = int(numba.carray(ptr, (1,), np.float64)[0])
    return numba.carray(ptr, (n,), np.float64)


@numba.cfunc(LOGP_SIGNATURE, cache=True)
def logp_cfunc(dim, x_, out_, logp_, blob_):
    """nutpie's C callback (the same contract as its PyMC wrapper): 0 ok, 3/4 non-finite gradient/logp."""
    blob = _blob_of(blob_)
    if dim != int(blob[H_NDIM]):
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (dim,))
    lp = logp_grad(x, blob, out)
    logp_[0] = lp
    for j in range(dim):
        if not math.isfinite(out[j]):
            return 3
    if not math.isfinite(lp):
        return 4
    return 0


@numba.cfunc(EXPAND_SIGNATURE, cache=True)
def expand_cfunc(dim, n_expanded, x_, out_, blob_):
    blob = _blob_of(blob_)
    if dim != int(blob[H_NDIM]) or n_expanded != int(blob[H_NEXP]):
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (n_expanded,))
    if expand(x, blob, out) != n_expanded:
        return -2
    return 0
