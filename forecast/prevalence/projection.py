"""The synthesis carried forward: the true counts of the years after the data, drawn with the
model's own dynamics (model.py), so that a projection stays between floor and ceiling as the
estimates do.

- users: z (the logit of where the truth lies between the floor and the ceiling) continues with
  each draw's own slope and random walk; the floor is the last year's (the register does not
  vanish because no figure is printed yet), the ceiling the last year's.
- plhiv: the stock continues with each draw's mortality, the incidence logit's take-off curve
  and a random walk from its last value; new infections take a share of the room left below the
  ceiling.

``project(idata, inputs, target, horizon, n, rng)`` returns, per country, (paths, level, cap): the
draws of the true count for the next ``horizon`` years, as (n, horizon) arrays, the same draws
without their trend (users: without the slope; PLHIV: today's level times the path's deviation
from its own noise-free course) — what a scenario's growth is laid over — and each draw's ceiling
(n,), the last year's: a scenario's growth stays below it.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from forecast.prevalence.inputs import REF_YEAR, SynthesisInputs, log_ceiling_index
from forecast.prevalence.posterior import draws_of


def _pinned_walk(z: np.ndarray, t_ref: int) -> np.ndarray:
    """Unit random walks over the last axis pinned to 0 at t_ref (model._walk without its sd)."""
    path = np.cumsum(z, axis=-1)
    return path - path[..., t_ref : t_ref + 1]


def _effect(idata, prefix: str, name: str, mean: str) -> np.ndarray:
    """(sample, country) draws of a pooled country effect: mean + sd * z."""
    return draws_of(idata, f"{prefix}_{mean}")[:, None] + draws_of(idata, f"{prefix}_{name}_country_sd")[
        :, None
    ] * draws_of(idata, f"{prefix}_{name}_z")


def project(idata, inputs: SynthesisInputs, target: str, horizon: int, n: int, rng: np.random.Generator):
    """{country: (paths, level, cap)} of the true count; see the module docstring."""
    k = inputs.targets.index(target)
    log_true = draws_of(idata, "log_true")[:, k, :, -1]  # (sample, country): the last grid year
    take = rng.choice(log_true.shape[0], size=n, replace=log_true.shape[0] < n)
    cap = np.exp(draws_of(idata, "log_population")[take] + log_ceiling_index(inputs)[k, :, -1][None, :])
    steps = rng.normal(0.0, 1.0, (n, len(inputs.countries), horizon))
    h = np.arange(1, horizon + 1)
    now = np.exp(log_true[take])
    out = {}
    if target == "users":
        floor = inputs.floor[k, :, :]
        last = np.array([f[np.flatnonzero(f)[-1]] if f.any() else 0.0 for f in floor])  # the last register
        last = np.minimum(last[None, :], now)  # (draw, country): a past register above today's truth is no floor
        z_now = logit(np.clip((now - last) / (cap - last), 1e-12, 1 - 1e-12))
        slope = _effect(idata, "users", "slope", "slope_mean")[take]
        walk = draws_of(idata, "users_walk_sd")[take][:, None, None] * np.cumsum(steps, axis=-1)
        z_level = z_now[:, :, None] + walk
        z_trend = z_level + slope[:, :, None] * h[None, None, :]
        paths = last[:, :, None] + (cap - last)[:, :, None] * expit(z_trend)
        level = last[:, :, None] + (cap - last)[:, :, None] * expit(z_level)
    else:
        t_ref = int(REF_YEAR - inputs.years[0])
        unit = _pinned_walk(draws_of(idata, "plhiv_incidence_walk_z"), t_ref)[take][:, :, -1]
        iota = (
            draws_of(idata, "plhiv_incidence")[take] + draws_of(idata, "plhiv_incidence_walk_sd")[take][:, None] * unit
        )
        # the take-off curve (model._plhiv) goes on over the horizon: iota moves from the last grid year
        onset = draws_of(idata, "plhiv_onset")[take][:, :, None]  # centred (model._plhiv)
        rise = draws_of(idata, "plhiv_rise")[take][:, :, None]
        width = inputs.config.priors["plhiv"].incidence_rise_years
        from_ref = (len(inputs.years) - 1 - t_ref + h)[None, None, :]  # the years ahead, from REF_YEAR
        iota = iota[:, :, None] + rise * (expit((from_ref - onset) / width) - expit(-onset / width))
        mu = draws_of(idata, "plhiv_mortality")[take][:, None]
        walk = draws_of(idata, "plhiv_incidence_walk_sd")[take][:, None, None] * np.cumsum(steps, axis=-1)
        paths, smooth = np.empty((n, len(inputs.countries), horizon)), np.empty((n, len(inputs.countries), horizon))
        for out_array, noise in ((paths, walk), (smooth, np.zeros_like(walk))):
            stock = now.copy()
            for j in range(horizon):
                survivors = stock * (1 - mu)
                stock = survivors + (cap - survivors) * expit(iota[:, :, j] + noise[:, :, j])
                out_array[:, :, j] = stock
        level = np.minimum(now[:, :, None] * paths / smooth, cap[:, :, None])  # today's level, the path's wobble
    for i, country in enumerate(inputs.countries):
        out[country] = (paths[:, i, :], level[:, i, :], cap[:, i])
    return out
