"""Reading the calibration files: every file validated in full before anything is diffed or written.

A calibration file is an observations or a multiplier-evidence table (DESIGN.md, Contracts). On top
of the contract, a calibration takes one official figure per series and year, no estimate twice
and no multiplier id twice, across all the files of one run. All problems of all files are
reported at once (one line each, exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.core.errors import DataError, Issue
from forecast.data import vocab
from forecast.data.contract import check_file, read_table
from forecast.data.vintages import sha256_file


def recorded_path(path: Path | str, root: Path | None) -> str:
    """How a vintage records an input file's path: relative to the data folder when inside it."""
    path = Path(path).resolve()
    if root is not None and path.is_relative_to(Path(root).resolve()):
        return str(path.relative_to(Path(root).resolve()))
    return str(path)


@dataclass
class Incoming:
    """One validated calibration file."""

    path: Path
    kind: str  # observations | multipliers
    table: pd.DataFrame  # contract columns + _file, _line (where each row stands in its file)
    sha256: str

    def describe(self, root: Path | None = None) -> dict:
        """The file as the vintage manifest records it (its path relative to ``root`` when inside it,
        so that a data folder's manifests do not depend on where it is checked out)."""
        return {
            "name": self.path.name,
            "path": recorded_path(self.path, root),
            "sha256": self.sha256,
            "kind": self.kind,
            "rows": len(self.table),
        }


def read_calibration_files(paths: list[Path]) -> list[Incoming]:
    """Validate every file (all problems of all files at once); DataError if any."""
    issues: list[Issue] = []
    files: list[Incoming] = []
    for path in paths:
        path = Path(path)
        try:
            kind, table = check_file(path)
        except DataError as exc:
            issues += exc.issues
            continue
        columns, optional = {
            "observations": (vocab.OBSERVATION_COLUMNS, vocab.OPTIONAL_OBSERVATION_COLUMNS),
            "multipliers": (vocab.MULTIPLIER_COLUMNS, ("id",)),
            "conflicts": (vocab.CONFLICT_COLUMNS, ()),
        }[kind]
        lines = read_table(path, columns, optional=optional).index
        table = table.assign(_file=str(path), _line=np.asarray(lines, dtype=int))
        files.append(Incoming(path, kind, table, sha256_file(path)))
    issues += cross_file_issues(files)
    if issues:
        raise DataError(issues)
    return files


#: (table kind, key columns, only rows of this kind (None: all), message) — one rule per line
_RULES = [
    (
        "observations",
        ["country", "indicator", "year", "period", "scope", "source"],
        "official",
        "a second official figure for {desc} (first at {first}); "
        "a source gives one official figure per series and year",
    ),
    (
        "observations",
        ["country", "indicator", "year", "period", "scope", "source", "kind"],
        "estimate",
        "duplicate of {first} ({desc})",
    ),
    ("multipliers", ["id"], None, "id {desc} is used twice (first at {first})"),
    ("conflicts", ["id"], None, "conflict id {desc} is used twice (first at {first})"),
]


def cross_file_issues(files: list[Incoming]) -> list[Issue]:
    """Calibration rules beyond the contract, across all files: one official figure per series and
    year, no estimate twice, unique multiplier ids."""
    issues = []
    for kind, key, only_kind, message in _RULES:
        parts = [f.table for f in files if f.kind == kind]
        if not parts:
            continue
        t = pd.concat(parts, ignore_index=True)
        if only_kind:
            t = t[t.kind == only_kind]
        seen: dict[tuple, str] = {}
        for _, r in t.iterrows():
            k = tuple(r[c] for c in key)
            here = f"{r._file}, row {r._line}"
            if k in seen:
                desc = " ".join(str(x) for x in k)
                issues.append(Issue(r._file, int(r._line), None, message.format(desc=desc, first=seen[k])))
            else:
                seen[k] = here
    return issues
