"""The synthesis as nutpie samples it: the hand-written density (density.py), its data vector, the fit.

``compile_model(inputs)`` packs the dimensions, priors, populations and evidence of ``inputs`` into
one float vector (the ``user_data`` nutpie passes to the C callbacks) and returns a nutpie model.
Nothing is compiled per model: the numba code of density.py is compiled once per machine and read
from its disk cache afterwards, so edited priors and new evidence rows cost nothing.
``fit(inputs)`` samples it.

``with_data(evidence_log_mu=..., evidence_log_sd=..., evidence_bound_sign=...)`` refits the same
layout to other figures (simulation checks), the same names as ``model.build_model``'s data.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from functools import partial

import numpy as np
import pandas as pd
from nutpie.compile_pymc import CompiledPyMCModel

from forecast.prevalence import density as D
from forecast.prevalence.config import is_log_normal
from forecast.prevalence.inputs import (
    REF_YEAR,
    SynthesisInputs,
    bound_sign,
    detection_shocks,
    evidence_index,
    log_ceiling_index,
    method_priors,
)
from forecast.prevalence.model import LOGISTIC_SCALE

DATA_NAMES = ("evidence_log_mu", "evidence_log_sd", "evidence_bound_sign")


def _layout(inputs: SynthesisInputs, n_shocks: int) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[str, ...]]]:
    """Shape and dims of every free variable, in density.PARAMS order (absent ones omitted)."""
    c, t, m = len(inputs.countries), len(inputs.years), len(inputs.methods)
    spec = {name: ((), ()) for name in D.PARAMS}
    spec["log_population"] = ((c,), ("country",))
    spec["detection_shock"] = ((n_shocks,), ("shock",))
    spec["method_bias_z"] = ((m,), ("method",))
    for name in D.PARAMS:
        if name.endswith("_walk_z"):
            spec[name] = ((c, t), ("country", "year"))
        elif name in D.POOLED:
            spec[name] = ((c,), ("country",))
    absent = set()
    if not n_shocks:
        absent.add("detection_shock")
    if not (inputs.evidence.quantity == "treated").any():
        absent.add("log_treated_vs_registered")
    if not m:
        absent.add("method_bias_z")
    return (
        {n: spec[n][0] for n in D.PARAMS if n not in absent},
        {n: spec[n][1] for n in D.PARAMS if n not in absent},
    )


def _segments(inputs: SynthesisInputs, shocks) -> dict[str, np.ndarray]:
    """Every data segment of the blob, by density.DATA name, plus the with_data arrays."""
    cfg, ev = inputs.config, inputs.evidence
    pop = inputs.population.set_index("country").loc[list(inputs.countries)]
    pairs = [getattr(cfg.priors[target], key) for _, target, key in D.PRIORS]
    loc = [np.log(p[0]) if is_log_normal(key) else p[0] for p, (_, _, key) in zip(pairs, D.PRIORS, strict=True)]
    means, sds, mask, _ = shocks
    bias_mu, bias_sd = method_priors(inputs)
    a = evidence_index(ev, inputs)
    sign = bound_sign(ev)
    return {
        "pop_mu": np.log(pop.population.to_numpy(float)),
        "pop_sd": pop.log_sd.to_numpy(float),
        "prior_loc": np.array(loc, dtype=float),
        "prior_scale": np.array([p[1] for p in pairs], dtype=float),
        "shock_mu": means,
        "shock_sd": sds,
        "shock_mask": mask.ravel(),
        "cap_share": np.exp(log_ceiling_index(inputs)).ravel(),
        "floor": inputs.floor[inputs.targets.index("users")].ravel(),
        "bias_mu": bias_mu,
        "bias_sd": bias_sd,
        "ev_first": a["first"],
        "ev_second": a["second"],
        "ev_quantity": a["quantity"],
        "ev_kind": a["likelihood"],
        "ev_method": a["method"],
        "ev_register": a["register"],
        "ev_ratio": a["ratio"],
        "evidence_log_mu": a["log_mu"],
        "evidence_log_sd": a["log_sd"],
        "evidence_bound_sign": sign[sign != 0],
        "bound_rows": np.flatnonzero(sign),
    }


def pack(
    inputs: SynthesisInputs, segments: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], n_expanded: int
) -> np.ndarray:
    """The float vector density.py reads: header (sizes, constants, offsets), then the segments."""
    cfg = inputs.config
    sign = np.zeros(len(inputs.evidence))
    sign[segments["bound_rows"]] = segments["evidence_bound_sign"]
    data = {**segments, "ev_y": segments["evidence_log_mu"], "ev_sd": segments["evidence_log_sd"], "ev_sign": sign}
    head = np.zeros(D.HEADER)
    offset = 0
    for p, name in enumerate(D.PARAMS):
        head[D.H_PARAM + p] = offset
        offset += int(np.prod(shapes[name])) if name in shapes else 0
    head[D.H_PARAM + len(D.PARAMS)] = offset
    head[[D.H_NDIM, D.H_NEXP]] = offset, n_expanded
    head[[D.H_C, D.H_T, D.H_S, D.H_E, D.H_M]] = (
        len(inputs.countries),
        len(inputs.years),
        len(segments["shock_mu"]),
        len(inputs.evidence),
        len(inputs.methods),
    )
    head[D.H_TREF] = REF_YEAR - inputs.years[0]
    head[[D.H_REG_SD, D.H_NU, D.H_TREAT_SD, D.H_LOGISTIC]] = (
        cfg.register_log_sd,
        cfg.student_t_nu,
        cfg.treated_vs_registered_sd,
        LOGISTIC_SCALE,
    )
    head[D.H_RISE_W] = cfg.priors["plhiv"].incidence_rise_years
    head[[D.H_TAU_LOC, D.H_TAU_SCALE]] = np.log(cfg.between_source_sd[0]), cfg.between_source_sd[1]
    parts, pos = [head], D.HEADER
    for j, name in enumerate(D.DATA):
        values = np.asarray(data[name], dtype=float).ravel()
        head[D.H_DATA + j] = pos
        parts.append(values)
        pos += values.size
    head[D.H_LEN] = pos
    blob = np.concatenate(parts)
    blob.flags.writeable = False
    return blob


def prior_centre(inputs: SynthesisInputs, segments: dict[str, np.ndarray], shapes) -> np.ndarray:
    """Every free variable at its prior centre (median; 0 for standardised ones), flattened in x order."""
    centre = {D.PARAMS[p]: loc for (p, _, _), loc in zip(D.PRIORS, segments["prior_loc"], strict=True)}
    centre["users_register_level"] = centre["users_logit_level_mean"] + centre["users_logit_detection_mean"]
    centre["plhiv_incidence"] = centre["plhiv_logit_incidence_mean"]
    centre["plhiv_onset"] = centre["plhiv_onset_mean"]
    centre["plhiv_rise"] = centre["plhiv_rise_mean"]
    centre.update(
        {
            "log_population": segments["pop_mu"],
            "detection_shock": segments["shock_mu"],
            "between_source_sd": np.log(inputs.config.between_source_sd[0]),
        }
    )
    return np.concatenate([np.broadcast_to(centre.get(n, 0.0), shapes[n]).ravel() for n in D.PARAMS if n in shapes])


def _jittered(centre: np.ndarray, seed) -> np.ndarray:
    """A chain's starting point: the prior centre plus U(-1, 1) on the unconstrained scale (PyMC's default)."""
    return centre + np.random.default_rng(seed).uniform(-1, 1, centre.size)


@dataclasses.dataclass(frozen=True)
class SynthesisModel(CompiledPyMCModel):
    """nutpie's PyMC model type with density.py's callbacks; ``user_data`` is the packed blob."""

    inputs: SynthesisInputs | None = None

    def with_data(self, **updates):
        shared = dict(self.shared_data)
        for name, value in updates.items():
            if name not in DATA_NAMES:
                raise KeyError(f"unknown data {name!r}; the synthesis takes {', '.join(DATA_NAMES)}")
            value = np.asarray(value, dtype=float)
            if value.shape != shared[name].shape:
                raise ValueError(f"{name} must have shape {shared[name].shape}, got {value.shape}")
            shared[name] = value
        blob = pack(self.inputs, shared, self._shapes, self.n_expanded)
        return dataclasses.replace(self, shared_data=shared, user_data=blob)


def _unconstrained_names(shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """One label per entry of x, as PyMC names them (``growth_country_sd_log___1``)."""
    return [
        f"{base}_{'.'.join(map(str, idx))}" if idx else base
        for name in D.PARAMS
        if name in shapes
        for base in [f"{name}_log__" if name in D.LOG_SCALED else name]
        for idx in itertools.product(*[range(n) for n in shapes[name]])
    ]


def compile_model(inputs: SynthesisInputs) -> SynthesisModel:
    """The synthesis of ``inputs`` ready for ``nutpie.sample`` (numba code from the disk cache)."""
    shocks = detection_shocks(inputs)
    shapes, dims = _layout(inputs, len(shocks[3]))
    n_dim = sum(int(np.prod(s)) for s in shapes.values())
    k, c, t, e = len(inputs.targets), len(inputs.countries), len(inputs.years), len(inputs.evidence)
    kct = ("target", "country", "year")
    for name, shape, dim in zip(
        D.DETERMINISTICS,
        [(k, c, t), (k, c, t), (len(inputs.methods),), (e,), (e,)],
        [kct, kct, ("method",), ("evidence",), ("evidence",)],
        strict=True,
    ):
        if shape != (0,):
            shapes[name], dims[name] = shape, dim
    names = list(shapes)
    sizes = [int(np.prod(s)) for s in shapes.values()]
    stops = np.cumsum(sizes)
    slices = [slice(int(b - n), int(b)) for b, n in zip(stops, sizes, strict=True)]
    segments = _segments(inputs, shocks)
    blob = pack(inputs, segments, shapes, int(stops[-1]))
    coords = {
        "target": list(inputs.targets),
        "country": list(inputs.countries),
        "year": list(inputs.years),
        "evidence": inputs.evidence.evidence_id.tolist(),
        "shock": shocks[3],
        "method": list(inputs.methods),
        "unconstrained_parameter": _unconstrained_names(shapes),
    }
    return _nutpie_model(
        compiled_logp_func=D.logp_cfunc,
        compiled_expand_func=D.expand_cfunc,
        initial_point_func=partial(_jittered, prior_centre(inputs, segments, shapes)),
        shared_data=segments,
        user_data=blob,
        n_expanded=int(stops[-1]),
        shape_info=(names, slices, [shapes[n] for n in names]),
        logp_func=None,
        expand_func=None,
        _n_dim=n_dim,
        _shapes=shapes,
        _coords={name: pd.Index(v) for name, v in coords.items()},
        dims=dims,
        inputs=inputs,
    )


def _nutpie_model(**ours) -> SynthesisModel:
    """A SynthesisModel from whatever fields nutpie's class declares (``dataclasses.fields``).

    Ours are passed through where the class has them (and dropped where it no longer does); a
    required field we do not know (nutpie 0.16.11 added ``shared_var_keys``: PyTensor shared
    variable -> key of ``shared_data``) gets an empty value of its type (an empty dict, list or
    tuple, else None): this model has no PyTensor graph, and its data live in ``user_data``.
    """
    kwargs = {}
    for f in dataclasses.fields(SynthesisModel):
        if not f.init:
            continue
        if f.name in ours:
            kwargs[f.name] = ours[f.name]
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            kwargs[f.name] = _empty_value(f.type)
    return SynthesisModel(**kwargs)


def _empty_value(annotation):
    """An empty value of a field's annotated type (a type, or its string under postponed annotations)."""
    if isinstance(annotation, str):
        name = annotation.split("[")[0].strip()
    else:
        name = getattr(typing.get_origin(annotation) or annotation, "__name__", "")
    make = {"dict": dict, "list": list, "tuple": tuple}.get(name.rsplit(".", 1)[-1].lower())
    return make() if make else None


def fit(inputs: SynthesisInputs, seed: int = 1, progress: bool = True, compiled: SynthesisModel | None = None):
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


def logp_and_grad(model: SynthesisModel, x: np.ndarray) -> tuple[float, np.ndarray]:
    """The log density and gradient at x through the very C callback nutpie calls (for checks)."""
    x = np.ascontiguousarray(x, dtype=float)
    grad, logp = np.zeros_like(x), np.zeros(1)
    code = model.compiled_logp_func.ctypes(x.size, _ptr(x), _ptr(grad), _ptr(logp), model.user_data.ctypes.data)
    if code not in (0, 3, 4):
        raise RuntimeError(f"the density's C callback failed with code {code}")
    return float(logp[0]), grad


def expand_point(model: SynthesisModel, x: np.ndarray) -> dict[str, np.ndarray]:
    """What nutpie stores in the trace for the point x: every variable by name, in its shape."""
    x = np.ascontiguousarray(x, dtype=float)
    out = np.zeros(model.n_expanded)
    code = model.compiled_expand_func.ctypes(x.size, out.size, _ptr(x), _ptr(out), model.user_data.ctypes.data)
    if code != 0:
        raise RuntimeError(f"the density's expand callback failed with code {code}")
    names, slices, shapes = model.shape_info
    return {n: out[s].reshape(shape) for n, s, shape in zip(names, slices, shapes, strict=True)}


def _ptr(a: np.ndarray):
    import ctypes

    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
