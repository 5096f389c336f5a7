"""Calibrate with a year of new figures, see which scenario reality tracks, refit, render the report.

    python examples/calibrate_and_report.py [OUT_DIR]

Works on a scratch copy of the embedded data (a calibration adds a vintage to the data folder;
the base files are never changed). The new figures are examples/data/new_figures_2004.csv
(made up for this example, not real data).
"""

import shutil
import sys
import tempfile
from pathlib import Path

from forecast.calibration import commit, prepare, write_outputs
from forecast.data.dataset import DEFAULT_DATA_DIR
from forecast.data.vintages import Store
from forecast.pipeline import refit

NEW_FIGURES = Path(__file__).resolve().parent / "data" / "new_figures_2004.csv"

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
data = out / "data"
shutil.copytree(DEFAULT_DATA_DIR, data, dirs_exist_ok=True, ignore=shutil.ignore_patterns("vintages"))

store = Store(data)  # the data folder's vintages, built once and passed to every step
cal = prepare([NEW_FIGURES], store, out=out)  # validate, diff, score: writes nothing
print("changes:", cal.counts)
baseline = cal.scores[cal.scores.scenario == "baseline"]
print(baseline[["country", "indicator", "year", "value", "band", "pit", "crps"]].to_string(index=False))
print(cal.verdict)

vintage = commit(cal, store)  # the new vintage (atomic)
write_outputs(cal, out, store)  # calibration.csv, scenario weights, track record
result = refit(cal, store, out, horizon=5, seed=1, render=True)  # synthesis + forecasts on the new vintage
print(f"vintage {vintage.id}; report: {result['paths'].get('html')}, {result['paths'].get('pdf')}")
prevalence = result["prevalence"]  # the synthesis refitted on the new vintage: check it converged
print("diagnostics:", "pass" if prevalence.verdict.passed else "FAILED: " + "; ".join(prevalence.verdict.messages))
if prevalence.sampling_note:
    print(f"the posterior was {prevalence.sampling_note}")
