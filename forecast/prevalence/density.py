"""The synthesis' log density and its gradient, written by hand in numba: what nutpie samples.

Why by hand: PyMC's model (``model.build_model``, the definition) compiles through PyTensor
into numba code that took 70 s on an empty cache and 30 s again after any edit of a prior or an
evidence row, because those are constants of the compiled graph (benchmarks/results/fit_time.md).
Here the same density is one fixed numba function, disk-cached next to this file (``cache=True``),
and everything that varies (dimensions, priors, evidence, populations) is a run-time float vector
``blob``; editing models/prevalence.toml or data/ never recompiles.

The two must agree: tests/test_density.py checks log density and gradient against PyMC's own
``model.logp()`` and its gradient at random points, in every variable. Change one, change both.

Layout. ``x`` is the unconstrained parameter vector: the free variables of ``build_model`` in
``PARAMS`` order, each flattened (target, country, year order), scales on the log scale (PyMC's
log transform, whose Jacobian makes a log-normal prior a normal prior on the log). ``blob`` holds
a header (``H_*`` slots: sizes, constants, and the offset of every parameter and data segment),
then the segments. ``sampler.py`` writes it; the functions here only read it.

The generative story itself is documented in model.py; the evidence likelihood here (normal,
Student-t, and the logistic soft bound as ``-softplus``) is model.evidence_likelihood's.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# free variables, in x order; "log" ones are scales sampled on the log scale
PARAMS = (
    "log_population",
    "between_source_sd",
    "logit_detection_mean",
    "logit_detection_country_sd",
    "beta_z",
    "detection_walk_sd",
    "detection_walk_z",
    "detection_shock",
    "log_register_rate_mean",
    "log_register_rate_country_sd",
    "log_register_rate",
    "growth_mean",
    "growth_country_sd",
    "growth_z",
    "random_walk_sd",
    "walk_z",
    "log_treated_vs_registered",
)
(
    P_POP,
    P_TAU,
    P_BMU,
    P_BSD,
    P_BZ,
    P_DWSD,
    P_DWZ,
    P_SHOCK,
    P_RMU,
    P_RSD,
    P_RHO,
    P_GMU,
    P_GSD,
    P_GZ,
    P_RWSD,
    P_WZ,
    P_TREAT,
) = range(len(PARAMS))
LOG_SCALED = frozenset(PARAMS[p] for p in (P_TAU, P_BSD, P_DWSD, P_RSD, P_GSD, P_RWSD))  # _log_scaled() below
# deterministic quantities written after the parameters by expand()
DETERMINISTICS = ("log_detection", "growth", "log_true", "evidence_model", "evidence_scale")
# data segments of the blob
DATA = (
    "pop_mu",
    "pop_sd",
    "prior_loc",
    "prior_scale",
    "shock_mu",
    "shock_sd",
    "shock_mask",
    "ev_y",
    "ev_sd",
    "ev_sign",
    "ev_first",
    "ev_second",
    "ev_quantity",
    "ev_kind",
)
(
    D_POP_MU,
    D_POP_SD,
    D_PRIOR_LOC,
    D_PRIOR_SCALE,
    D_SHOCK_MU,
    D_SHOCK_SD,
    D_SHOCK_MASK,
    D_EV_Y,
    D_EV_SD,
    D_EV_SIGN,
    D_EV_FIRST,
    D_EV_SECOND,
    D_EV_Q,
    D_EV_KIND,
) = range(len(DATA))
# per-target priors, rows of prior_loc / prior_scale (K values each): normal (mean, sd) for the first
# three, log-normal (log median, log_sd) for the scales
PRIORS = (
    "log_register_rate_mean",
    "growth_mean",
    "logit_detection_mean",
    "log_register_rate_country_sd",
    "growth_country_sd",
    "random_walk_sd",
    "logit_detection_country_sd",
    "detection_walk_sd",
)
PR_RMU, PR_GMU, PR_BMU, PR_RSD, PR_GSD, PR_RWSD, PR_BSD, PR_DWSD = range(len(PRIORS))
# header slots
(
    H_LEN,
    H_NDIM,
    H_NEXP,
    H_K,
    H_C,
    H_T,
    H_S,
    H_E,
    H_TREF,
    H_REG_SD,
    H_NU,
    H_TREAT_SD,
    H_TAU_LOC,
    H_TAU_SCALE,
    H_LOGISTIC,
) = range(15)
H_PARAM = 15  # offsets of the PARAMS segments in x
H_DATA = H_PARAM + len(PARAMS)  # offsets of the DATA segments in blob
HEADER = H_DATA + len(DATA)
# evidence likelihoods: a register point figure (normal), another point figure (Student-t), a bound
KIND_REGISTER, KIND_ESTIMATE, KIND_BOUND = 0, 1, 2  # inputs.LIKELIHOOD_CODE
Q_TREATED, Q_MULTIPLIER = 1, 3  # inputs.QUANTITY_CODE

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

# Compile-time notes (an empty cache compiles this whole module in ~9 s on 2 cores, from 19 s before these rules):
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
def _exp(x, start, n):
    out = np.empty(n)
    for j in range(n):
        out[j] = math.exp(x[start + j])
    return out


@jit
def _forward(x, blob, op, od):
    """Every latent quantity of one parameter point (flat arrays, (target, country, year) order).

    ``op``/``od``: offsets of the parameter segments in x and of the data segments in blob."""
    K, C, T, S, E, t_ref = (
        int(blob[H_K]),
        int(blob[H_C]),
        int(blob[H_T]),
        int(blob[H_S]),
        int(blob[H_E]),
        int(blob[H_TREF]),
    )
    b_sd, dw_sd = _exp(x, op[P_BSD], K), _exp(x, op[P_DWSD], K)
    g_sd, rw_sd = _exp(x, op[P_GSD], K), _exp(x, op[P_RWSD], K)
    treated = x[op[P_TREAT]] if op[P_TREAT] < x.size else 0.0
    tau = math.exp(x[op[P_TAU]])
    n_cell = K * C * T
    logit_d, log_r = np.empty(n_cell), np.empty(n_cell)
    walk_d, walk_r = np.zeros(n_cell), np.zeros(n_cell)  # unit random walks pinned at the reference year
    growth = np.empty(K * C)
    for k in range(K):
        for c in range(C):
            i = k * C + c
            base = i * T
            growth[i] = x[op[P_GMU] + k] + g_sd[k] * x[op[P_GZ] + i]
            for t in range(t_ref + 1, T):
                walk_d[base + t] = walk_d[base + t - 1] + x[op[P_DWZ] + base + t]
                walk_r[base + t] = walk_r[base + t - 1] + x[op[P_WZ] + base + t]
            for t in range(t_ref - 1, -1, -1):
                walk_d[base + t] = walk_d[base + t + 1] - x[op[P_DWZ] + base + t + 1]
                walk_r[base + t] = walk_r[base + t + 1] - x[op[P_WZ] + base + t + 1]
            beta = x[op[P_BMU] + k] + b_sd[k] * x[op[P_BZ] + i]
            level = x[op[P_RHO] + i] + x[op[P_POP] + c]
            for t in range(T):
                logit_d[base + t] = beta + dw_sd[k] * walk_d[base + t]
                log_r[base + t] = level + growth[i] * (t - t_ref) + rw_sd[k] * walk_r[base + t]
    mask = od[D_SHOCK_MASK]
    for j in range(S):
        for cell in range(n_cell):
            logit_d[cell] += x[op[P_SHOCK] + j] * blob[mask + j * n_cell + cell]
    log_d = np.empty(n_cell)
    for cell in range(n_cell):
        log_d[cell] = -_softplus(-logit_d[cell])
    # the flat vector the evidence reads: [log N, log R, log sum_c N, log sum_c R] (inputs.evidence_index)
    flat = np.empty(2 * n_cell + 2 * K * T)
    for cell in range(n_cell):
        flat[cell] = log_r[cell] - log_d[cell]
        flat[n_cell + cell] = log_r[cell]
    for part in range(2):
        for k in range(K):
            for t in range(T):
                top = -np.inf
                for c in range(C):
                    top = max(top, flat[part * n_cell + (k * C + c) * T + t])
                acc = 0.0
                for c in range(C):
                    acc += math.exp(flat[part * n_cell + (k * C + c) * T + t] - top)
                flat[2 * n_cell + part * K * T + k * T + t] = top + math.log(acc)
    model_mu, scale = np.empty(E), np.empty(E)
    for e in range(E):
        q = int(blob[od[D_EV_Q] + e])
        model_mu[e] = flat[int(blob[od[D_EV_FIRST] + e])]
        if q == Q_MULTIPLIER:
            model_mu[e] -= flat[int(blob[od[D_EV_SECOND] + e])]
        if q == Q_TREATED:
            model_mu[e] += treated
        scale[e] = blob[H_REG_SD] if q <= Q_TREATED else math.sqrt(blob[od[D_EV_SD] + e] ** 2 + tau * tau)
    return logit_d, log_d, flat, walk_d, walk_r, growth, model_mu, scale, tau, (b_sd, dw_sd, g_sd, rw_sd)


@jit
def _normal_prior(x, g, start, n, loc, scale):
    """Normal(loc, scale) prior on x[start:start + n]; adds its gradient to g, returns its logp."""
    lp = 0.0
    for j in range(n):
        v = x[start + j]
        lp += _normal_lp(v, loc, scale)
        g[start + j] -= (v - loc) / (scale * scale)
    return lp


@jit
def _target_prior(x, g, start, blob, od, row, K):
    """The per-target prior ``row`` of PRIORS on the K values from x[start]."""
    lp = 0.0
    for k in range(K):
        lp += _normal_prior(
            x, g, start + k, 1, blob[od[D_PRIOR_LOC] + row * K + k], blob[od[D_PRIOR_SCALE] + row * K + k]
        )
    return lp


@jit
def _walk_adjoint(g_path, T, t_ref, g, start):
    """Gradient of a pinned walk (path[t_ref] = 0, steps z[t]) into g[start + t], given g_path."""
    acc = 0.0
    for t in range(T - 1, t_ref, -1):
        acc += g_path[t]
        g[start + t] += acc
    acc = 0.0
    for t in range(1, t_ref + 1):
        acc += g_path[t - 1]
        g[start + t] -= acc


@jit
def logp_grad(x, blob, g):
    """Log density (PyMC's ``model.logp()``, constants included) at x; writes its gradient into g."""
    K, C, T, S, E, t_ref = (
        int(blob[H_K]),
        int(blob[H_C]),
        int(blob[H_T]),
        int(blob[H_S]),
        int(blob[H_E]),
        int(blob[H_TREF]),
    )
    op, od = _offsets(blob, H_PARAM, len(PARAMS)), _offsets(blob, H_DATA, len(DATA))
    n_cell = K * C * T
    logit_d, log_d, flat, walk_d, walk_r, growth, model_mu, scale, tau, scales = _forward(x, blob, op, od)
    b_sd, dw_sd, g_sd, rw_sd = scales
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
        if kind == KIND_REGISTER:
            lp += _normal_lp(y, m, s)
            g_m, g_s = (y - m) / (s * s), 0.0
        elif kind == KIND_ESTIMATE:
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
        if q == Q_MULTIPLIER:
            g_flat[int(blob[od[D_EV_SECOND] + e])] -= g_m
        if q == Q_TREATED:
            g_treat += g_m
        if q > Q_TREATED:
            g_tau += g_s * tau / s
    # back through the regional sums (softmax weights) and N = R / d
    for part in range(2):
        for k in range(K):
            for t in range(T):
                gs = g_flat[2 * n_cell + part * K * T + k * T + t]
                if gs != 0.0:
                    total = flat[2 * n_cell + part * K * T + k * T + t]
                    for c in range(C):
                        cell = part * n_cell + (k * C + c) * T + t
                        g_flat[cell] += gs * math.exp(flat[cell] - total)
    g_log_r, g_logit = np.empty(n_cell), np.empty(n_cell)
    for cell in range(n_cell):
        g_log_r[cell] = g_flat[n_cell + cell] + g_flat[cell]
        g_logit[cell] = -g_flat[cell] * _sigmoid(-logit_d[cell])
    # back through the detection and register-rate paths, country by country
    g_path_d, g_path_r = np.empty(T), np.empty(T)
    for k in range(K):
        for c in range(C):
            i = k * C + c
            base = i * T
            sum_d, sum_r, sum_growth = 0.0, 0.0, 0.0
            for t in range(T):
                sum_d += g_logit[base + t]
                sum_r += g_log_r[base + t]
                sum_growth += g_log_r[base + t] * (t - t_ref)
                g[op[P_DWSD] + k] += g_logit[base + t] * walk_d[base + t] * dw_sd[k]
                g[op[P_RWSD] + k] += g_log_r[base + t] * walk_r[base + t] * rw_sd[k]
                g_path_d[t] = g_logit[base + t] * dw_sd[k]
                g_path_r[t] = g_log_r[base + t] * rw_sd[k]
            g[op[P_BMU] + k] += sum_d
            g[op[P_BZ] + i] += sum_d * b_sd[k]
            g[op[P_BSD] + k] += sum_d * x[op[P_BZ] + i] * b_sd[k]
            g[op[P_RHO] + i] += sum_r
            g[op[P_POP] + c] += sum_r
            g[op[P_GMU] + k] += sum_growth
            g[op[P_GZ] + i] += sum_growth * g_sd[k]
            g[op[P_GSD] + k] += sum_growth * x[op[P_GZ] + i] * g_sd[k]
            _walk_adjoint(g_path_d, T, t_ref, g, op[P_DWZ] + base)
            _walk_adjoint(g_path_r, T, t_ref, g, op[P_WZ] + base)
    for j in range(S):
        for cell in range(n_cell):
            g[op[P_SHOCK] + j] += g_logit[cell] * blob[od[D_SHOCK_MASK] + j * n_cell + cell]
    g[op[P_TAU]] += g_tau * tau
    if op[P_TREAT] < x.size:
        g[op[P_TREAT]] += g_treat
        lp += _normal_prior(x, g, op[P_TREAT], 1, 0.0, blob[H_TREAT_SD])
    # priors
    for c in range(C):
        lp += _normal_prior(x, g, op[P_POP] + c, 1, blob[od[D_POP_MU] + c], blob[od[D_POP_SD] + c])
    lp += _normal_prior(x, g, op[P_TAU], 1, blob[H_TAU_LOC], blob[H_TAU_SCALE])
    for j in range(S):
        lp += _normal_prior(x, g, op[P_SHOCK] + j, 1, blob[od[D_SHOCK_MU] + j], blob[od[D_SHOCK_SD] + j])
    for p, row in (
        (P_BMU, PR_BMU),
        (P_BSD, PR_BSD),
        (P_DWSD, PR_DWSD),
        (P_RMU, PR_RMU),
        (P_RSD, PR_RSD),
        (P_GMU, PR_GMU),
        (P_GSD, PR_GSD),
        (P_RWSD, PR_RWSD),
    ):
        lp += _target_prior(x, g, op[p], blob, od, row, K)
    for p, n in ((P_BZ, K * C), (P_GZ, K * C), (P_DWZ, n_cell), (P_WZ, n_cell)):
        lp += _normal_prior(x, g, op[p], n, 0.0, 1.0)
    # centred country register rates: rho ~ Normal(rho_mu[k], rho_sd[k])
    for k in range(K):
        r_mu, r_sd = x[op[P_RMU] + k], math.exp(x[op[P_RSD] + k])
        for c in range(C):
            dev = x[op[P_RHO] + k * C + c] - r_mu
            lp += _normal_lp(dev, 0.0, r_sd)
            g[op[P_RHO] + k * C + c] -= dev / r_sd**2
            g[op[P_RMU] + k] += dev / r_sd**2
            g[op[P_RSD] + k] += -1.0 + dev * dev / r_sd**2
    return lp


@jit
def _log_scaled(p):
    return p == P_TAU or p == P_BSD or p == P_DWSD or p == P_RSD or p == P_GSD or p == P_RWSD


@jit
def _put(out, pos, values, n):
    for j in range(n):
        out[pos + j] = values[j]
    return pos + n


@jit
def expand(x, blob, out):
    """The trace values of x: every PARAMS variable on its own scale, then the DETERMINISTICS."""
    K, C, T, E = int(blob[H_K]), int(blob[H_C]), int(blob[H_T]), int(blob[H_E])
    op, od = _offsets(blob, H_PARAM, len(PARAMS)), _offsets(blob, H_DATA, len(DATA))
    logit_d, log_d, flat, walk_d, walk_r, growth, model_mu, scale, tau, scales = _forward(x, blob, op, od)
    pos = 0
    for p in range(len(PARAMS)):
        stop = op[p + 1] if p + 1 < len(PARAMS) else x.size
        for j in range(op[p], stop):
            out[pos] = math.exp(x[j]) if _log_scaled(p) else x[j]
            pos += 1
    pos = _put(out, pos, log_d, K * C * T)
    pos = _put(out, pos, growth, K * C)
    pos = _put(out, pos, flat, K * C * T)
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
