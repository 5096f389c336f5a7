"""Errors a user can act on. The CLI prints each issue as one line and exits with code 2."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem in one place of a user's file."""

    file: str
    row: int | None  # 1-based line number in the file (header = line 1); None = whole file
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        return f"{where}: {self.problem}"


class InputError(Exception):
    """Bad input from the user (data, config, arguments): exit code 2, nothing written."""

    def __init__(self, issues: list[Issue] | Issue | str):
        if isinstance(issues, str | Issue):
            issues = [issues]
        self.issues = [i if isinstance(i, Issue) else Issue(str(i), None, None, "") for i in issues]
        self.lines = [str(i) if isinstance(i, Issue) else i for i in issues]
        super().__init__("\n".join(self.lines))


class DataError(InputError):
    """A data file breaks the contract in DESIGN.md."""


class ConfigError(InputError):
    """A file in models/ (priors, scenarios) is malformed."""
