"""The synthesis' inputs: the evidence, populations and priors of a dataset laid out as the model reads them.

``prepare`` turns a dataset into ``SynthesisInputs`` (tidy tables, one year grid for both targets);
the helpers here turn those tables into the plain arrays that the PyMC model (model.py) and its
numba twin (density.py, packed by sampler.py) both index in the same way. The code tables are
shared with density.py's constants.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.core.errors import DataError
from forecast.data import vocab
from forecast.data.dataset import Dataset
from forecast.prevalence.config import PrevalenceConfig, TargetPriors, load_config
from forecast.prevalence.evidence import build_evidence, populations

TARGETS = ("users", "plhiv")
REF_YEAR = 2001  # reference year of the level priors (the seeds' best-documented year)
QUANTITY_CODE = {"register": 0, "treated": 1, "size": 2, "multiplier": 3}
BOUND_CODE = {"point": 0, "lower": 1, "upper": 2}
# the likelihood of an evidence row: a register point figure (normal), another point figure
# (Student-t), or a bound (logistic); density.py's KIND_* constants
LIKELIHOOD_CODE = {"register": 0, "estimate": 1, "bound": 2}


@dataclass
class SynthesisInputs:
    """Everything the model needs, as tidy tables (so simulated data can reuse the layout)."""

    years: np.ndarray  # one year grid shared by both targets
    evidence: pd.DataFrame  # all targets, one row per measurement
    left_out: pd.DataFrame  # figures not used, with the reason
    population: pd.DataFrame
    config: PrevalenceConfig
    targets: tuple[str, ...] = TARGETS
    countries: tuple[str, ...] = vocab.MODEL_COUNTRIES


def prepare(ds: Dataset, config: PrevalenceConfig | None = None) -> SynthesisInputs:
    """The synthesis' inputs from a dataset; a DataError naming the data folder if a target has no evidence."""
    cfg = config or load_config()
    evidence, left_out = [], []
    for target in TARGETS:
        ev, lo = build_evidence(ds, target, cfg)
        if ev.empty:
            raise DataError(
                f"{ds.folder}: no evidence at all for target {target!r} (no register, size estimate or "
                "multiplier of it in observations.csv or multipliers.csv); the synthesis needs at least one"
            )
        evidence.append(ev)
        left_out.append(lo.assign(target=target))
    ev = pd.concat(evidence, ignore_index=True)
    years = np.arange(int(min(ev.year.min(), REF_YEAR)), int(max(ev.year.max(), REF_YEAR)) + 1)
    return SynthesisInputs(years, ev, pd.concat(left_out, ignore_index=True), populations(ds, cfg, REF_YEAR), cfg)


def bound_sign(ev: pd.DataFrame) -> np.ndarray:
    """Per evidence row: +1 for "at least X", -1 for "at most X", 0 for a point figure."""
    return ev.bound.map({"point": 0.0, "lower": 1.0, "upper": -1.0}).to_numpy(float)


def evidence_index(ev: pd.DataFrame, inputs: SynthesisInputs) -> dict[str, np.ndarray]:
    """Plain arrays describing each evidence row, and where it reads in the flat model vector.

    The flat vector is [log N (target, country, year), log R (same), log sum_c N (target, year),
    log sum_c R (target, year)]. register/treated read log R; size reads log N; a multiplier reads
    log N - log R (its ``second`` index); regional figures read the sums.
    """
    n_k, n_c, n_t = len(inputs.targets), len(inputs.countries), len(inputs.years)
    k = ev.target.map({t: i for i, t in enumerate(inputs.targets)}).to_numpy("int64")
    c_index = {c: i for i, c in enumerate(inputs.countries)}
    c = np.array([c_index.get(x, -1) for x in ev.country], dtype="int64")
    t = ev.year.to_numpy("int64") - int(inputs.years[0])
    q = ev.quantity.map(QUANTITY_CODE).to_numpy("int64")
    cells = n_k * n_c * n_t
    cell = (k * n_c + np.maximum(c, 0)) * n_t + t
    region = c < 0
    n_pos = np.where(region, 2 * cells + k * n_t + t, cell)
    r_pos = np.where(region, 2 * cells + n_k * n_t + k * n_t + t, cells + cell)
    return {
        "target": k,
        "quantity": q,
        "bound": ev.bound.map(BOUND_CODE).to_numpy("int64"),
        "first": np.where(q <= 1, r_pos, n_pos),
        "second": r_pos,
        "likelihood": np.where(
            ev.bound != "point",
            LIKELIHOOD_CODE["bound"],
            np.where(q <= 1, LIKELIHOOD_CODE["register"], LIKELIHOOD_CODE["estimate"]),
        ),
        "log_mu": ev.log_mu.to_numpy(float),
        "log_sd": ev.log_sd.to_numpy(float),
    }


def detection_shocks(inputs: SynthesisInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The known breaks in detection: prior means and sds of each shift, a (shock, target, country,
    year) 0/1 mask of the cells it applies to, and a label per shock."""
    targets, countries, years = list(inputs.targets), list(inputs.countries), inputs.years
    shocks = [(targets.index(t), s) for t in targets for s in inputs.config.priors[t].detection_shocks]
    mask = np.zeros((len(shocks), len(targets), len(countries), len(years)))
    labels = []
    for j, (k, s) in enumerate(shocks):
        for y in s["years"]:
            if years[0] <= y <= years[-1]:
                mask[j, k, countries.index(s["country"]), y - years[0]] = 1.0
        labels.append(f"{s['country']} {targets[k]} {min(s['years'])}-{max(s['years'])}")
    return (
        np.array([s["shift"][0] for _, s in shocks], dtype=float),
        np.array([s["shift"][1] for _, s in shocks], dtype=float),
        mask,
        labels,
    )


def prior_vectors(cfg: PrevalenceConfig, targets) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each per-target prior (the pairs of TargetPriors) as two arrays over targets, so both targets
    share one vectorised graph."""
    names = [f.name for f in dataclasses.fields(TargetPriors) if f.name != "detection_shocks"]
    out = {}
    for name in names:
        pair = np.array([getattr(cfg.priors[t], name) for t in targets])
        out[name] = (pair[:, 0], pair[:, 1])
    return out
