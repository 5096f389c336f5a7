"""Calibration: new annual figures → validated intake → diff → scores of the last forecast → weights → a new vintage.

    from forecast.calibration import commit, prepare, write_outputs
    from forecast.data.vintages import Store

    store = Store("data")                     # built once, passed to every step
    cal = prepare(["new_figures.csv"], store, out="reports")   # validate, diff, score: writes nothing
    commit(cal, store)                        # the new vintage (atomic)
    write_outputs(cal, "reports", store)      # calibration.csv, scenario_weights.csv, track record

Modules, one job each: ``intake`` (read and validate the files), ``diff`` (new / restated /
revised, the merged tables), ``previous`` (the previous vintage's forecast with its draws, its
estimates, the last weights),
``scores`` (band, PIT, CRPS, density of the new figures and of each series' joint path, from the
draws), ``weights`` (which scenario reality is tracking: joint paths, related series tempered, the
prior carried) and ``job`` (the steps in order). The refit on the new vintage is
``forecast.pipeline.refit``.
"""

from forecast.calibration.job import Calibration, commit, estimate_changes, prepare, write_outputs

__all__ = ["Calibration", "commit", "estimate_changes", "prepare", "write_outputs"]
