"""`forecast estimate`: the true number of drug users and of people living with HIV."""

from __future__ import annotations

from pathlib import Path

import click

from forecast.cli.common import (
    DATA_OPTION,
    SEED_OPTION,
    VINTAGE_OPTION,
    canonical_country,
    countries,
    friendly,
    out_option,
    stage,
)


@click.command()
@click.option(
    "--target",
    type=click.Choice(["users", "plhiv", "both"]),
    default="both",
    show_default=True,
    help="Which true number to show: people who use drugs, people living with HIV, or both.",
)
@click.option("--country", type=countries(), help="Show one country only (the fit always pools all five).")
@DATA_OPTION
@VINTAGE_OPTION
@click.option(
    "--priors",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Priors and sampler settings (default: models/prevalence.toml).",
)
@out_option("estimates.csv, detection.csv, diagnostics.csv, posterior.nc ..")
@SEED_OPTION
@friendly
def estimate(
    target: str,
    country: str | None,
    data_dir: Path | None,
    vintage: str | None,
    priors: Path | None,
    out: Path,
    seed: int,
) -> None:
    """Estimate the TRUE number of drug users and of people living with HIV.

    \b
    Two methods, side by side:
      multiplier   registered count x each multiplier from the sources (12x, 20x, 1-in-50 ...),
                   with the multiplier's own uncertainty;
      synthesis    one Bayesian model (PyMC, sampled with nutpie) that treats registers as partial
                   counts and every multiplier and size estimate as a noisy, possibly biased
                   measurement; a source at odds with the rest is down-weighted and flagged.

    Writes estimates.csv (DESIGN.md contract), detection.csv, prevalence_conflicts.csv, method_biases.csv,
    diagnostics.csv, evidence_used.csv, evidence_left_out.csv and posterior.nc (ArviZ) into --out.
    Priors are in models/prevalence.toml, editable without code; editing them does not
    recompile anything. Sampling takes about a minute on 2 cores (10 s more the first time on
    a machine, to compile the sampler once). The posterior is kept in a cache
    (~/.cache/forecast/posteriors, or FORECAST_CACHE_DIR): the same data, priors, settings and
    seed again take seconds. FORECAST_CACHE=off samples every time. A fit whose only failed
    check is a divergent transition is sampled once more with smaller steps and more draws
    ([sampler] retry_target_accept, retry_draws), and the output says so.
    """
    from forecast.cli.console import print_prevalence
    from forecast.core.outputs import output_folder
    from forecast.data.dataset import load_dataset
    from forecast.pipeline import warn_unmatched_exclusions
    from forecast.prevalence import estimate as run_estimate
    from forecast.prevalence.config import load_config

    cfg = load_config(priors)
    ds = load_dataset(data_dir, vintage)
    warn_unmatched_exclusions(cfg, ds)
    country = canonical_country(country)
    with output_folder(out) as tmp:  # nothing lands in --out unless the fit and every file succeed
        result = run_estimate(ds, cfg, seed=seed, on_stage=stage)
        paths = result.write(tmp)
    targets = ("users", "plhiv") if target == "both" else (target,)
    print_prevalence(result, targets, country)
    click.echo(
        f"Wrote {', '.join(p.name for p in paths)} to {out}/ "
        f"(fit {result.timings['fit_s']:.1f} s: compile {result.timings['compile_s']:.1f} s, "
        f"sampling {result.timings['sample_s']:.1f} s"
        + (
            f"; posterior of an identical earlier fit reused, read in {result.timings['reuse_s']:.1f} s"
            if result.timings.get("reused")
            else ""
        )
        + ")"
    )
