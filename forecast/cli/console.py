"""What the CLI prints: readable tables and loud warnings, built from the result tables."""

from __future__ import annotations

import pandas as pd
from rich.console import Console

from forecast.cli.tables import print_table
from forecast.core.formatting import band, open_band
from forecast.evaluation.scoring import COVERAGE_TARGETS
from forecast.prevalence.headline import headline_table
from forecast.prevalence.strength import PRIOR

console = Console(width=150, emoji=False)


def print_diagnostics(diag: pd.DataFrame, verdict, title: str) -> None:
    t = diag[["variable", "size", "r_hat_max", "ess_bulk_min", "ess_tail_min", "divergences"]].copy()
    t["r_hat_max"] = t.r_hat_max.map(lambda x: f"{x:.3f}")
    print_table(t, title=title, console=console)
    if verdict.passed:
        console.print("[bold green]Diagnostics PASS[/]: R-hat <= 1.01, bulk and tail ESS >= 400, 0 divergences.")
    else:
        console.print("[bold white on red] DIAGNOSTICS FAILED [/] — do not use these estimates before fixing:")
        for m in verdict.messages:
            console.print(f"  [red]✗ {m}[/]")


def print_prevalence(result, targets, country: str | None) -> None:
    h = headline_table(result, targets, country)
    for target in targets:
        part = h[h.target == target]
        if part.empty:
            continue
        label = "people who use drugs" if target == "users" else "people living with HIV"
        prior = part.evidence_strength == PRIOR
        t = pd.DataFrame(
            {
                "country": [f"{c} *" if p else c for c, p in zip(part.country, prior, strict=True)],
                "evidence": part.evidence_strength,
                "true number (median)": part.true_median.map(lambda v: f"{v:,.0f}"),
                "95% band": [band(a, b) for a, b in zip(part.lo_95, part.hi_95, strict=True)],
                "per 100k": part.per_100k.map(lambda v: f"{v:,.0f}"),
                "× register (95%)": [
                    f"{m:.1f} ({a:.1f}–{b:.1f})" if pd.notna(m) else ""
                    for m, a, b in zip(part.multiple_of_register, part.multiple_lo_95, part.multiple_hi_95, strict=True)
                ],
            }
        )
        print_table(t, title=f"True {label}, {int(part.year.iloc[0])} (Bayesian synthesis)", console=console)
        if prior.any():
            console.print(
                "  * prior only: no figure of that country for this target within two years; the number is the "
                "priors plus what the other countries say. Not a finding."
            )
    flagged = result.conflicts[result.conflicts.flag.str.contains("CONFLICT") & result.conflicts.target.isin(targets)]
    if len(flagged):
        t = flagged.assign(
            expected=[open_band(r.get("expected_low"), r.get("expected_high")) for _, r in flagged.iterrows()]
        )[["evidence_id", "country", "year", "method", "figure", "expected", "tail_probability", "shift_pct", "source"]]
        print_table(t, title="Evidence at odds with the rest (down-weighted, not averaged in)", console=console)
    biased = result.method_biases[result.method_biases.flag != ""]
    if len(biased):
        t = biased[["method", "figures", "factor", "lo_90", "hi_90", "prior_lo_90", "prior_hi_90"]]
        print_table(t, title="Methods whose figures run further from the rest than their prior allows", console=console)
    print_diagnostics(result.diagnostics, result.verdict, "Convergence diagnostics (prevalence synthesis)")
    if result.sampling_note:
        console.print(f"  The posterior was {result.sampling_note}.")


def print_forecasts(forecasts: pd.DataFrame, scenarios) -> None:
    """Per series: last observation, and each scenario's median and 95% band at the horizon's end."""
    end = forecasts.sort_values("year").groupby(["country", "indicator", "scenario"]).tail(1)
    rows = []
    for (country, indicator), g in end.groupby(["country", "indicator"], sort=True):
        r = {
            "country": country,
            "indicator": indicator,
            "last": f"{g.last_value.iloc[0]:,.0f} ({int(g.last_year.iloc[0])})",
            "to": int(g.year.iloc[0]),
        }
        for name in scenarios:
            s = g[g.scenario == name]
            if len(s):
                s = s.iloc[0]
                r[name] = f"{s['median']:,.0f} ({s.lo_95:,.0f}–{s.hi_95:,.0f})"
        rows.append(r)
    print_table(
        pd.DataFrame(rows), title="Scenario forecasts: median (95% band) in the last forecast year", console=console
    )
    for name, sc in scenarios.items():
        console.print(f"[bold]{name}[/] — {sc.label} ({sc.source}, {sc.ref}); the author's window: {sc.years} years")


def print_backtest(summary: pd.DataFrame) -> None:
    t = summary[summary.horizon.astype(str) == "all"].sort_values(["series_set", "mase"])
    t = t[["series_set", "model", "mase", "crps", "coverage_80", "coverage_95", "n_folds"]].copy()
    for c in ("mase", "crps"):
        t[c] = t[c].map(lambda v: f"{v:.2f}")
    for c in ("coverage_80", "coverage_95"):
        t[c] = t[c].map(lambda v: f"{v:.0%}")
    print_table(
        t,
        title="Backtest (rolling origin, horizons 1-5): targets "
        + ", ".join(f"{k}% band {lo:.0%}-{hi:.0%}" for k, (lo, hi) in COVERAGE_TARGETS.items()),
        console=console,
    )
