"""A table as the template draws it: a caption, a header, rows of display strings, and the file behind it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    """Every table has a caption (its accessible name) and names the file its numbers come from.

    The template writes ``<caption>``, ``<th scope="col">`` for the header and ``<th scope="row">``
    for the first cell of each row (``row_headers``), so that a screen reader can name every cell.
    """

    columns: list[str]
    rows: list[list[str]]
    source: str
    caption: str = ""
    numeric: set[int] = field(default_factory=set)  # right-aligned column positions
    row_classes: list[str] = field(default_factory=list)
    cell_classes: dict[tuple[int, int], str] = field(default_factory=dict)
    css: str = ""
    row_headers: bool = True

    def cls(self, i: int, j: int) -> str:
        return " ".join(filter(None, ["num" if j in self.numeric else "", self.cell_classes.get((i, j), "")]))
