"""Forecasting models for short annual series (3-15 points, gaps allowed).

Every model works on the log scale, ``log1p(value)``, so a forecast can never go negative and
multiplicative growth (what counts of users, cases and seizures do) is a straight line. Each model
returns *predictive samples*, not point forecasts: a forecast is a distribution (see DESIGN.md),
and a mixture of models is then a plain pooling of samples.

With 3-15 points the estimated parameters are themselves very uncertain, and a plug-in forecast
(parameters fixed at their estimate) gives bands that are too narrow — a bug by the design's
rules. So every model here integrates over its parameters, exactly, by conjugacy or quadrature:

``loglinear``   OLS trend; posterior of (a, b, sigma) -> Student-t predictive.       (loglinear.py)
``ets_damped``  ETS(A,Ad,N), statsmodels' recursion; initial state, sigma and the smoothing
                parameters integrated out.                                           (ets.py)
``arima``       ARIMA(p,1,0), p in {0,1}, +/- drift, picked by AICc on the exact likelihood,
                then its parameters drawn from their exact posterior.                (arima.py)
``bayes_llt``   Bayesian damped local-linear trend by quadrature; the same model in PyMC is
                ``bayes_llt_pymc`` (NUTS, with nutpie when installed).               (llt.py)
``theta``       the Theta method: SES with drift = half the trend slope, parameters
                integrated out.                                                      (theta.py)
``combined``    the default: a mixture (pooled samples) of arima, bayes_llt, theta and naive
                with stacking weights per history length (learned on M3 + Tourism yearly),
                its log-scale spread scaled by a *band profile* per history length,
                roughness of the history and horizon (conformal factors learned on M3 +
                Tourism and on drug-like simulated series; the default profile is never
                narrower than either family needs; ``bands=`` picks another).  (registry.py)
``naive``, ``drift``  benchmarks: random walk / random walk with drift, parameters integrated.
                                                                                     (naive.py)

The samples type and input checks are in ``samples.py``; the conjugate noise prior and the
Bayesian linear regression that several families share are in ``conjugate.py``.

Gaps: ``loglinear``, ``naive``, ``drift`` and ``bayes_llt`` use the observed years as they are
(the Kalman filter skips missing years; naive/drift scale each step by its length in years).
``ets_damped`` and ``arima`` need a regular grid: they run on the series linearly interpolated
(on the log scale) over the missing years, which slightly understates their noise variance.
"""

from forecast.timeseries.registry import MODELS, fit_forecast, fit_many
from forecast.timeseries.samples import MIN_POINTS, ForecastSamples, TooShortError

__all__ = ["MIN_POINTS", "MODELS", "ForecastSamples", "TooShortError", "fit_forecast", "fit_many"]
