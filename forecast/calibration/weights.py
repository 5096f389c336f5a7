"""Which scenario is reality tracking: scenario weights from the scored series' joint paths, tempered
across related series, carried from one calibration to the next; and a one-sentence verdict.

The evidence of a calibration is, per scored series, the joint log density of its new figures
under each scenario's draws (``scores.path_scores``): the years of one series are scored as one
path, not multiplied as if independent. Series of one indicator family (crime, seizures,
registered users, HIV) are not independent either - the five countries' crime counts answer to one
scenario rate and share shocks - so a family's summed log-likelihood is tempered to its effective
number of series, n_eff = n / (1 + (n - 1) * RELATED_CORRELATION): three related series count as
1.5, not 3. The prior is the weights the previous calibration left (``previous.previous_weights``),
mixed with a little of the uniform (``FORGETTING``) so that no scenario is ruled out for good;
equal weights at the first calibration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.calibration.diff import SERIES_YEAR

#: scenario_weights.csv: one row per scenario of the previous forecast
WEIGHT_COLUMNS = [
    "scenario",
    "series",
    "figures",
    "log_lik",
    "tempered_log_lik",
    "prior",
    "weight",
    "in_80",
    "in_95",
    "mean_pit",
    "mean_crps_rel",
]
NO_OVERLAP = "no overlap with the previous forecast horizon"
#: the correlation assumed between the scored series of one family (their shared scenario rate and
#: shocks; the figures of one year are too few to estimate it): n related series count as
#: n / (1 + (n - 1) * 0.5) independent ones, 1.5 for 3, 1.8 for 9, never more than 2
RELATED_CORRELATION = 0.5
#: share of the uniform mixed into the carried prior: a scenario at weight 0 after one calibration
#: keeps 1/60 of the prior (three scenarios) and can come back when the figures turn
FORGETTING = 0.05
_FAMILIES = (
    ("crime", ("drug_crimes", "trafficking_crimes", "possession_crimes")),
    ("seizures", ("seizures_",)),
    ("registered users", ("registered_users", "treated_users", "true_users", "estimated_users")),
    ("HIV", ("registered_hiv_", "estimated_plhiv", "true_plhiv")),
)


def indicator_family(indicator: str) -> str:
    """crime, seizures, registered users, HIV (the report's families), or the indicator itself."""
    for name, prefixes in _FAMILIES:
        if indicator.startswith(prefixes):
            return name
    return indicator


def effective_share(n: int, rho: float = RELATED_CORRELATION) -> float:
    """n_eff / n for n related series with pairwise correlation ``rho``."""
    return 1.0 / (1.0 + (n - 1) * rho) if n > 0 else 0.0


def carried_prior(previous: pd.Series | None, scenarios: list[str], forgetting: float = FORGETTING) -> pd.Series:
    """The prior of this calibration: the previous weights (a scenario they do not name gets the
    uniform share), renormalised over ``scenarios`` and mixed with ``forgetting`` of the uniform."""
    k = len(scenarios)
    uniform = pd.Series(1.0 / k, index=scenarios)
    if previous is None or previous.empty:
        return uniform
    p = previous.reindex(scenarios).fillna(1.0 / k).clip(lower=0)
    p = p / p.sum() if p.sum() > 0 else uniform
    return (1 - forgetting) * p + forgetting * uniform


def scenario_weights(
    scores: pd.DataFrame, paths: pd.DataFrame | None = None, previous: pd.Series | None = None
) -> pd.DataFrame:
    """Posterior scenario weights: prior x exp(tempered joint-path log-likelihood), normalised.

    ``scores``: one row per figure x scenario (``scores.score_figures``); ``paths``: one row per
    series x scenario (``scores.path_scores``; from ``scores`` with each figure its own path when
    not given); ``previous``: the weights the previous calibration left, scenario -> weight (the prior is
    ``carried_prior`` of them; equal when not given). Only
    figures scored under every scenario count, so every scenario is judged on the same data.
    Empty when nothing was scored.
    """
    if scores.empty:
        return pd.DataFrame(columns=WEIGHT_COLUMNS)
    n_sc = scores.scenario.nunique()
    per_fig = scores.groupby(SERIES_YEAR).scenario.transform("nunique")
    common = scores[per_fig == n_sc]
    if paths is None:
        paths = common.assign(
            family=common.indicator.map(indicator_family), log_lik=common.log_density, figures=1, years=common.year
        )
    keys = set(map(tuple, common[["country", "indicator", "scenario"]].drop_duplicates().to_numpy()))
    paths = paths[[k in keys for k in map(tuple, paths[["country", "indicator", "scenario"]].to_numpy())]]
    paths = paths[paths.groupby(["country", "indicator"]).scenario.transform("nunique") == n_sc]
    n_series = paths.groupby(["family", "scenario"]).country.transform("size")
    paths = paths.assign(tempered=paths.log_lik * [effective_share(int(n)) for n in n_series])
    g = common.groupby("scenario", sort=False)
    out = g.agg(
        figures=("value", "size"),
        in_80=("band", lambda b: float((b == "inside 80").mean())),
        in_95=("band", lambda b: float(b.isin(["inside 80", "inside 95"]).mean())),
        mean_pit=("pit", "mean"),
        mean_crps_rel=("crps_rel", "mean"),
    ).reset_index()
    by_path = paths.groupby("scenario").agg(
        series=("log_lik", "size"), log_lik=("log_lik", "sum"), tempered_log_lik=("tempered", "sum")
    )
    out = out.join(by_path, on="scenario")
    out[["log_lik", "tempered_log_lik"]] = out[["log_lik", "tempered_log_lik"]].fillna(0.0)
    out["series"] = out.series.fillna(0).astype(int)
    p = carried_prior(previous, list(out.scenario)) if previous is not None else None
    out["prior"] = p.loc[out.scenario].to_numpy() if p is not None else 1.0 / len(out)
    ll = out.tempered_log_lik.to_numpy(float) + np.log(out.prior.to_numpy(float))
    out["weight"] = np.exp(ll - np.logaddexp.reduce(ll))
    return out[WEIGHT_COLUMNS].sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)


def verdict(weights: pd.DataFrame, labels: dict[str, str] | None = None, prior_from: str = "") -> str:
    """One sentence: which scenario reality is tracking, and how sure we are (and where the prior
    came from: ``prior_from``, the vintage whose weights it carries; equal priors when empty)."""
    if weights.empty:
        return f"{NO_OVERLAP}: nothing to score; the new figures are simply new data."
    labels = labels or {}
    top = weights.iloc[0]
    n = int(top.figures)
    prior = f" Prior: the weights left by the calibration of vintage {prior_from}." if prior_from else ""
    spread = weights.weight.max() - weights.weight.min()
    if spread < 0.05:
        return (
            f"The {n} scored figure(s) do not tell the scenarios apart (weights "
            + ", ".join(f"{r.scenario} {r.weight:.2f}" for r in weights.itertuples())
            + ")."
            + prior
        )
    confidence = "strong" if top.weight >= 0.95 else "moderate" if top.weight >= 0.75 else "weak"
    label = f" ({labels[top.scenario]})" if top.scenario in labels else ""
    second = weights.iloc[1] if len(weights) > 1 else None
    rest = f"; next: {second.scenario} {second.weight:.2f}" if second is not None else ""
    return (
        f"Reality is tracking '{top.scenario}'{label}: weight {top.weight:.2f}{rest} "
        f"- {confidence} evidence, resting on {n} figure(s) in {int(top.series)} series.{prior}"
    )


def scenario_labels() -> dict[str, str]:
    """Scenario name -> its label (models/scenarios.toml); empty when the file cannot be read."""
    from forecast.scenarios.definitions import load_scenarios

    try:
        return {n: s.label for n, s in load_scenarios().items()}
    except Exception:  # noqa: BLE001 - labels are decoration; a broken scenario file is reported elsewhere
        return {}
