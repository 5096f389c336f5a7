"""How past forecasts held up: the calibrations' scores summarised by indicator family.

The track record (``data.vintages.track_record``) holds, for every figure a calibration scored,
the forecast the previous vintage had made for it (median, 80% and 95% bands) and what happened.
A calibrated forecaster puts about 80% of outcomes inside its 80% bands and 95% inside its 95%
bands (``COVERAGE_TARGETS``), with PIT values spread evenly (mean about 0.5).
"""

from __future__ import annotations

import pandas as pd

from forecast.evaluation.scoring import INSIDE_80, INSIDE_95

#: indicator families, in reading order: (label, test on the indicator name)
FAMILIES = (
    ("drug-use registers", lambda i: i.startswith(("registered_users", "treated_users", "registered_injecting"))),
    ("HIV registrations and treatment", lambda i: "hiv" in i or i == "on_art"),
    ("drug crime", lambda i: "crimes" in i),
    ("seizures", lambda i: i.startswith("seizures_")),
    ("population", lambda i: i == "population"),
    ("Afghan opium", lambda i: i.startswith("opium_")),
)


def indicator_family(indicator: str) -> str:
    return next((label for label, test in FAMILIES if test(indicator)), "other")


def summarise_track_record(track: pd.DataFrame, scenario: str = "baseline") -> pd.DataFrame:
    """Per indicator family (and all together), for one scenario's forecasts: figures scored,
    share inside the 80% and 95% bands, mean PIT, median CRPS relative to the figure."""
    columns = ["family", "figures", "in_80", "in_95", "mean_pit", "median_crps_rel", "first_year", "last_year"]
    if track is None or track.empty:
        return pd.DataFrame(columns=columns)
    t = track[track.scenario == scenario].copy()
    if t.empty:
        return pd.DataFrame(columns=columns)
    t["family"] = t.indicator.map(indicator_family)
    t["in_80"] = t.band == INSIDE_80
    t["in_95"] = t.band.isin([INSIDE_80, INSIDE_95])
    order = {label: i for i, (label, _) in enumerate(FAMILIES)}

    def row(label: str, g: pd.DataFrame) -> dict:
        return {
            "family": label,
            "figures": len(g),
            "in_80": g.in_80.mean(),
            "in_95": g.in_95.mean(),
            "mean_pit": g.pit.mean(),
            "median_crps_rel": g.crps_rel.median(),
            "first_year": int(g.year.min()),
            "last_year": int(g.year.max()),
        }

    rows = [row(f, g) for f, g in sorted(t.groupby("family"), key=lambda kv: order.get(kv[0], 99))]
    rows.append(row("all", t))
    return pd.DataFrame(rows, columns=columns)
