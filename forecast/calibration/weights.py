"""Which scenario is reality tracking: Bayes weights of the scenarios on the scored figures, and a
one-sentence verdict."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from forecast.calibration.diff import SERIES_YEAR

#: scenario_weights.csv: one row per scenario of the previous forecast
WEIGHT_COLUMNS = ["scenario", "figures", "log_lik", "weight", "in_80", "in_95", "mean_pit", "mean_crps_rel"]
NO_OVERLAP = "no overlap with the previous forecast horizon"


def scenario_weights(scores: pd.DataFrame) -> pd.DataFrame:
    """Posterior scenario weights, equal priors: weight ∝ prod of densities of the scored figures.

    Only figures scored under every scenario count, so every scenario is judged on the same data.
    Empty when nothing was scored.
    """
    if scores.empty:
        return pd.DataFrame(columns=WEIGHT_COLUMNS)
    n_sc = scores.scenario.nunique()
    per_fig = scores.groupby(SERIES_YEAR).scenario.transform("nunique")
    common = scores[per_fig == n_sc]
    g = common.groupby("scenario", sort=False)
    out = g.agg(
        figures=("value", "size"),
        log_lik=("log_density", "sum"),
        in_80=("band", lambda b: float((b == "inside 80").mean())),
        in_95=("band", lambda b: float(b.isin(["inside 80", "inside 95"]).mean())),
        mean_pit=("pit", "mean"),
        mean_crps_rel=("crps_rel", "mean"),
    ).reset_index()
    ll = out.log_lik.to_numpy(float) + math.log(1 / len(out))
    out["weight"] = np.exp(ll - np.logaddexp.reduce(ll))
    return out[WEIGHT_COLUMNS].sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)


def verdict(weights: pd.DataFrame, labels: dict[str, str] | None = None) -> str:
    """One sentence: which scenario reality is tracking, and how sure we are."""
    if weights.empty:
        return f"{NO_OVERLAP}: nothing to score; the new figures are simply new data."
    labels = labels or {}
    top = weights.iloc[0]
    n = int(top.figures)
    spread = weights.weight.max() - weights.weight.min()
    if spread < 0.05:
        return (
            f"The {n} scored figure(s) do not tell the scenarios apart (weights "
            + ", ".join(f"{r.scenario} {r.weight:.2f}" for r in weights.itertuples())
            + ")."
        )
    confidence = "strong" if top.weight >= 0.95 else "moderate" if top.weight >= 0.75 else "weak"
    label = f" ({labels[top.scenario]})" if top.scenario in labels else ""
    second = weights.iloc[1] if len(weights) > 1 else None
    rest = f"; next: {second.scenario} {second.weight:.2f}" if second is not None else ""
    return (
        f"Reality is tracking '{top.scenario}'{label}: weight {top.weight:.2f}{rest} "
        f"- {confidence} evidence, resting on {n} figure(s)."
    )


def scenario_labels() -> dict[str, str]:
    """Scenario name -> its label (models/scenarios.toml); empty when the file cannot be read."""
    from forecast.scenarios.definitions import load_scenarios

    try:
        return {n: s.label for n, s in load_scenarios().items()}
    except Exception:  # noqa: BLE001 - labels are decoration; a broken scenario file is reported elsewhere
        return {}
