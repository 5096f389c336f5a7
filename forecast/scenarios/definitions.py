"""Scenarios as data: models/scenarios.toml (and models/scenarios/*.toml), parsed and checked.

A scenario says, per indicator, a yearly growth range or "follow the model"; the indicator key
``seizures`` covers every ``seizures_*`` indicator. See the comments in models/scenarios.toml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forecast.core.errors import ConfigError, Issue
from forecast.core.resources import EMBEDDED_MODELS_DIR, models_file, user_scenarios_dir
from forecast.core.toml_reader import Reader, read_toml
from forecast.data import vocab

#: The embedded scenario file (a ./models/scenarios.toml in the current folder takes precedence).
DEFAULT_FILE = EMBEDDED_MODELS_DIR / "scenarios.toml"
GROUPS = {"seizures": "seizures_"}  # a key that stands for a family of indicators
REQUIRED = ("baseline", "optimistic", "pessimistic")


@dataclass(frozen=True)
class Assumption:
    growth_pct: tuple[float, float] | None  # None = follow the model
    basis: str
    ref: str

    @property
    def text(self) -> str:
        if self.growth_pct is None:
            return "follows the fitted model"
        lo, hi = self.growth_pct
        return f"{lo:+g}% to {hi:+g}% a year" if lo != hi else f"{lo:+g}% a year"


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    source: str
    ref: str
    years: int
    drivers: str
    assumptions: dict[str, Assumption]
    default: Assumption
    file: str

    def for_indicator(self, indicator: str) -> Assumption:
        if indicator in self.assumptions:
            return self.assumptions[indicator]
        for key, prefix in GROUPS.items():
            if indicator.startswith(prefix) and key in self.assumptions:
                return self.assumptions[key]
        return self.default


def _assumption(r: Reader) -> Assumption:
    r.unknown_keys({"growth_pct", "follow", "basis", "ref"})
    has_growth, has_follow = "growth_pct" in r.table, "follow" in r.table
    if has_growth == has_follow:
        raise r._err("growth_pct", 'give exactly one of growth_pct = [low, high] or follow = "model"')
    basis = r.text("basis")
    ref = r.table.get("ref", "")
    if has_follow:
        if r.table["follow"] != "model":
            raise r._err("follow", f'must be "model", got {r.table["follow"]!r}')
        return Assumption(None, basis, ref)
    g = r.table["growth_pct"]
    if (
        not isinstance(g, list)
        or len(g) != 2
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in g)
    ):
        raise r._err("growth_pct", f"must be [low, high] in percent per year, got {g!r}")
    lo, hi = float(g[0]), float(g[1])
    if lo > hi:
        raise r._err("growth_pct", f"low {lo:g} is greater than high {hi:g}")
    if lo <= -100 or hi > 1000:
        raise r._err("growth_pct", f"[{lo:g}, {hi:g}] is not a plausible yearly growth in percent")
    return Assumption((lo, hi), basis, ref)


def _scenario(name: str, r: Reader) -> Scenario:
    r.unknown_keys({"label", "source", "ref", "years", "default", "drivers", "indicators"})
    default = r.table.get("default", "model")
    if default != "model":
        raise r._err("default", f'must be "model", got {default!r}')
    assumptions = {}
    for key, table in (r.table.get("indicators") or {}).items():
        if key not in vocab.INDICATORS and key not in GROUPS:
            valid = ", ".join(sorted([*GROUPS, *vocab.INDICATORS]))
            raise r._err(f"indicators.{key}", f"unknown indicator; valid: {valid}")
        if not isinstance(table, dict):
            raise r._err(f"indicators.{key}", "must be a table")
        assumptions[key] = _assumption(Reader(r.path, table, f"{r.prefix}indicators.{key}."))
    return Scenario(
        name=name,
        label=r.text("label"),
        source=r.table.get("source", ""),
        ref=r.table.get("ref", ""),
        years=int(r.number("years", lo=1, hi=5)),
        drivers=" ".join(r.text("drivers").split()),
        assumptions=assumptions,
        default=Assumption(None, "not named by the scenario", ""),
        file=str(r.path),
    )


def load_scenarios(path: Path | str | None = None, user_dir: Path | None = None) -> dict[str, Scenario]:
    """All scenarios: the main file plus one file per user scenario; ConfigError on any problem."""
    main = Path(path) if path else models_file("scenarios.toml")
    files = [main]
    folder = user_dir if user_dir is not None else (user_scenarios_dir() if path is None else None)
    if folder and folder.is_dir():
        files += sorted(folder.glob("*.toml"))
    scenarios: dict[str, Scenario] = {}
    for f in files:
        r = Reader(f, read_toml(f))
        r.unknown_keys({"scenarios"})
        tables = r.sub("scenarios")
        for name in tables.table:
            if not name.replace("_", "").isalnum():
                raise ConfigError(Issue(str(f), None, f"scenarios.{name}", "name must be letters, digits and _"))
            if name in scenarios:
                raise ConfigError(
                    Issue(str(f), None, f"scenarios.{name}", f"defined twice (also in {scenarios[name].file})")
                )
            scenarios[name] = _scenario(name, tables.sub(name))
    missing = [n for n in REQUIRED if n not in scenarios]
    if missing and path is None:
        raise ConfigError(Issue(str(main), None, "scenarios", f"missing required scenario(s): {', '.join(missing)}"))
    return scenarios
