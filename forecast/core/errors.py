"""Errors a user can act on. The CLI prints each issue as one line and exits with code 2.

Implausible but legal input is not an error: ``warn`` raises an ``InputWarning`` (a Python
warning, so scripts see it too), which the CLI prints as one ``warning:`` line and carries on.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

# control characters (NUL, escape sequences, line breaks) and bidirectional overrides: never printed raw
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe for one line of a terminal: control characters as ``\\x..`` escapes."""
    return _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], str(text))


def shown(cell: str, limit: int = 40) -> str:
    """A user's cell as an error message quotes it: printable, and cut to ``limit`` characters."""
    cell = printable(cell)
    return cell if len(cell) <= limit else f"{cell[:limit]}… ({len(cell):,} characters)"


@dataclass(frozen=True)
class Issue:
    """One problem in one place of a user's file."""

    file: str
    row: int | None  # 1-based line number in the file (header = line 1); None = whole file
    column: str | None  # a CSV column, or a TOML file's dotted key
    problem: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", {'key' if self.file.endswith('.toml') else 'column'} '{self.column}'"
        return printable(f"{where}: {self.problem}")


class InputError(Exception):
    """Bad input from the user (data, config, arguments): exit code 2, nothing written."""

    def __init__(self, issues: list[Issue] | Issue | str):
        if isinstance(issues, str | Issue):
            issues = [issues]
        self.issues = [i if isinstance(i, Issue) else Issue(str(i), None, None, "") for i in issues]
        self.lines = [str(i) if isinstance(i, Issue) else printable(i) for i in issues]
        super().__init__("\n".join(self.lines))


class DataError(InputError):
    """A data file breaks the contract in DESIGN.md."""


class ConfigError(InputError):
    """A file in models/ (priors, scenarios) is malformed."""


class EnvironmentFailure(Exception):
    """The machine, not the input, failed the command (a full disk, a read-only disk): exit 1, one line."""


class InputWarning(UserWarning):
    """Implausible but legal input (a year in the future, a multiplier of 5,000 ...): worth a look."""


def warn(issue: Issue | str) -> None:
    """Report implausible but legal input, naming the file, row and column; the run goes on."""
    warnings.warn(str(issue) if isinstance(issue, Issue) else printable(issue), InputWarning, stacklevel=2)
