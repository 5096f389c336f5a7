"""Reading user-editable TOML files in models/ with errors that name the file and key.

Every number goes through ``Reader.number`` (or ``numbers``): it must be finite (TOML allows
``nan`` and ``inf``, which no prior or setting means, and which no ``<`` comparison ever
rejects), a whole number where a count is asked for, and inside its range.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from forecast.core.errors import ConfigError, Issue, printable, shown
from forecast.core.textfile import read_text


def read_toml(path: Path) -> dict[str, Any]:
    path = Path(path)
    text = read_text(path, ConfigError, "TOML file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(Issue(str(path), line, None, f"not valid TOML: {printable(exc)}")) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(Issue(str(path), None, None, f"not valid TOML: {shown(str(exc), 80)}")) from None
    except RecursionError:
        raise ConfigError(Issue(str(path), None, None, "not valid TOML: nested too deeply")) from None


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_finite(v: float) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        return False


class Reader:
    """Typed access to a TOML table; every mistake is an Issue naming the dotted key."""

    def __init__(self, path: Path, table: dict, prefix: str = ""):
        self.path, self.table, self.prefix = path, table, prefix

    def _err(self, key: str, problem: str) -> ConfigError:
        return ConfigError(Issue(str(self.path), None, f"{self.prefix}{key}", problem))

    def sub(self, key: str, optional: bool = False) -> Reader:
        """The table under ``key``; an ``optional`` one may be missing (an empty table then)."""
        v = self.table.get(key, {} if optional else None)
        if not isinstance(v, dict):
            raise self._err(key, "missing table" if v is None else f"must be a table, got {shown(repr(v))}")
        return Reader(self.path, v, f"{self.prefix}{key}.")

    def _check_number(self, key: str, v, *, lo, hi, positive: bool, integer: bool) -> float:
        if not _is_number(v):
            raise self._err(key, f"must be a number, got {shown(repr(v))}")
        if not _is_finite(v):
            raise self._err(key, f"must be a finite number, got {shown(str(v))}")
        if integer and not float(v).is_integer():
            raise self._err(key, f"must be a whole number, got {v}")
        if positive and not v > 0:
            raise self._err(key, f"must be > 0, got {v}")
        if not ((lo is None or lo <= v) and (hi is None or v <= hi)):
            raise self._err(key, f"must lie in [{lo}, {hi}], got {v}")
        return float(v)

    def number(
        self,
        key: str,
        *,
        lo: float | None = None,
        hi: float | None = None,
        positive: bool = False,
        default: float | None = None,
        integer: bool = False,
    ) -> float:
        """A finite number (``integer``: a whole one), > 0 if ``positive``, in [lo, hi] if given."""
        v = self.table.get(key, default)
        if v is None:
            raise self._err(key, "missing number")
        return self._check_number(key, v, lo=lo, hi=hi, positive=positive, integer=integer)

    def numbers(
        self, key: str, count: int, *, lo: float | None = None, hi: float | None = None, shape: str = ""
    ) -> tuple[float, ...]:
        """A list of exactly ``count`` finite numbers, each in [lo, hi] if given; ``shape`` says
        what the list is, for the message (e.g. "[low, high] in percent per year")."""
        v = self.table.get(key)
        if not isinstance(v, list) or len(v) != count or not all(_is_number(x) for x in v):
            raise self._err(key, f"must be {shape or f'a list of {count} numbers'}, got {shown(repr(v))}")
        return tuple(self._check_number(key, x, lo=lo, hi=hi, positive=False, integer=False) for x in v)

    def integers(self, key: str, *, lo: int | None = None, hi: int | None = None) -> tuple[int, ...]:
        """A non-empty list of whole numbers, each in [lo, hi] if given (e.g. years)."""
        v = self.table.get(key)
        if not isinstance(v, list) or not v or not all(_is_number(x) for x in v):
            raise self._err(key, f"must be a list of whole numbers, got {shown(repr(v))}")
        return tuple(int(self._check_number(key, x, lo=lo, hi=hi, positive=False, integer=True)) for x in v)

    def normal(self, key: str) -> tuple[float, float]:
        """``{ mean = m, sd = s }`` with s > 0."""
        r = self.sub(key)
        return r.number("mean"), r.number("sd", positive=True)

    def log_normal(self, key: str) -> tuple[float, float]:
        """``{ median = m, log_sd = s }``, both > 0: a scale's prior, log-normal (never exactly zero)."""
        r = self.sub(key)
        r.unknown_keys({"median", "log_sd"})
        return r.number("median", positive=True), r.number("log_sd", positive=True)

    def text(self, key: str, default: str | None = None) -> str:
        v = self.table.get(key, default)
        if not isinstance(v, str) or not v:
            raise self._err(key, "missing text" if v is None else f"must be text, got {shown(repr(v))}")
        return v

    def optional_text(self, key: str) -> str:
        """Text that may be left out ("" then), but is text when given."""
        v = self.table.get(key, "")
        if not isinstance(v, str):
            raise self._err(key, f"must be text, got {shown(repr(v))}")
        return v

    def items(self, key: str) -> list[Reader]:
        v = self.table.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self._err(key, "must be a list of tables ([[...]])")
        return [Reader(self.path, x, f"{self.prefix}{key}[{i}].") for i, x in enumerate(v)]

    def unknown_keys(self, allowed: set[str]) -> None:
        extra = set(self.table) - allowed
        if extra:
            raise self._err(sorted(extra)[0], f"unknown key; allowed: {', '.join(sorted(allowed))}")
