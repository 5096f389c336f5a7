"""Estimate true drug users with your own multiplier study added to the evidence.

    python examples/own_multiplier_study.py [OUT_DIR]

Copies the embedded data to a scratch folder (your data is never changed in place), appends one
study — say a 2002 capture-recapture study in Tajikistan finding 8 (6-11) users per registered
user — fits the synthesis, and shows where the new study pulls and how well it agrees with the rest.
"""

import shutil
import sys
import tempfile
from pathlib import Path

from forecast.data.dataset import DEFAULT_DATA_DIR, load_dataset
from forecast.prevalence import estimate
from forecast.prevalence.headline import headline_table

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
data = out / "data"
shutil.copytree(DEFAULT_DATA_DIR, data, dirs_exist_ok=True, ignore=shutil.ignore_patterns("vintages"))
with open(data / "multipliers.csv", "a", encoding="utf-8") as fh:
    fh.write(
        "my-crc-2002,Tajikistan,users,2002,8,6,11,field_sampling,"
        "My capture-recapture study 2002,,hypothetical study for this example\n"
    )

result = estimate(load_dataset(data), seed=1, progress=False)
result.write(out)

print(headline_table(result, ("users",), "Tajikistan").round(1).to_string(index=False))
mine = result.conflicts[result.conflicts.evidence_id == "my-crc-2002"]
print(
    mine[["evidence_id", "figure", "synthesis_median", "without_median", "shift_pct", "tail_probability", "flag"]]
    .round(3)
    .to_string(index=False)
)
print("diagnostics:", "PASS" if result.verdict.passed else "FAILED: " + "; ".join(result.verdict.messages))
print(f"wrote estimates.csv and friends to {out}")
