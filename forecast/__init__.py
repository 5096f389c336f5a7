"""forecast — true prevalence and scenario forecasts for the drug situation in Central Asia.

Stages (each a module with a plain function API on tidy DataFrames):
``validate`` → ``dataset`` → ``prevalence`` → ``scenarios`` → ``backtest`` → ``report``.
"""

__version__ = "0.1.0"
