"""Compile the synthesis with nutpie once per model, not once per run: a disk cache for its numba code.

Why: nutpie turns the model's log density and gradient into numba code and wraps it in a C
callback (``numba.cfunc``). Compiling that takes 15-80 s on 2 cores, far more than sampling. PyTensor
already caches each op's numba code in ``~/.pytensor/numba``, but nutpie's wrappers are closures over
numba dispatchers, and a pickled dispatcher carries a random per-process id, so numba's own cache
(``cache=True``) never finds them again in a new process.

What this does: it generates the same wrapper code as nutpie 0.16.8 (``_make_c_logp_func`` and
``_make_c_expand_func``) from source, with the dispatchers as globals, and registers it with PyTensor's
cache under a key made of the PyTensor graph's own cache key (which covers every constant: priors,
evidence layout) plus the data layout, the wrapper source and the package versions. Data values are
passed at run time, so ``with_data`` refits share one entry.

Measured (benchmarks/results/fit_time.md, fresh processes): compilation takes 5 s when this model was
compiled before, against 30 s for a model never seen (PyTensor's per-op cache warm) and 70 s on an
empty cache; those two cases still pay it, once.

It relies on nutpie's private helpers, so it is used only with the nutpie version it was written
for; any other version falls back to plain ``nutpie.compile_pymc_model`` (correct, just slower).
"""

from __future__ import annotations

from hashlib import sha256

import numba
import numpy as np
import nutpie
from nutpie import compile_pymc as _nutpie_pymc
from pytensor.graph.basic import Constant
from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

SUPPORTED_NUTPIE = "0.16.8"

_LOGP_SRC = """
def logp_numba(dim, x_, out_, logp_, user_data_):
    if dim != n_dim:
        return -1
    try:
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_dim,))
        logp = numba.carray(logp_, ())
        logp_val, grad = extract(x, user_data_)
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:  # noqa: BLE001
        return 1
    return 0
"""

_EXPAND_SRC = """
def expand_numba(dim, expanded, x_, out_, user_data_):
    if dim != n_dim:
        return -1
    if expanded != n_expanded:
        return -1
    try:
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_expanded,))
        (values,) = extract(x, user_data_)
        out[...] = values
    except Exception:  # noqa: BLE001
        return -2
    return 0
"""

_stock_logp, _stock_expand = _nutpie_pymc._make_c_logp_func, _nutpie_pymc._make_c_expand_func


def _key(src: str, inner, shared_names, shared_data, record_dtype, *sizes) -> str | None:
    """Cache key of one wrapper, or None when PyTensor could not key the inner graph (then: no cache)."""
    inner_key = CACHED_SRC_FUNCTIONS.get(getattr(inner, "py_func", None))
    if inner_key is None:
        return None
    layout = [(n, shared_data[n].shape, shared_data[n].dtype.str) for n in shared_names]
    return sha256(repr((src, inner_key, layout, str(record_dtype), sizes, nutpie.__version__,
                        numba.__version__, np.__version__)).encode()).hexdigest()


def _cached_wrapper(src: str, name: str, key: str, inner, shared_data, shared_names, record_dtype, **consts):
    extract = _nutpie_pymc.make_extraction_fn(inner, shared_data, shared_names, record_dtype)
    env = {"__name__": __name__, "numba": numba, "np": np, "extract": extract, **consts}
    return compile_numba_function_src(src, name, env, cache_key=f"forecast_nutpie_{name}_{key}")


def _make_c_logp_func(n_dim, logp_fn, user_data, shared_logp, shared_data):
    stock, c_sig = _stock_logp(n_dim, logp_fn, user_data, shared_logp, shared_data)
    key = _key(_LOGP_SRC, logp_fn, shared_logp, shared_data, user_data.dtype, n_dim)
    if key is None:
        return stock, c_sig
    return _cached_wrapper(_LOGP_SRC, "logp_numba", key, logp_fn, shared_data, shared_logp, user_data.dtype,
                           n_dim=n_dim), c_sig


def _make_c_expand_func(n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data):
    stock, c_sig = _stock_expand(n_dim, n_expanded, expand_fn, user_data, shared_vars, shared_data)
    key = _key(_EXPAND_SRC, expand_fn, shared_vars, shared_data, user_data.dtype, n_dim, n_expanded)
    if key is None:
        return stock, c_sig
    return _cached_wrapper(_EXPAND_SRC, "expand_numba", key, expand_fn, shared_data, shared_vars, user_data.dtype,
                           n_dim=n_dim, n_expanded=n_expanded), c_sig


def cache_supported() -> bool:
    return nutpie.__version__ == SUPPORTED_NUTPIE


def compile_pymc_model(model, **kwargs):
    """``nutpie.compile_pymc_model`` with disk-cached numba wrappers (plain nutpie on other versions)."""
    if not cache_supported():
        return nutpie.compile_pymc_model(model, **kwargs)
    _nutpie_pymc._make_c_logp_func = _make_c_logp_func
    _nutpie_pymc._make_c_expand_func = _make_c_expand_func
    try:
        return nutpie.compile_pymc_model(model, cache=True, **kwargs)
    finally:
        _nutpie_pymc._make_c_logp_func, _nutpie_pymc._make_c_expand_func = _stock_logp, _stock_expand


def uncacheable_constants(compiled) -> list[str]:
    """Constants that would stop numba from caching a compiled model's functions, silently.

    numba bakes a non-contiguous (or > 1 MB) constant array in by address ("dynamic globals") and
    then skips the disk cache for the whole function; nutpie hides that warning. A prior written as
    ``pair[:, 0]`` was enough to make every run recompile for 30 s.
    """
    bad = []
    for label, fn in (("logp", compiled.logp_func), ("expand", compiled.expand_func)):
        for v in fn.maker.fgraph.variables:
            d = v.data if isinstance(v, Constant) else None
            if isinstance(d, np.ndarray) and d.ndim and (
                    not (d.flags.c_contiguous or d.flags.f_contiguous) or d.nbytes > 10**6):
                users = sorted({str(n.op) for n, _ in fn.maker.fgraph.clients[v]})
                bad.append(f"{label}: shape {d.shape} strides {d.strides} used by {users}")
    return bad
