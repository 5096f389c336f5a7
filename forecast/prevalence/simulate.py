"""Simulated evidence from the synthesis' own generative story, for validation against known truth.

A simulated dataset has exactly the layout of the real one (same evidence items, countries,
years, stated spreads ``log_sd``); only the figures (``log_mu``) are new. So one compiled model
can be refitted to it with ``compiled.with_data(evidence_log_mu=...)`` and its posterior compared
with the truth that generated it (simulation-based calibration, benchmarks/sbc.py).

How a dataset is drawn:

1. every parameter and latent quantity (log true count, log detection, the model value and scale
   of each evidence item) from the prior of :func:`~forecast.prevalence.model.build_model`, and
2. in the same ``pm.draw``, each figure from the model's own observed variables (its likelihood,
   :func:`~forecast.prevalence.model.evidence_likelihood`): registers and treatment counts
   ``StudentT(nu, model, register_sd)``; size estimates and multipliers
   ``StudentT(nu, model + method bias, sqrt(sd^2 + tau^2))``. Nothing here restates the model.
3. "at least X" / "at most X" items are censored figures: the model observes that a hidden figure
   V = model + scale * Logistic(0, 1/1.7) lies on the stated side of X, a yes/no fact with
   probability logistic(1.7 (model - X) / scale). The simulation keeps the real threshold X and
   draws that fact: where it holds the source states its bound as before, otherwise the other
   direction ("at most X" for "at least X"): exact, not an approximation (the direction is the
   model's ``evidence_bound_sign`` data).

Prior draws that no analyst would accept would be rejected and counted (``SimulationBatch.rejected``):
a true count above the population in a reported cell (impossible by construction since the
rebuild: every draw lies below its ceiling), or an expected register below one person in a cell
where a register or treatment figure exists. Rejection truncates the prior the data come from,
so calibration is only exact without it; the benchmark reports the rate (0 is the aim).

Bias: :func:`inject_bias` multiplies one evidence figure by a factor (adds log(factor)), the
"one source overstates by 4x" experiment of the conflict table.

Checking against the truth: :func:`refit` samples a simulated dataset with a compiled model and
:func:`calibration_table` says, per reported cell, whether the posterior intervals cover the
truth and where the truth ranks among the draws.

    batch = simulate(inputs, n=100, seed=1)
    compiled = compile_model(inputs)  # forecast.prevalence.sampler
    cells = [calibration_table(refit(s, compiled, seed=i), s) for i, s in enumerate(batch.datasets)]
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm

from forecast.prevalence.evidence import _z
from forecast.prevalence.inputs import SynthesisInputs, bound_sign, likelihood_code
from forecast.prevalence.model import EVIDENCE_NODES, build_model, evidence_rows
from forecast.prevalence.posterior import draws_of, reported_mask
from forecast.prevalence.sampler import fit

#: the scalar hyperparameters kept with each simulated dataset (their SBC ranks: benchmarks/sbc.py)
HYPERPARAMETERS = (
    "between_source_sd",
    "users_logit_level_mean",
    "users_logit_detection_mean",
    "plhiv_logit_incidence_mean",
    "plhiv_logit_detection_mean",
    "plhiv_mortality",
)
LATENT = (
    "log_true",
    "log_detection",
    "evidence_model",
    "evidence_scale",
    "log_population",
    "method_bias",
    *HYPERPARAMETERS,
)
REJECT_OVER_POPULATION = "true count above the population"
REJECT_EMPTY_REGISTER = "expected register below one person where a register figure exists"


@dataclass
class SimulatedDataset:
    """One simulated dataset: the truth that generated it and the figures the model sees."""

    inputs: SynthesisInputs  # the real layout with simulated figures in evidence.log_mu
    truth: np.ndarray  # log true count, (target, country, year) on inputs.years
    latent: dict[str, np.ndarray]  # the prior draw: every name in LATENT
    seed: int
    bias: dict[str, float] = field(default_factory=dict)  # evidence id -> factor applied

    @property
    def log_mu(self) -> np.ndarray:
        """The simulated ``evidence_log_mu`` vector, in the model's evidence order."""
        return self.inputs.evidence.log_mu.to_numpy(float)

    def model_data(self) -> dict[str, np.ndarray]:
        """The model's data for this dataset, for ``compiled.with_data(**...)``."""
        data = {"evidence_log_mu": self.log_mu}
        sign = bound_sign(self.inputs.evidence)
        if (sign != 0).any():
            data["evidence_bound_sign"] = sign[sign != 0]
        return data

    def truth_table(self) -> pd.DataFrame:
        """Tidy truth for the reported cells: target, country, year, log_true."""
        return truth_table(self.inputs, self.truth)


@dataclass
class SimulationBatch:
    datasets: list[SimulatedDataset]
    attempted: int  # prior draws made
    rejected: dict[str, int]  # reason -> prior draws rejected for it

    @property
    def rejection_rate(self) -> float:
        return sum(self.rejected.values()) / max(self.attempted, 1)


def truth_table(inputs: SynthesisInputs, log_true: np.ndarray) -> pd.DataFrame:
    mask = reported_mask(inputs)
    k, c, t = np.nonzero(mask)
    return pd.DataFrame(
        {
            "target": np.asarray(inputs.targets)[k],
            "country": np.asarray(inputs.countries)[c],
            "year": inputs.years[t],
            "log_true": log_true[k, c, t],
        }
    )


def draw_prior(inputs: SynthesisInputs, n: int, seed: int, model: pm.Model | None = None) -> dict[str, np.ndarray]:
    """``n`` joint prior draws of the LATENT quantities and of the model's observed evidence nodes
    (``registers``, ``estimates``, ``bounds``: the figures), each with a leading draw axis."""
    model = model or build_model(inputs)
    names = [*LATENT, *(node for node in EVIDENCE_NODES if node in model.named_vars)]
    with model:
        values = pm.draw([model[name] for name in names], draws=n, random_seed=seed)
    return {name: np.asarray(v).reshape(n, *np.shape(v)[1:]) for name, v in zip(names, values, strict=True)}


def _register_cells(inputs: SynthesisInputs) -> np.ndarray:
    """(target, country, year) indices of cells with a country-level register or treatment figure."""
    ev = inputs.evidence
    ev = ev[ev.quantity.isin(["register", "treated"]) & ev.country.isin(inputs.countries)]
    return np.array(
        [
            (inputs.targets.index(r.target), inputs.countries.index(r.country), int(r.year - inputs.years[0]))
            for r in ev.itertuples()
        ],
        dtype="int64",
    ).reshape(-1, 3)


def rejection_reason(inputs: SynthesisInputs, draw: dict[str, np.ndarray]) -> str | None:
    """Why one prior draw (no draw axis) is absurd, or None if it is acceptable."""
    log_true, log_pop = draw["log_true"], draw["log_population"]
    if (log_true > log_pop[None, :, None])[reported_mask(inputs)].any():
        return REJECT_OVER_POPULATION
    k, c, t = _register_cells(inputs).T
    log_register = log_true[k, c, t] + draw["log_detection"][k, c, t]
    if (log_register < 0).any():
        return REJECT_EMPTY_REGISTER
    return None


def simulate_figures(inputs: SynthesisInputs, draw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(figure, bound) per evidence item from one draw of the model's evidence nodes (no draw axis).

    Point figures are the drawn figures; a bound keeps its real threshold, and its stated direction
    where the drawn fact holds, the other direction where it does not (see the module docstring).
    """
    ev = inputs.evidence
    figure = ev.log_mu.to_numpy(float).copy()
    bound = ev.bound.to_numpy(dtype=object).copy()
    for node, rows in evidence_rows(likelihood_code(ev)).items():
        if node == "bounds":
            stated = bound[rows]
            bound[rows] = np.where(draw[node] == 1, stated, np.where(stated == "lower", "upper", "lower"))
        else:
            figure[rows] = draw[node]
    return figure, bound.astype(str)


def with_figures(inputs: SynthesisInputs, log_mu: np.ndarray, bound: np.ndarray | None = None) -> SynthesisInputs:
    """A copy of ``inputs`` whose evidence figures are ``log_mu`` (value/low/high rescaled to match),
    and whose bounds point in the directions ``bound`` ("point", "lower", "upper") if given."""
    ev = inputs.evidence.copy()
    shift = np.exp(np.asarray(log_mu, float) - ev.log_mu.to_numpy(float))
    ev["log_mu"] = np.asarray(log_mu, float)
    for col in ("value", "low", "high"):
        ev[col] = ev[col].astype(float) * shift
    if bound is not None:
        flip = (ev.bound != "point").to_numpy() & (ev.bound.to_numpy() != bound)
        ev.loc[flip, ["low", "high"]] = ev.loc[flip, ["high", "low"]].to_numpy()
        ev["bound"] = bound
    is_range = ev.low.notna() & ev.high.notna()
    half = ev.log_sd * _z(inputs.config.range_coverage)
    ev.loc[is_range, "value"] = np.exp(ev.log_mu[is_range])
    ev.loc[is_range, "low"] = np.exp(ev.log_mu[is_range] - half[is_range])
    ev.loc[is_range, "high"] = np.exp(ev.log_mu[is_range] + half[is_range])
    return dataclasses.replace(inputs, evidence=ev)


def simulate(
    inputs: SynthesisInputs,
    n: int = 1,
    seed: int = 0,
    model: pm.Model | None = None,
    reject: bool = True,
    max_attempts: int | None = None,
) -> SimulationBatch:
    """``n`` simulated datasets with the layout of ``inputs`` (reproducible from ``seed``).

    ``reject=False`` keeps absurd prior draws too: exact simulation-based calibration of the model
    as written, at the price of data no source would report.
    """
    model = model or build_model(inputs)
    rng = np.random.default_rng(seed)
    max_attempts = max_attempts or 50 * n
    datasets, rejected, attempted = [], {}, 0
    while len(datasets) < n:
        if attempted >= max_attempts:
            raise RuntimeError(
                f"only {len(datasets)} of {n} prior draws acceptable after {attempted} attempts "
                f"({rejected}); the priors in {inputs.config.path} are far too wide"
            )
        batch = max(2 * (n - len(datasets)), 8)
        draws = draw_prior(inputs, batch, int(rng.integers(2**31)), model)
        for i in range(batch):
            draw = {name: v[i] for name, v in draws.items()}
            attempted += 1
            reason = rejection_reason(inputs, draw) if reject else None
            if reason:
                rejected[reason] = rejected.get(reason, 0) + 1
                continue
            y, bound = simulate_figures(inputs, draw)
            latent = {name: draw[name] for name in LATENT}
            datasets.append(
                SimulatedDataset(
                    with_figures(inputs, y, bound), draw["log_true"], latent, seed=seed * 100_000 + attempted
                )
            )
            if len(datasets) == n:
                break
    return SimulationBatch(datasets, attempted, rejected)


def inject_bias(sim: SimulatedDataset, evidence_id: str, factor: float) -> SimulatedDataset:
    """The same dataset with one evidence figure multiplied by ``factor`` (a biased source)."""
    ev = sim.inputs.evidence
    hit = (ev.evidence_id == evidence_id).to_numpy()
    if hit.sum() != 1:
        raise KeyError(f"no single evidence item {evidence_id!r}; items: {', '.join(ev.evidence_id)}")
    if factor <= 0:
        raise ValueError(f"bias factor must be > 0, got {factor}")
    y = ev.log_mu.to_numpy(float) + np.where(hit, math.log(factor), 0.0)
    return dataclasses.replace(
        sim, inputs=with_figures(sim.inputs, y), bias={**sim.bias, evidence_id: sim.bias.get(evidence_id, 1.0) * factor}
    )


def inject_method_bias(sim: SimulatedDataset, method: str, log_bias: float) -> SimulatedDataset:
    """The same dataset as if every figure of ``method`` had been made with that method's bias at
    ``log_bias`` (log figure / truth) instead of its prior draw: a biased method."""
    methods = sim.inputs.methods
    if method not in methods:
        raise KeyError(f"no method {method!r} with a bias term; methods: {', '.join(methods)}")
    j = methods.index(method)
    drawn = np.asarray(sim.latent["method_bias"], float)
    shift = log_bias - drawn[j]
    ev = sim.inputs.evidence
    moved = np.where((ev.method == method).to_numpy(), shift, 0.0)
    y = ev.log_mu.to_numpy(float) + moved
    model = np.asarray(sim.latent["evidence_model"], float) + moved
    latent = {
        **sim.latent,
        "method_bias": np.where(np.arange(drawn.size) == j, log_bias, drawn),
        "evidence_model": model,
    }
    return dataclasses.replace(sim, inputs=with_figures(sim.inputs, y), latent=latent)


def refit(sim: SimulatedDataset, compiled, seed: int, config=None):
    """Posterior of a simulated dataset with an already compiled model (no recompilation).

    ``config`` overrides the sampler settings (draws, tune, chains); the priors are those the
    model was compiled with.
    """
    inputs = sim.inputs if config is None else dataclasses.replace(sim.inputs, config=config)
    idata, _ = fit(inputs, seed=seed, progress=False, compiled=compiled.with_data(**sim.model_data()))
    return idata


def calibration_table(idata, sim: SimulatedDataset, levels=(0.5, 0.8, 0.9, 0.95), n_ranks: int = 99) -> pd.DataFrame:
    """Per reported cell: the truth, whether each central interval covers it, and its SBC rank.

    The rank is the number of ``n_ranks`` evenly thinned posterior draws below the truth; over
    many datasets it is uniform on 0..n_ranks exactly when the posterior is calibrated.
    """
    draws = draws_of(idata, "log_true")  # (sample, target, country, year)
    mask = reported_mask(sim.inputs)
    cells = draws[:, mask]  # (sample, cell)
    truth = sim.truth[mask]
    out = truth_table(sim.inputs, sim.truth)
    out["median"] = np.median(cells, axis=0)
    out["sd"] = cells.std(axis=0)
    for level in levels:
        lo, hi = np.quantile(cells, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        out[f"covered_{round(level * 100)}"] = (lo <= truth) & (truth <= hi)
    thin = cells[np.linspace(0, len(cells) - 1, n_ranks).round().astype(int)]
    out["rank"] = (thin < truth).sum(axis=0)
    return out
