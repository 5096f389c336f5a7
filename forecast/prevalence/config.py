"""Priors and settings of the prevalence synthesis, read from models/prevalence.toml."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from forecast.core.errors import ConfigError, Issue
from forecast.core.resources import EMBEDDED_MODELS_DIR, models_file
from forecast.core.toml_reader import Reader, read_toml
from forecast.data import vocab

#: The embedded priors (a ./models/prevalence.toml in the current folder takes precedence).
DEFAULT_PRIORS = EMBEDDED_MODELS_DIR / "prevalence.toml"


@dataclass(frozen=True)
class TargetPriors:
    log_register_rate_mean: tuple[float, float]
    log_register_rate_country_sd: tuple[float, float]  # log-normal (median, log_sd)
    growth_mean: tuple[float, float]
    growth_country_sd: tuple[float, float]  # log-normal (median, log_sd)
    random_walk_sd: tuple[float, float]  # log-normal (median, log_sd)
    logit_detection_mean: tuple[float, float]
    logit_detection_country_sd: tuple[float, float]  # log-normal (median, log_sd)
    detection_walk_sd: tuple[float, float]  # log-normal (median, log_sd)
    detection_shocks: tuple[dict, ...] = ()


@dataclass(frozen=True)
class PrevalenceConfig:
    draws: int
    tune: int
    chains: int
    target_accept: float
    range_coverage: float
    point_log_sd: float
    lower_bound_log_sd: float
    student_t_nu: float
    between_source_sd: tuple[float, float]  # log-normal (median, log_sd)
    register_log_sd: float
    treated_vs_registered_sd: float
    priors: dict[str, TargetPriors]
    exclude: tuple[dict, ...] = ()
    population_assumptions: tuple[dict, ...] = ()
    path: Path = field(default=DEFAULT_PRIORS)


#: the keys a [users] / [plhiv] table may hold: exactly the fields of TargetPriors
_TARGET_KEYS = {f.name for f in fields(TargetPriors)}


def _target(r: Reader) -> TargetPriors:
    r.unknown_keys(_TARGET_KEYS)
    shocks = []
    for s in r.items("detection_shocks"):
        s.unknown_keys({"country", "years", "shift", "reason", "ref"})
        country = s.text("country")
        if country not in vocab.MODEL_COUNTRIES:
            raise ConfigError(
                Issue(
                    str(r.path),
                    None,
                    f"{s.prefix}country",
                    f"unknown country {country!r}; valid: {', '.join(vocab.MODEL_COUNTRIES)}",
                )
            )
        years = s.integers("years", lo=vocab.YEAR_MIN, hi=vocab.YEAR_MAX)
        shocks.append(
            {
                "country": country,
                "years": years,
                "shift": s.normal("shift"),
                "reason": s.text("reason"),
                "ref": s.optional_text("ref"),
            }
        )
    return TargetPriors(
        log_register_rate_mean=r.normal("log_register_rate_mean"),
        log_register_rate_country_sd=r.log_normal("log_register_rate_country_sd"),
        growth_mean=r.normal("growth_mean"),
        growth_country_sd=r.log_normal("growth_country_sd"),
        random_walk_sd=r.log_normal("random_walk_sd"),
        logit_detection_mean=r.normal("logit_detection_mean"),
        logit_detection_country_sd=r.log_normal("logit_detection_country_sd"),
        detection_walk_sd=r.log_normal("detection_walk_sd"),
        detection_shocks=tuple(shocks),
    )


def load_config(path: Path | str | None = None) -> PrevalenceConfig:
    """Read and check models/prevalence.toml; raises ConfigError naming the key on any problem."""
    path = Path(path) if path else models_file("prevalence.toml")
    r = Reader(path, read_toml(path))
    r.unknown_keys({"sampler", "evidence", "users", "plhiv", "exclude", "population_assumptions"})
    s, e = r.sub("sampler"), r.sub("evidence")
    s.unknown_keys({"draws", "tune", "chains", "target_accept"})
    e.unknown_keys(
        {
            "range_coverage",
            "point_log_sd",
            "lower_bound_log_sd",
            "student_t_nu",
            "between_source_sd",
            "register_log_sd",
            "treated_vs_registered_sd",
        }
    )
    exclude = []
    for x in r.items("exclude"):
        x.unknown_keys({"country", "indicator", "year", "source", "reason"})
        exclude.append(
            {
                "country": x.text("country"),
                "indicator": x.text("indicator"),
                "year": int(x.number("year", integer=True)),
                "source": x.optional_text("source"),
                "reason": x.text("reason"),
            }
        )
    pops = []
    for p in r.items("population_assumptions"):
        p.unknown_keys({"country", "value", "low", "high", "year", "source"})
        lo, hi = p.number("low", positive=True), p.number("high", positive=True)
        v = p.number("value", lo=lo, hi=hi)
        pops.append(
            {
                "country": p.text("country"),
                "value": v,
                "low": lo,
                "high": hi,
                "year": int(p.number("year", integer=True)),
                "source": p.text("source"),
            }
        )
    return PrevalenceConfig(
        draws=int(s.number("draws", lo=100, hi=100_000, integer=True)),
        tune=int(s.number("tune", lo=100, hi=100_000, integer=True)),
        chains=int(s.number("chains", lo=1, hi=16, integer=True)),
        target_accept=s.number("target_accept", lo=0.5, hi=0.999),
        range_coverage=e.number("range_coverage", lo=0.5, hi=0.999),
        point_log_sd=e.number("point_log_sd", positive=True),
        lower_bound_log_sd=e.number("lower_bound_log_sd", positive=True),
        student_t_nu=e.number("student_t_nu", lo=1, hi=1000),
        between_source_sd=e.log_normal("between_source_sd"),
        register_log_sd=e.number("register_log_sd", positive=True),
        treated_vs_registered_sd=e.number("treated_vs_registered_sd", positive=True),
        priors={"users": _target(r.sub("users")), "plhiv": _target(r.sub("plhiv"))},
        exclude=tuple(exclude),
        population_assumptions=tuple(pops),
        path=path,
    )
