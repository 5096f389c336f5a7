"""The synthesis' inputs: the evidence, populations and priors of a dataset laid out as the model reads them.

``prepare`` turns a dataset into ``SynthesisInputs`` (tidy tables, one year grid for both targets);
the helpers here turn those tables into the plain arrays that the PyMC model (model.py) and its
numba twin (density.py, packed by sampler.py) both index in the same way. The code tables are
shared with density.py's constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.core.errors import DataError
from forecast.data import vocab
from forecast.data.dataset import Dataset, population_series
from forecast.data.vocab import REGION
from forecast.prevalence.config import PrevalenceConfig, load_config
from forecast.prevalence.evidence import KNOWLEDGE, build_evidence, populations, pwid_link_rows

TARGETS = ("users", "plhiv")  # fixed: the model has one structure per target (model.py)
REF_YEAR = 2001  # reference year of the level priors (the seeds' best-documented year)
QUANTITY_CODE = {
    "register": 0,
    "treated": 1,
    "size": 2,
    "multiplier": 3,
    "new": 4,
    "living": 5,
    "deaths": 6,
    "deaths_cumulative": 7,
    "share": 8,
    "floor": 9,
    "pwid_link": 10,
}
#: the model quantity each kind of evidence reads, per cell (density.py's SLOT_*): 0 the true
#: number, 1 the register (users: the expected register; plhiv: diagnoses so far), 2 new
#: diagnoses, 3 living diagnosed, 4 deaths among the diagnosed, 5 those deaths so far
SLOT = {"size": 0, "floor": 0, "register": 1, "treated": 1, "new": 2, "living": 3, "deaths": 4, "deaths_cumulative": 5}
N_SLOTS = 6
REGIONAL_QUANTITIES = ("register", "treated", "size", "multiplier")  # a region sum exists for slots 0 and 1
BOUND_CODE = {"point": 0, "lower": 1, "upper": 2}
SCALE_ESTIMATE, SCALE_COUNT, SCALE_STATED = 0, 1, 2  # density.py's same constants
# the likelihood of an evidence row: a point figure (Student-t) or a bound (logistic); density.py's KIND_*
LIKELIHOOD_CODE = {"point": 0, "bound": 1}


@dataclass
class SynthesisInputs:
    """Everything the model needs, as tidy tables (so simulated data can reuse the layout)."""

    years: np.ndarray  # one year grid shared by both targets
    evidence: pd.DataFrame  # all targets, one row per measurement
    left_out: pd.DataFrame  # figures not used, with the reason
    population: pd.DataFrame  # one row per model country: population in the reference year, log_sd
    config: PrevalenceConfig
    log_pop_index: np.ndarray  # (country, year): log(population in the year / in the reference year)
    floor: np.ndarray  # (target, country, year): the fewest people the data allow (0 where none)
    methods: tuple[str, ...] = ()  # the estimation methods with a bias term, in model order
    targets: tuple[str, ...] = TARGETS
    countries: tuple[str, ...] = vocab.MODEL_COUNTRIES

    def ceiling(self) -> np.ndarray:
        """(target, country, year): the most people that can be true, at the reference populations
        (``log_ceiling_index``); the model's ceiling scales with its population draw."""
        pop = self.population.set_index("country").loc[list(self.countries)].population.to_numpy(float)
        return np.exp(log_ceiling_index(self)) * pop[None, :, None]


def prepare(ds: Dataset, config: PrevalenceConfig | None = None) -> SynthesisInputs:
    """The synthesis' inputs from a dataset; a DataError naming the data folder if a target has no evidence."""
    cfg = config or load_config()
    evidence, left_out = [], []
    for target in TARGETS:
        ev, lo = build_evidence(ds, target, cfg)
        if ev.empty or ev.quantity.isin(KNOWLEDGE).all():  # cited regional shares are knowledge, not data
            raise DataError(
                f"{ds.folder}: no evidence at all for target {target!r} (no register, size estimate or "
                "multiplier of it in observations.csv or multipliers.csv); the synthesis needs at least one"
            )
        regional = (ev.country == REGION) & ~ev.quantity.isin(REGIONAL_QUANTITIES)
        lo = pd.concat([lo, ev[regional].assign(reason="a regional figure of a flow: the model sums stocks only")])
        evidence.append(ev[~regional])
        left_out.append(lo.assign(target=target))
    ev = pd.concat(evidence, ignore_index=True)
    years = np.arange(int(min(ev.year.min(), REF_YEAR)), int(max(ev.year.max(), REF_YEAR)) + 1)
    link = pwid_link_rows(cfg, ev)
    if len(link):
        ev = pd.concat([ev, link], ignore_index=True)
    pop = populations(ds, cfg, REF_YEAR)
    methods = tuple(m for m in cfg.method_bias if (ev.method == m).any())
    inputs = SynthesisInputs(
        years,
        ev,
        pd.concat(left_out, ignore_index=True),
        pop,
        cfg,
        log_pop_index=population_index(ds, pop, years),
        floor=floors(ev, years),
        methods=methods,
    )
    over = inputs.floor >= inputs.ceiling()
    if over.any():
        k, c, t = (int(i[0]) for i in np.nonzero(over))
        raise DataError(
            f"{ds.folder}: {TARGETS[k]} in {vocab.MODEL_COUNTRIES[c]} {int(years[t])}: the register "
            f"({inputs.floor[k, c, t]:,.0f}) is above the ceiling of {cfg.path} [ceilings]"
        )
    return inputs


def population_index(ds: Dataset, pop: pd.DataFrame, years: np.ndarray) -> np.ndarray:
    """(country, year): log of each year's population over the reference-year population used by
    the model; interpolated between the years the data give, flat beyond them, 0 where none."""
    series = population_series(ds.observations)
    out = np.zeros((len(vocab.MODEL_COUNTRIES), len(years)))
    for i, c in enumerate(vocab.MODEL_COUNTRIES):
        p = series[series.country == c].sort_values("year")
        if len(p):
            ref = float(pop.set_index("country").population[c])
            out[i] = np.log(np.interp(years, p.year.to_numpy(float), p.population.to_numpy(float)) / ref)
    return out


def floors(ev: pd.DataFrame, years: np.ndarray) -> np.ndarray:
    """(target, country, year): the fewest people the data allow in a cell — the number on the drug
    register that year (the largest point figure of a country's register of users); 0 elsewhere.
    The users model starts from it, so no draw falls below it (model.py)."""
    out = np.zeros((len(TARGETS), len(vocab.MODEL_COUNTRIES), len(years)))
    reg = ev[(ev.target == "users") & (ev.quantity == "register") & (ev.bound == "point")]
    for r in reg.itertuples(index=False):
        if r.country in vocab.MODEL_COUNTRIES:
            c, t = vocab.MODEL_COUNTRIES.index(r.country), int(r.year - years[0])
            out[0, c, t] = max(out[0, c, t], float(np.exp(r.log_mu)))
    return out


def bound_sign(ev: pd.DataFrame) -> np.ndarray:
    """Per evidence row: +1 for "at least X", -1 for "at most X", 0 for a point figure."""
    return ev.bound.map({"point": 0.0, "lower": 1.0, "upper": -1.0}).to_numpy(float)


def likelihood_code(ev: pd.DataFrame) -> np.ndarray:
    """Per evidence row, its kind of likelihood (LIKELIHOOD_CODE): a bound, or a point figure."""
    return np.where(ev.bound != "point", LIKELIHOOD_CODE["bound"], LIKELIHOOD_CODE["point"])


def evidence_index(ev: pd.DataFrame, inputs: SynthesisInputs) -> dict[str, np.ndarray]:
    """Plain arrays describing each evidence row, and where it reads in the flat model vector.

    The flat vector is [log quantity (target, slot, country, year), log sum over countries of
    slots 0 and 1 (target, slot, year)] (``SLOT``); a ratio reads first - second (a multiplier:
    log true - log register; a diagnosed share: log living diagnosed - log true; the PLHIV-PWID
    link: log true PLHIV - log true high-risk users, across the targets); regional figures
    read the sums. ``method`` is the index of the row's estimation method in ``inputs.methods``
    (-1: no method bias); ``register`` says which scale the row has (SCALE_*): the register sd for
    counts, the figure's own sd for cited shares, own sd and between-source sd for estimates.
    """
    n_k, n_c, n_t = len(inputs.targets), len(inputs.countries), len(inputs.years)
    k = ev.target.map({t: i for i, t in enumerate(inputs.targets)}).to_numpy("int64")
    c_index = {c: i for i, c in enumerate(inputs.countries)}
    c = np.array([c_index.get(x, -1) for x in ev.country], dtype="int64")
    t = ev.year.to_numpy("int64") - int(inputs.years[0])
    q = ev.quantity.map(QUANTITY_CODE).to_numpy("int64")
    slot = ev.quantity.map({**SLOT, "multiplier": 0, "share": 3, "pwid_link": 0}).to_numpy("int64")
    ratio = ev.quantity.isin(["multiplier", "share", "pwid_link"]).to_numpy()
    region = c < 0
    cells = n_k * N_SLOTS * n_c * n_t
    link = (ev.quantity == "pwid_link").to_numpy()
    # the link divides by the other target's true number (people living with HIV / high-risk users)
    k_second = np.where(link, inputs.targets.index("users"), k)

    def position(s, kk=k):
        return np.where(
            region,
            cells + (kk * 2 + np.minimum(s, 1)) * n_t + t,
            ((kk * N_SLOTS + s) * n_c + np.maximum(c, 0)) * n_t + t,
        )

    method = np.array([inputs.methods.index(m) if m in inputs.methods else -1 for m in ev.method], dtype="int64")
    is_count = ~ev.quantity.isin(["size", "multiplier", "share", "floor", "pwid_link"]).to_numpy()
    stated = ev.quantity.isin(["share", "floor", "pwid_link"]).to_numpy()
    return {
        "target": k,
        "quantity": q,
        "bound": ev.bound.map(BOUND_CODE).to_numpy("int64"),
        "first": position(slot),
        "second": position(np.where(ev.quantity.isin(["share", "pwid_link"]), 0, 1), k_second),
        "ratio": ratio.astype("int64"),
        "method": np.where(is_count, -1, method),
        "register": np.where(stated, SCALE_STATED, np.where(is_count, SCALE_COUNT, SCALE_ESTIMATE)),
        "likelihood": likelihood_code(ev),
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


def method_priors(inputs: SynthesisInputs) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and sd of each method's bias (log figure / truth), in ``inputs.methods`` order."""
    pairs = np.array([inputs.config.method_bias[m] for m in inputs.methods], dtype=float).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def log_ceiling_index(inputs: SynthesisInputs) -> np.ndarray:
    """(target, country, year): log of the ceiling over the population in the reference year —
    the target's maximum share x the share aged 15-64 x the population index (for PLHIV its
    running maximum: a stock that needs no room to shrink). The model adds its log population."""
    cfg = inputs.config
    share = np.log(np.array([cfg.ceiling_share[t] for t in inputs.targets]) * cfg.adult_share)
    idx = np.repeat(inputs.log_pop_index[None], len(inputs.targets), axis=0)
    if "plhiv" in inputs.targets:
        k = inputs.targets.index("plhiv")
        idx[k] = np.maximum.accumulate(idx[k], axis=-1)
    return share[:, None, None] + idx
