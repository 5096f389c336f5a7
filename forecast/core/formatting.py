"""The one way numbers are written for people (terminal tables, report, charts, messages).

Machine files (CSV, JSON) are written by pandas and ``core.outputs``, never through these.
"""

from __future__ import annotations

import math

MISSING = "–"


def _finite(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def number(x, digits: int = 3) -> str:
    """A quantity as a reader writes it: ``digits`` significant figures, thousands separated
    (12,500; 0.42; 1.5; 3.1 million is 3,100,000). Missing or infinite values read "–"."""
    x = _finite(x)
    if x is None:
        return MISSING
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    rounded = round(x, -mag + digits - 1)
    decimals = max(0, digits - 1 - mag)
    text = f"{rounded:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if decimals else text  # 0.42, not 0.420


def count(x) -> str:
    """A figure as recorded: whole numbers exactly (6,243), others of 100 or more to the unit
    (12,346), small ones to 3 significant figures (0.42, 70.6)."""
    x = _finite(x)
    if x is None:
        return MISSING
    if x.is_integer() or abs(x) >= 100:
        return f"{x:,.0f}"
    return number(x)


def band(lo, hi) -> str:
    """A range, each end to 3 significant figures: 12,500–40,000."""
    return f"{number(lo)}–{number(hi)}"


def open_band(lo, hi) -> str:
    """A range that may be open on one side: 12,500–40,000 / ≤ 40,000 / ≥ 12,500 / "" if neither."""
    lo, hi = _finite(lo), _finite(hi)
    if lo is not None and hi is not None:
        return band(lo, hi)
    if hi is not None:
        return f"≤ {number(hi)}"
    return f"≥ {number(lo)}" if lo is not None else ""


def figure(value, low=None, high=None) -> str:
    """How a source's figure reads: 6,243 / 6,243 (5,000–7,000) / 45,000–55,000 / ≥ 100,000 / ≤ 3."""
    v, lo, hi = _finite(value), _finite(low), _finite(high)
    if v is not None:
        if lo is None and hi is None:
            return count(v)
        return f"{count(v)} ({count(lo) if lo is not None else ''}–{count(hi) if hi is not None else ''})"
    if lo is not None and hi is not None:
        return f"{count(lo)}–{count(hi)}"
    if lo is not None:
        return f"≥ {count(lo)}"
    if hi is not None:
        return f"≤ {count(hi)}"
    return MISSING
