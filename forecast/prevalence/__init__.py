"""True prevalence: the multiplier method and the Bayesian evidence synthesis.

    from forecast.data.dataset import load_dataset
    from forecast.prevalence import estimate
    result = estimate(load_dataset(), seed=1)
    result.estimates          # tidy table, DESIGN.md's estimates.csv

The stage lives in ``forecast.prevalence.stage``; it is imported lazily here so that the light
modules of this package (headline tables, evidence, config) load without PyMC.
"""

_STAGE = ("estimate", "PrevalenceResult", "DIAGNOSED", "ESTIMATE_COLUMNS")


def __getattr__(name: str):
    if name in _STAGE:
        from forecast.prevalence import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'forecast.prevalence' has no attribute {name!r}")
