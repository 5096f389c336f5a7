"""The forecast as draws: forecast_draws.parquet, next to forecasts.csv.

forecasts.csv summarises each series' paths by six numbers a year; the paths themselves are what a
calibration scores (a figure's density, PIT and CRPS, and a series' joint path over the years it
has new figures, ``forecast.calibration.scores``), so they are stored too: one row per series,
scenario, year and draw. The first ``STORED_DRAWS`` draws of every series are kept: draw ``i`` is
the same path index in every series (countries' draws are coupled by index, the Central Asia total
is their sum draw by draw, a scenario "as baseline" repeats the baseline's draws), so joint
statements across series hold in the stored draws as in the forecast. Values are float32 (seven
significant digits: far below the spread of any forecast).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.core.outputs import atomic_write_bytes

DRAWS_FILE = "forecast_draws.parquet"
#: draws kept per series and scenario: enough for a density of a 5-year path, small enough for a
#: vintage folder (about 0.4 MB for the base vintage's 33 series, "as baseline" stored once)
STORED_DRAWS = 500
DRAW_COLUMNS = ["country", "indicator", "scenario", "year", "draw", "value"]
_CATEGORIES = ("country", "indicator", "scenario")
_SAME_AS = b"forecast.same_as"  # parquet metadata: [[country, indicator, scenario, stored as scenario], ...]


def draws_frame(series: dict, n: int = STORED_DRAWS) -> pd.DataFrame:
    """The long table of draws (``DRAW_COLUMNS``) of forecast series (``SeriesForecast`` by key)."""
    parts = []
    for f in series.values():
        for scenario, paths in f.paths.items():
            p = np.asarray(paths[:n], dtype=np.float32)
            draws, years = p.shape
            parts.append(
                pd.DataFrame(
                    {
                        "country": f.country,
                        "indicator": f.indicator,
                        "scenario": scenario,
                        "year": np.tile(np.asarray(f.years, dtype=np.int16), draws),
                        "draw": np.repeat(np.arange(draws, dtype=np.int16), years),
                        "value": p.ravel(),
                    }
                )
            )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "value" else object) for c in DRAW_COLUMNS})
    return pd.concat(parts, ignore_index=True)[DRAW_COLUMNS]


def draws_bytes(draws: pd.DataFrame) -> bytes:
    """The table as parquet bytes (zstd; the name columns dictionary-encoded). A scenario whose draws
    repeat an earlier scenario's of the same series ("as baseline") is stored once: the file's
    metadata names it (``_SAME_AS``) and ``read_draws`` restores its rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keep, same_as = [], []
    for (country, indicator), g in draws.groupby(["country", "indicator"], sort=False):
        stored: list[tuple[str, np.ndarray]] = []
        for scenario, h in g.groupby("scenario", sort=False):
            values = h.sort_values(["draw", "year"])[["year", "draw", "value"]].to_numpy()
            twin = next((name for name, v in stored if v.shape == values.shape and np.array_equal(v, values)), None)
            if twin is None:
                stored.append((scenario, values))
                keep.append(h)
            else:
                same_as.append([country, indicator, scenario, twin])
    table = pa.Table.from_pandas(
        (pd.concat(keep, ignore_index=True) if keep else draws).astype({c: "category" for c in _CATEGORIES}),
        preserve_index=False,
    )
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _SAME_AS: json.dumps(same_as)})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", use_dictionary=list(_CATEGORIES), use_byte_stream_split=["value"])
    return buf.getvalue()


def write_draws(series: dict, path: Path) -> Path:
    """forecast_draws.parquet of forecast series, written atomically."""
    atomic_write_bytes(Path(path), draws_bytes(draws_frame(series)))
    return Path(path)


def read_draws(path: Path) -> pd.DataFrame | None:
    """A stored draws table (every scenario's rows, those stored once restored), or None when the
    file is missing or is not one."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError):
        return None
    t = table.to_pandas()
    if not set(DRAW_COLUMNS) <= set(t.columns):
        return None
    t = t.astype({c: str for c in _CATEGORIES})[DRAW_COLUMNS]
    try:
        same_as = json.loads((table.schema.metadata or {}).get(_SAME_AS, b"[]"))
    except ValueError:
        return None
    twins = [
        t[(t.country == country) & (t.indicator == indicator) & (t.scenario == twin)].assign(scenario=scenario)
        for country, indicator, scenario, twin in same_as
    ]
    return pd.concat([t, *twins], ignore_index=True) if twins else t


def path_matrices(draws: pd.DataFrame) -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]:
    """(country, indicator, scenario) -> (years, draws x years matrix) of a draws table."""
    out = {}
    for key, g in draws.groupby(["country", "indicator", "scenario"], sort=False, observed=True):
        wide = g.pivot(index="draw", columns="year", values="value").sort_index(axis=1)
        out[tuple(map(str, key))] = (wide.columns.to_numpy(int), wide.to_numpy(float))
    return out
