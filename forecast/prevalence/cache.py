"""Fitted posteriors kept on disk, so that the same inputs and seed are not sampled twice.

``forecast run`` after an edit of the scenarios, ``forecast report``-style re-runs and scripts
that call the synthesis again on the same data spend a minute or more re-drawing the very draws they
already have. The key is a SHA-256 of everything the draws depend on:

- the packed model: data, priors, ceilings, layout (``compiled.user_data``, the blob the density
  reads), so editing a figure or a prior is a new key;
- the sampler settings (draws, tune, chains, target_accept) and the seed;
- the code: the source of this package (forecast/prevalence/*.py) and the versions of nutpie,
  numba and numpy.

Where: ``$FORECAST_CACHE_DIR``, else ``$XDG_CACHE_HOME/forecast/posteriors``, else
``~/.cache/forecast/posteriors``. ``FORECAST_CACHE=off`` turns it off. The newest ``KEEP`` entries
are kept (a posterior of the data to 2025 at 4 x 3,000 draws is ~160 MB), each with its diagnostics table (R-hat and
ESS of every judged quantity: a function of the draws alone, 2-4 s to compute again). A cache that
cannot be read or written is skipped with a warning, never an error: it only saves time.
"""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path

from forecast.core.errors import warn
from forecast.core.outputs import atomic_write_bytes

KEEP = 4
SUFFIX = ".posterior.nc"
DIAGNOSTICS = ".diagnostics.csv"  # beside its posterior; an entry without one is still used
_PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path | None:
    """The cache folder, or None when FORECAST_CACHE=off."""
    if os.environ.get("FORECAST_CACHE", "").strip().lower() in {"off", "0", "no", "false"}:
        return None
    if os.environ.get("FORECAST_CACHE_DIR"):
        return Path(os.environ["FORECAST_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "forecast" / "posteriors"


def key(compiled, config, seed: int) -> str:
    """The SHA-256 of the packed model, the sampler settings, the seed and the code."""
    h = hashlib.sha256()
    h.update(compiled.user_data.tobytes())
    settings = (config.draws, config.tune, config.chains, config.target_accept, int(seed))
    h.update(repr(settings + (config.retry_target_accept, config.retry_draws)).encode())
    for name in ("nutpie", "numba", "numpy"):
        h.update(f"{name}={metadata.version(name)}".encode())
    for source in sorted(_PACKAGE.glob("*.py")):
        h.update(source.name.encode() + source.read_bytes())
    return h.hexdigest()


def load(digest: str):
    """The cached posterior of ``digest`` as (InferenceData in memory, its netCDF bytes, its
    diagnostics table or None), or None."""
    folder = cache_dir()
    path = folder / f"{digest}{SUFFIX}" if folder else None
    if path is None or not path.is_file():
        return None
    import arviz as az

    try:
        data = path.read_bytes()
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(path)
        os.utime(path)  # most recently used
    except Exception as err:  # noqa: BLE001 - a damaged cache entry only costs a refit
        warn(f"{path}: cached posterior unreadable ({type(err).__name__}); sampling again")
        return None
    return idata, data, _diagnostics(folder / f"{digest}{DIAGNOSTICS}")


def _diagnostics(path: Path):
    """A cached diagnostics table, or None (missing or unreadable: the caller computes it)."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except Exception:  # noqa: BLE001 - recomputing it costs seconds
        return None


def store(digest: str, data: bytes | memoryview, diagnostics=None) -> Path | None:
    """Keep a posterior's netCDF bytes (and its diagnostics table, a DataFrame) under ``digest``
    (atomic writes); drop all but the newest KEEP entries."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"{digest}{SUFFIX}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        if diagnostics is not None:  # after its posterior: a failure leaves an entry without one, still used
            atomic_write_bytes(folder / f"{digest}{DIAGNOSTICS}", diagnostics.to_csv(index=False).encode())
        entries = sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
            old.with_name(old.name.removesuffix(SUFFIX) + DIAGNOSTICS).unlink(missing_ok=True)
    except OSError as err:
        warn(f"{folder}: cannot keep the posterior for reuse ({err.strerror or err}); set FORECAST_CACHE_DIR")
        return None
    return path
