"""Plain summaries of the dataset for `forecast data show` and the report's appendix."""

from __future__ import annotations

import pandas as pd


def _years(ys: pd.Series) -> str:
    ys = sorted(set(int(y) for y in ys))
    runs, start = [], ys[0]
    for a, b in zip(ys, ys[1:] + [None], strict=False):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(runs)


def dataset_summary(obs: pd.DataFrame) -> pd.DataFrame:
    """One row per (country, indicator): years covered, number of figures and of sources."""
    g = obs.groupby(["country", "indicator"])
    return pd.DataFrame(
        {
            "years": g["year"].apply(_years),
            "figures": g.size(),
            "sources": g["source"].nunique(),
        }
    ).reset_index()


def _document(ref) -> str:
    """Where a figure stands: its seed file, the web site of a URL, or the repository of a path."""
    if not isinstance(ref, str) or not ref.strip():
        return "(no ref)"
    ref = ref.strip()
    if ref.startswith(("http://", "https://")):
        host = ref.split("/")[2]
        return host.removeprefix("www.")
    if ref.startswith("github:"):
        return ref.split()[0]
    return ref.split(":")[0]


def source_counts(obs: pd.DataFrame, mult: pd.DataFrame) -> pd.DataFrame:
    """Figures per source document (the seed file the ref points to) and per cited source."""
    both = pd.concat([obs.assign(table="observations"), mult.assign(table="multipliers")])
    both["document"] = both["ref"].map(_document)
    return (
        both.groupby(["document", "source"])
        .size()
        .rename("figures")
        .reset_index()
        .sort_values(["document", "figures"], ascending=[True, False])
    )
