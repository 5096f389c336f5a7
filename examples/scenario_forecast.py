"""Write your own scenario and forecast under it, beside Osmonaliev's three.

    python examples/scenario_forecast.py [OUT_DIR]

A scenario is a small TOML table: per indicator, a yearly growth range (or "follow the model").
Here: a ministry plan that expects drug crimes to fall 5-8% a year for three years.
"""

import sys
import tempfile
from pathlib import Path

from forecast.core.outputs import write_csv
from forecast.data.dataset import load_dataset
from forecast.scenarios.definitions import load_scenarios
from forecast.scenarios.forecasts import scenario_forecasts

MY_SCENARIO = """
[scenarios.ministry_plan]
label = "Ministry plan 2005-2007"
source = "hypothetical national strategy"
years = 3
drivers = "more treatment places, stricter border control"

[scenarios.ministry_plan.indicators.drug_crimes]
growth_pct = [-8, -5]
basis = "the plan's target: drug crime down 5-8% a year"
"""

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
folder = out / "scenarios"
folder.mkdir(parents=True, exist_ok=True)
(folder / "ministry_plan.toml").write_text(MY_SCENARIO)

scenarios = load_scenarios(user_dir=folder)  # the three built-in ones + yours
forecasts, history = scenario_forecasts(load_dataset(), horizon=3, scenarios=scenarios, seed=1)
write_csv(forecasts, out / "forecasts.csv")

crimes = forecasts[(forecasts.indicator == "drug_crimes") & (forecasts.year == forecasts.last_year + 3)]
print(crimes[["country", "scenario", "year", "median", "lo_95", "hi_95"]].round(0).to_string(index=False))
print(f"wrote {out / 'forecasts.csv'}")
