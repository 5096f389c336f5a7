"""Reading user-editable TOML files in models/ with errors that name the file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from forecast.core.errors import ConfigError, Issue


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(Issue(str(path), None, None, "file not found")) from None
    except UnicodeDecodeError:
        raise ConfigError(Issue(str(path), None, None, "not UTF-8 text")) from None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(Issue(str(path), line, None, f"not valid TOML: {exc}")) from None


class Reader:
    """Typed access to a TOML table; every mistake is an Issue naming the dotted key."""

    def __init__(self, path: Path, table: dict, prefix: str = ""):
        self.path, self.table, self.prefix = path, table, prefix

    def _err(self, key: str, problem: str) -> ConfigError:
        return ConfigError(Issue(str(self.path), None, f"{self.prefix}{key}", problem))

    def sub(self, key: str) -> Reader:
        v = self.table.get(key)
        if not isinstance(v, dict):
            raise self._err(key, "missing table" if v is None else "must be a table")
        return Reader(self.path, v, f"{self.prefix}{key}.")

    def number(
        self,
        key: str,
        *,
        lo: float | None = None,
        hi: float | None = None,
        positive: bool = False,
        default: float | None = None,
    ) -> float:
        v = self.table.get(key, default)
        if v is None:
            raise self._err(key, "missing number")
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self._err(key, f"must be a number, got {v!r}")
        if positive and v <= 0:
            raise self._err(key, f"must be > 0, got {v}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self._err(key, f"must lie in [{lo}, {hi}], got {v}")
        return float(v)

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
            raise self._err(key, "missing text" if v is None else f"must be text, got {v!r}")
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
