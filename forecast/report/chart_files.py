"""Fan charts as files (PNG), one per country and indicator with 3+ observed years, for `forecast scenarios`."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from forecast.core.outputs import atomic_write_bytes

#: fewer observed years than this get no fan chart: there is no trend to draw from them (the models'
#: own minimum). The report gives their scenario arithmetic in a table instead.
MIN_OBS_FOR_FAN = 3


def has_fan_chart(rows: pd.DataFrame) -> bool:
    """Whether one series' forecasts.csv rows get a fan chart: at least ``MIN_OBS_FOR_FAN`` observed
    years (forecasts of true numbers from the synthesis, with no ``n_obs``, always do)."""
    if "n_obs" not in rows or rows.empty:
        return True
    n = rows["n_obs"].iloc[0]
    return bool(pd.isna(n) or n >= MIN_OBS_FOR_FAN)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_fan_charts(forecasts: pd.DataFrame, history: pd.DataFrame, scenarios, folder: Path) -> list[Path]:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from forecast.report.charts import fan_chart

    paths = []
    for (country, indicator), fc in forecasts.groupby(["country", "indicator"], sort=True):
        if not has_fan_chart(fc):
            continue
        hist = history[(history.country == country) & (history.indicator == indicator)]
        unit = (
            "kg" if indicator.endswith("_kg") else "people" if "users" in indicator or "hiv" in indicator else "cases"
        )
        fig = fan_chart(hist, fc, scenarios, title=f"{country}: {indicator}", unit=unit)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        path = folder / f"{_slug(country)}_{indicator}.png"
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths
