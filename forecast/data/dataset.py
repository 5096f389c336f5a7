"""The data folder: observations, multiplier evidence and recorded conflicts, validated together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecast.core.resources import EMBEDDED_DATA_DIR, default_data_dir
from forecast.data.contract import load_conflicts, load_multipliers, load_observations
from forecast.data.vintages import BASE, Store, resolve_vintage

#: The embedded dataset shipped inside the package (a ./data folder or --data takes precedence).
DEFAULT_DATA_DIR = EMBEDDED_DATA_DIR

OBSERVATIONS_FILE = "observations.csv"
MULTIPLIERS_FILE = "multipliers.csv"
CONFLICTS_FILE = "conflicts.csv"


@dataclass
class Dataset:
    observations: pd.DataFrame
    multipliers: pd.DataFrame
    conflicts: pd.DataFrame
    folder: Path
    vintage: str = "base"  # which calibration vintage of the folder (forecast.data.vintages); "base" = its own files
    store: Store | None = None  # the folder's vintage store, built once and passed down
    as_of: int | None = None  # the year a calibrated vintage's newest figures describe (None: base)


def load_dataset(
    folder: Path | str | None = None,
    vintage: str | None = None,
    store: Store | None = None,
    warn: bool | None = None,
) -> Dataset:
    """Load and validate the three tables of a data folder (raises DataError on any problem).

    ``vintage`` picks a calibration vintage (``forecast history`` lists them; "base" = the folder's
    own files); the default is the latest vintage in the folder's index, else the base files.
    A command that already holds the folder's vintage ``store`` passes it (``folder`` is then its root).
    ``warn``: warn about implausible rows (InputWarning); by default for the base files only, which
    people edit (a calibration's tables were warned about when its files came in).
    """
    store = store or Store(Path(folder) if folder else default_data_dir())
    folder = store.root
    vintage_id, tables = resolve_vintage(store, vintage)
    conflicts_path = tables / CONFLICTS_FILE
    warn = vintage_id == BASE if warn is None else warn
    return Dataset(
        observations=load_observations(tables / OBSERVATIONS_FILE, warn=warn),
        multipliers=load_multipliers(tables / MULTIPLIERS_FILE, warn=warn),
        conflicts=load_conflicts(conflicts_path) if conflicts_path.exists() else pd.DataFrame(),
        folder=folder,
        vintage=vintage_id,
        store=store,
        as_of=store.manifest(vintage_id).get("as_of") if vintage_id != BASE else None,
    )


def annual_series(observations: pd.DataFrame) -> pd.DataFrame:
    """The figures that form countries' annual series: those with neither a ``period`` (a part of
    the year) nor a ``scope`` (one agency, one oblast, an unclear definition). The others stay in
    the data, are shown and cited, but never enter a series, a model or a score."""
    if "period" not in observations:
        return observations
    keep = (observations.period.fillna("") == "") & (observations.scope.fillna("") == "")
    return observations[keep]


#: the population series the models use: the World Bank's (UN WPP-based, one consistent series for
#: every country and year 1990-2024) where the data hold it, else the seed documents' figures
POPULATION_PREFERRED_SOURCE = "World Bank"


def population_series(observations: pd.DataFrame) -> pd.DataFrame:
    """One population figure per country and year for the models (``country, year, population,
    source, ref``): the World Bank series where present, else the first annual figure recorded.
    Every other population figure stays in the data as recorded (and its disagreement in conflicts)."""
    pop = annual_series(observations)
    pop = pop[(pop.indicator == "population") & pop.value.notna()]
    rank = (~pop.source.str.startswith(POPULATION_PREFERRED_SOURCE)).astype(int)
    pop = pop.assign(_rank=rank, _order=range(len(pop))).sort_values(["country", "year", "_rank", "_order"])
    one = pop.drop_duplicates(["country", "year"], keep="first")
    return one.rename(columns={"value": "population"})[["country", "year", "population", "source", "ref"]].reset_index(
        drop=True
    )
