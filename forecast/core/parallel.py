"""One path for the embarrassingly parallel loops: in-process, on local cores, or on a Dask cluster.

``map_jobs(func, items, jobs, backend)`` returns ``[func(x) for x in items]``, in the order of
``items``, whichever way it ran:

- ``jobs=1`` and no ``backend``: a plain loop in this process (no joblib, no pickling);
- ``jobs>1``: joblib's ``loky`` backend, ``jobs`` worker processes on this machine;
- ``backend="tcp://HOST:PORT"``: joblib's ``dask`` backend on the Dask distributed cluster whose
  scheduler listens there (``distributed.Client(address)``); ``jobs`` then caps the tasks in
  flight (``jobs=1``: as many as the cluster has worker threads). The workers must have the same
  ``forecast`` installed (they import ``func`` by name).

``func`` must be picklable (a top-level function) and should take all its randomness from its
item (a seed per item), so that results do not depend on the order, the number of workers or
the engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TypeVar

from forecast.core.errors import EnvironmentFailure, InputError

T = TypeVar("T")
R = TypeVar("R")

#: the environment variable that sets ``--scheduler`` (a Dask scheduler address)
SCHEDULER_ENV = "FORECAST_DASK_SCHEDULER"
#: seconds to wait for a Dask scheduler to answer
CONNECT_TIMEOUT_S = 10


def check_jobs(jobs: int) -> int:
    """``jobs`` as a positive int; InputError (exit 2) otherwise."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"--jobs must be a whole number >= 1, got {jobs!r}")
    return jobs


def check_scheduler(address: str | None) -> str | None:
    """A Dask scheduler address (``tcp://HOST:PORT``, ``tls://...``, ``inproc://...``) or None;
    InputError (exit 2) when it is not one. Empty means none."""
    if address is None or not address.strip():
        return None
    address = address.strip()
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("tcp", "tls", "ucx", "ws", "wss", "inproc") or not rest:
        raise InputError(
            f"--scheduler (or {SCHEDULER_ENV}) must be a Dask scheduler address like tcp://HOST:8786, got {address!r}"
        )
    return address


def map_jobs(func: Callable[[T], R], items: Iterable[T], jobs: int = 1, backend: str | None = None) -> list[R]:
    """``[func(x) for x in items]``, ordered, run in-process (``jobs=1``), on ``jobs`` local
    processes (joblib/loky), or on the Dask cluster at ``backend`` (joblib's dask backend)."""
    jobs = check_jobs(jobs)
    backend = check_scheduler(backend)
    items = list(items)
    if backend is None and (jobs == 1 or len(items) <= 1):
        return [func(x) for x in items]

    from joblib import Parallel, delayed, parallel_config

    tasks = (delayed(func)(x) for x in items)
    if backend is None:
        return list(Parallel(n_jobs=min(jobs, len(items)), backend="loky")(tasks))

    from distributed import Client

    try:
        client = Client(backend, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise EnvironmentFailure(f"cannot reach the Dask scheduler at {backend}: {exc}") from None
    with client, parallel_config(backend="dask", client=client, wait_for_workers_timeout=CONNECT_TIMEOUT_S):
        return list(Parallel(n_jobs=jobs if jobs > 1 else -1)(tasks))


def default_scheduler() -> str | None:
    """The scheduler named by ``FORECAST_DASK_SCHEDULER``, if any."""
    return os.environ.get(SCHEDULER_ENV) or None
