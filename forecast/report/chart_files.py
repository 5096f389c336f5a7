"""Fan charts as files (PNG), one per country and indicator with 3+ observed years, for `forecast scenarios`."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from forecast.core.outputs import atomic_write_bytes
from forecast.core.parallel import map_jobs
from forecast.report.charts import has_fan_chart


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def fan_chart_png(task: tuple) -> bytes:
    """One fan chart as PNG bytes: a task of ``core.parallel.map_jobs`` (history, forecasts,
    scenarios, title, unit)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from forecast.report.charts import fan_chart

    hist, fc, scenarios, title, unit = task
    fig = fan_chart(hist, fc, scenarios, title=title, unit=unit)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_fan_charts(
    forecasts: pd.DataFrame, history: pd.DataFrame, scenarios, folder: Path, jobs: int = 1, scheduler: str | None = None
) -> list[Path]:
    """The fan charts into ``folder``, each drawn as one task (``jobs`` local processes, or the Dask
    cluster at ``scheduler``): the same files wherever they are drawn."""
    from forecast.report.context import chart_title, unit_of

    tasks, paths = [], []
    for (country, indicator), fc in forecasts.groupby(["country", "indicator"], sort=True):
        if not has_fan_chart(fc):
            continue
        hist = history[(history.country == country) & (history.indicator == indicator)]
        tasks.append((hist, fc, scenarios, f"{country}: {chart_title(indicator)}", unit_of(indicator)))
        paths.append(folder / f"{_slug(country)}_{indicator}.png")
    for path, png in zip(paths, map_jobs(fan_chart_png, tasks, jobs=jobs, backend=scheduler), strict=True):
        atomic_write_bytes(path, png)
    return paths
