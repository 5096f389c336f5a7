"""How much of a cell's estimate rests on the country's own evidence: "own data", "pooling" or
"prior only" — shown beside every estimate so that a prior-only number is never read as a finding.

For a country, target and year:
- own data: the country has evidence on the true number itself (a size estimate or a multiplier)
  for that target within ``WINDOW`` years;
- pooling: it has figures of its own for that target within ``WINDOW`` years (registers, new
  diagnoses), but how far the truth exceeds them is borrowed from the other countries (or carried
  from its own evidence further away in time);
- prior only: it has no figure at all for that target within ``WINDOW`` years: the number is the
  priors plus what the other countries say about the region.
A Central Asia cell is as strong as its weakest country: a sum is only as well known as its
least-known part.
"""

from __future__ import annotations

import pandas as pd

from forecast.data.vocab import REGION
from forecast.prevalence.evidence import KNOWLEDGE

OWN, POOLING, PRIOR = "own data", "pooling", "prior only"
LEVELS = (OWN, POOLING, PRIOR)  # strongest first
WINDOW = 2  # years: evidence this close to a cell counts as the cell's own (multiplier.py's MAX_YEAR_GAP)


def _near(years: pd.Series, year: int) -> bool:
    return bool(((years - year).abs() <= WINDOW).any())


def cell_strength(evidence: pd.DataFrame, country: str, target: str, year: int) -> str:
    """The evidence strength of one country cell (``evidence``: the synthesis' evidence table)."""
    # cited regional knowledge (the diagnosed share) is added for every country: not its own data
    mine = evidence[(evidence.country == country) & (evidence.target == target) & ~evidence.quantity.isin(KNOWLEDGE)]
    truth = mine[mine.quantity.isin(["size", "multiplier"])]
    if _near(truth.year, year):
        return OWN
    if _near(mine.year, year):
        return POOLING
    return PRIOR


def evidence_strength(evidence: pd.DataFrame, cells: pd.DataFrame, countries) -> pd.Series:
    """The strength of every (country, target, year) row of ``cells``; a region row takes the
    weakest of its countries."""
    out = []
    for r in cells.itertuples(index=False):
        if r.country == REGION:
            levels = [cell_strength(evidence, c, r.target, int(r.year)) for c in countries]
            out.append(max(levels, key=LEVELS.index))
        else:
            out.append(cell_strength(evidence, r.country, r.target, int(r.year)))
    return pd.Series(out, index=cells.index, name="evidence_strength")
