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

import numpy as np
import pandas as pd

from forecast.data.vocab import REGION
from forecast.prevalence.evidence import KNOWLEDGE

OWN, POOLING, PRIOR = "own data", "pooling", "prior only"
LEVELS = (OWN, POOLING, PRIOR)  # strongest first
WINDOW = 2  # years: evidence this close to a cell counts as the cell's own (multiplier.py's MAX_YEAR_GAP)


def _near(years, year: int) -> bool:
    return bool((abs(np.asarray(years) - year) <= WINDOW).any())


def _years(evidence: pd.DataFrame, country: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """(years of evidence on the truth itself, years of any figure) of one country and target."""
    # cited regional knowledge (the diagnosed share) is added for every country: not its own data
    mine = evidence[(evidence.country == country) & (evidence.target == target) & ~evidence.quantity.isin(KNOWLEDGE)]
    return mine.year[mine.quantity.isin(["size", "multiplier"])].to_numpy(), mine.year.to_numpy()


def _level(years: tuple[np.ndarray, np.ndarray], year: int) -> str:
    truth, any_figure = years
    return OWN if _near(truth, year) else POOLING if _near(any_figure, year) else PRIOR


def cell_strength(evidence: pd.DataFrame, country: str, target: str, year: int) -> str:
    """The evidence strength of one country cell (``evidence``: the synthesis' evidence table)."""
    return _level(_years(evidence, country, target), year)


def evidence_strength(evidence: pd.DataFrame, cells: pd.DataFrame, countries) -> pd.Series:
    """The strength of every (country, target, year) row of ``cells``; a region row takes the
    weakest of its countries."""
    years = {(c, t): _years(evidence, c, t) for c in countries for t in cells.target.unique()}
    out = []
    for r in cells.itertuples(index=False):
        parts = countries if r.country == REGION else [r.country]
        out.append(max((_level(years[c, r.target], int(r.year)) for c in parts), key=LEVELS.index))
    return pd.Series(out, index=cells.index, name="evidence_strength")
