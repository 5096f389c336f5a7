"""Fan charts as files (PNG), one per country and indicator with 3+ observed years, for `forecast scenarios`."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from forecast.core.outputs import atomic_write_bytes
from forecast.report.charts import has_fan_chart


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_fan_charts(forecasts: pd.DataFrame, history: pd.DataFrame, scenarios, folder: Path) -> list[Path]:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from forecast.report.charts import fan_chart
    from forecast.report.context import chart_title, unit_of

    paths = []
    for (country, indicator), fc in forecasts.groupby(["country", "indicator"], sort=True):
        if not has_fan_chart(fc):
            continue
        hist = history[(history.country == country) & (history.indicator == indicator)]
        fig = fan_chart(hist, fc, scenarios, title=f"{country}: {chart_title(indicator)}", unit=unit_of(indicator))
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        path = folder / f"{_slug(country)}_{indicator}.png"
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths
