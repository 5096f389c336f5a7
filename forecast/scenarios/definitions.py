"""Scenarios as data: models/scenarios.toml (and models/scenarios/*.toml), parsed and checked.

A scenario says, per indicator, a yearly growth range, "follow the model" or "as baseline"; the
indicator key ``seizures`` covers every ``seizures_*`` indicator. Its window (``years``) and what
happens after it (``after_window``) are stated once, here, and every text (forecasts.csv, the
report, the console) is written from them. See the comments in models/scenarios.toml.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from forecast.core.errors import ConfigError, Issue
from forecast.core.resources import EMBEDDED_MODELS_DIR, models_file, user_scenarios_dir
from forecast.core.toml_reader import Reader, read_toml
from forecast.data import vocab

#: The embedded scenario file (a ./models/scenarios.toml in the current folder takes precedence).
DEFAULT_FILE = EMBEDDED_MODELS_DIR / "scenarios.toml"
GROUPS = {"seizures": "seizures_"}  # a key that stands for a family of indicators
REQUIRED = ("baseline", "optimistic", "pessimistic")
BASELINE = "baseline"

#: what follows an indicator the scenario gives no growth for
MODEL, AS_BASELINE = "model", "baseline"
#: what happens after the author's window: the drawn rate goes on, or the model's own trend takes over
KEEP_RATE, MODEL_TREND = "keep rate", "model trend"
AFTER_WINDOW = (KEEP_RATE, MODEL_TREND)
#: the longest window (and forecast horizon) in years
MAX_WINDOW = 5


@dataclass(frozen=True)
class Assumption:
    growth_pct: tuple[float, float] | None  # None: no growth of its own (see ``follow``)
    basis: str
    ref: str
    follow: str | None = None  # None (growth_pct given), "model" or "baseline"
    stated: bool = True  # False: the scenario names no rule for the indicator (its ``default``)

    @property
    def as_baseline(self) -> bool:
        return self.follow == AS_BASELINE

    @property
    def text(self) -> str:
        if self.as_baseline:
            return "as baseline"
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
    years: int  # the author's window, counted from the first forecast year
    drivers: str
    assumptions: dict[str, Assumption]
    default: Assumption
    file: str
    years_basis: str = ""  # the author's words for the window
    years_ref: str = ""
    after_window: str = KEEP_RATE
    most_likely: bool = False  # the author calls this scenario the most likely one
    most_likely_basis: str = ""
    most_likely_ref: str = ""
    baseline: Scenario | None = field(default=None, compare=False, repr=False)  # for "as baseline"

    def for_indicator(self, indicator: str) -> Assumption:
        """The assumption as this scenario writes it (its ``default`` where it names none)."""
        if indicator in self.assumptions:
            return self.assumptions[indicator]
        for key, prefix in GROUPS.items():
            if indicator.startswith(prefix) and key in self.assumptions:
                return self.assumptions[key]
        return self.default

    def rule(self, indicator: str) -> tuple[Scenario, Assumption]:
        """The scenario whose rule applies, and that rule: "as baseline" resolves to the baseline's."""
        a = self.for_indicator(indicator)
        if a.as_baseline and self.baseline is not None:
            return self.baseline.rule(indicator)
        return self, a

    @property
    def window(self) -> str:
        """The window and what follows it, in words (the one wording every output uses)."""
        if self.years >= MAX_WINDOW:
            return f"scenario growth over the whole forecast horizon (up to {MAX_WINDOW} years)"
        span = f"the author's {self.years} year{'s' if self.years != 1 else ''}"
        after = "then the same drawn rate kept" if self.after_window == KEEP_RATE else "then the model's own trend"
        return f"scenario growth for {span}, {after}"

    def describe(self, indicator: str, horizon: int) -> str:
        """The assumption column of forecasts.csv for one indicator over ``horizon`` forecast years."""
        a = self.for_indicator(indicator)
        silent = f"the source gives no figure for {indicator} under this scenario"
        if a.as_baseline:
            return f"as baseline — {silent}"
        if a.growth_pct is None:
            return a.text if a.stated else f"{a.text} — {silent}"
        if horizon <= self.years:
            return a.text
        if self.after_window == KEEP_RATE:
            return f"{a.text} (the author's {self.years} years, then the same rate kept)"
        return f"{a.text} for the author's {self.years} years, then the model's trend"


def _assumption(r: Reader) -> Assumption:
    r.unknown_keys({"growth_pct", "follow", "basis", "ref"})
    has_growth, has_follow = "growth_pct" in r.table, "follow" in r.table
    if has_growth == has_follow:
        raise r._err("growth_pct", 'give exactly one of growth_pct = [low, high] or follow = "model" / "baseline"')
    basis = r.text("basis")
    ref = r.table.get("ref", "")
    if has_follow:
        if r.table["follow"] not in (MODEL, AS_BASELINE):
            raise r._err("follow", f'must be "model" or "baseline", got {r.table["follow"]!r}')
        return Assumption(None, basis, ref, follow=r.table["follow"])
    lo, hi = r.numbers("growth_pct", 2, shape="[low, high] in percent per year")  # finite numbers
    if lo > hi:
        raise r._err("growth_pct", f"low {lo:g} is greater than high {hi:g}")
    if lo <= -100 or hi > 1000:
        raise r._err("growth_pct", f"[{lo:g}, {hi:g}] is not a plausible yearly growth in percent")
    return Assumption((lo, hi), basis, ref)


_SCENARIO_KEYS = {
    "label",
    "source",
    "ref",
    "years",
    "years_basis",
    "years_ref",
    "after_window",
    "most_likely",
    "most_likely_basis",
    "most_likely_ref",
    "default",
    "drivers",
    "indicators",
}


def _scenario(name: str, r: Reader) -> Scenario:
    r.unknown_keys(_SCENARIO_KEYS)
    default = r.table.get("default", MODEL)
    if default not in (MODEL, AS_BASELINE):
        raise r._err("default", f'must be "model" or "baseline", got {default!r}')
    after = r.table.get("after_window", KEEP_RATE)
    if after not in AFTER_WINDOW:
        raise r._err("after_window", f"must be one of {', '.join(map(repr, AFTER_WINDOW))}, got {after!r}")
    most_likely = r.table.get("most_likely", False)
    if not isinstance(most_likely, bool):
        raise r._err("most_likely", f"must be true or false, got {most_likely!r}")
    assumptions = {}
    for key, table in r.sub("indicators", optional=True).table.items():
        if key not in vocab.INDICATORS and key not in GROUPS:
            valid = ", ".join(sorted([*GROUPS, *vocab.INDICATORS]))
            raise r._err(f"indicators.{key}", f"unknown indicator; valid: {valid}")
        if not isinstance(table, dict):
            raise r._err(f"indicators.{key}", "must be a table")
        assumptions[key] = _assumption(Reader(r.path, table, f"{r.prefix}indicators.{key}."))
    if name == BASELINE and (default == AS_BASELINE or any(a.as_baseline for a in assumptions.values())):
        raise r._err("default", 'the baseline cannot follow "baseline"')
    return Scenario(
        name=name,
        label=r.text("label"),
        source=r.table.get("source", ""),
        ref=r.table.get("ref", ""),
        years=int(r.number("years", lo=1, hi=5, integer=True)),
        drivers=" ".join(r.text("drivers").split()),
        assumptions=assumptions,
        default=Assumption(None, "not named by the scenario", "", follow=default, stated=False),
        file=str(r.path),
        years_basis=" ".join(str(r.table.get("years_basis", "")).split()),
        years_ref=r.table.get("years_ref", ""),
        after_window=after,
        most_likely=most_likely,
        most_likely_basis=" ".join(str(r.table.get("most_likely_basis", "")).split()),
        most_likely_ref=r.table.get("most_likely_ref", ""),
    )


def _link_baseline(scenarios: dict[str, Scenario]) -> dict[str, Scenario]:
    """Give every scenario the baseline it defers to; a scenario that defers without one is an error."""
    base = scenarios.get(BASELINE)
    out = {}
    for name, s in scenarios.items():
        defers = s.default.as_baseline or any(a.as_baseline for a in s.assumptions.values())
        if defers and base is None:
            raise ConfigError(
                Issue(s.file, None, f"scenarios.{name}", 'follows "baseline" but no [scenarios.baseline] is defined')
            )
        out[name] = replace(s, baseline=base if name != BASELINE else None)
    return out


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
            likely = [s for s in scenarios.values() if s.most_likely]
            if len(likely) > 1:
                raise ConfigError(
                    Issue(
                        str(f),
                        None,
                        f"scenarios.{name}.most_likely",
                        f"only one scenario can be the most likely (also {likely[0].name}, in {likely[0].file})",
                    )
                )
    missing = [n for n in REQUIRED if n not in scenarios]
    if missing and path is None:
        raise ConfigError(Issue(str(main), None, "scenarios", f"missing required scenario(s): {', '.join(missing)}"))
    return _link_baseline(scenarios)
