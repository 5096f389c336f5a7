"""Readable tables on the terminal (rich), from tidy DataFrames."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from forecast.core.formatting import count


def _fmt(v) -> str:
    return count(v) if isinstance(v, float) else str(v)


def print_table(df: pd.DataFrame, title: str | None = None, console: Console | None = None) -> None:
    console = console or Console(width=160, emoji=False)
    table = Table(title=title, show_lines=False, header_style="bold")
    for col in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[col])
        table.add_column(str(col), justify="right" if numeric else "left", overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*(Text(_fmt(v)) for v in row))  # Text: user strings are never markup
    console.print(table)
