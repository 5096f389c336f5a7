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
class UsersPriors:
    """Priors of the users model (high-risk drug users): every pair is a normal (mean, sd) on the
    stated scale, or a log-normal (median, log_sd) for the scales (``*_sd``)."""

    logit_level_mean: tuple[float, float]  # logit of the share of the room floor..ceiling in the reference year
    level_country_sd: tuple[float, float]
    slope_mean: tuple[float, float]  # yearly change of that logit
    slope_country_sd: tuple[float, float]
    walk_sd: tuple[float, float]
    logit_detection_mean: tuple[float, float]  # register coverage: registered / high-risk users
    detection_country_sd: tuple[float, float]
    detection_walk_sd: tuple[float, float]
    detection_shocks: tuple[dict, ...] = ()


@dataclass(frozen=True)
class PlhivPriors:
    """Priors of the PLHIV stock-and-flow model (same conventions as UsersPriors)."""

    logit_initial_mean: tuple[float, float]  # PLHIV in the first year as a share of the ceiling
    initial_country_sd: tuple[float, float]
    logit_incidence_mean: tuple[float, float]  # new infections per year as a share of the room left
    incidence_country_sd: tuple[float, float]
    # the epidemic's take-off (CSAVR's single logistic incidence curve): the logit incidence rises
    # by ``rise`` around ``onset`` (years from the reference year), over ``incidence_rise_years``
    onset_mean: tuple[float, float]
    onset_country_sd: tuple[float, float]
    rise_mean: tuple[float, float]
    rise_country_sd: tuple[float, float]
    incidence_rise_years: float
    incidence_walk_sd: tuple[float, float]
    logit_detection_mean: tuple[float, float]  # yearly chance that an undiagnosed PLHIV is diagnosed
    detection_country_sd: tuple[float, float]
    detection_walk_sd: tuple[float, float]
    mortality: tuple[float, float]  # log-normal (median, log_sd): yearly deaths per PLHIV
    detection_shocks: tuple[dict, ...] = ()
    # what the literature measured of the share of PLHIV diagnosed: {year, share, low, high, source}
    diagnosed_share: tuple[dict, ...] = ()
    # the PLHIV <- people who inject drugs link, by year: {year, injecting_share_min,
    # hiv_prevalence_max, log_sd, source}; PLHIV <= hiv_prevalence_max / injecting_share_min x users
    pwid_link: tuple[dict, ...] = ()


#: which fields of a priors class are log-normal (median, log_sd) rather than normal (mean, sd)
def is_log_normal(name: str) -> bool:
    return name.endswith("_sd") or name == "mortality"


@dataclass(frozen=True)
class PrevalenceConfig:
    draws: int
    tune: int
    chains: int
    target_accept: float
    retry_target_accept: float  # a fit failing on divergent transitions alone is sampled once more with these
    retry_draws: int  # 0: no second attempt
    range_coverage: float
    point_log_sd: float
    lower_bound_log_sd: float
    student_t_nu: float
    between_source_sd: tuple[float, float]  # log-normal (median, log_sd)
    register_log_sd: float
    treated_vs_registered_sd: float
    method_bias: dict[str, tuple[float, float]]  # method -> normal (mean, sd) of log(figure / truth)
    adult_share: float  # share of the population aged 15-64
    ceiling_share: dict[str, float]  # target -> most that can be true, as a share of those aged 15-64
    priors: dict[str, UsersPriors | PlhivPriors]
    exclude: tuple[dict, ...] = ()
    population_assumptions: tuple[dict, ...] = ()
    path: Path = field(default=DEFAULT_PRIORS)


PRIOR_CLASSES = {"users": UsersPriors, "plhiv": PlhivPriors}


def _shocks(r: Reader) -> tuple[dict, ...]:
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
    return tuple(shocks)


def _shares(r: Reader) -> tuple[dict, ...]:
    out = []
    for s in r.items("diagnosed_share"):
        s.unknown_keys({"year", "share", "low", "high", "source"})
        lo, hi = s.number("low", lo=1e-3, hi=0.999), s.number("high", lo=1e-3, hi=0.999)
        out.append(
            {
                "year": int(s.number("year", lo=vocab.YEAR_MIN, hi=vocab.YEAR_MAX, integer=True)),
                "share": s.number("share", lo=lo, hi=hi),
                "low": lo,
                "high": hi,
                "source": s.text("source"),
            }
        )
    return tuple(out)


def _links(r: Reader) -> tuple[dict, ...]:
    out = []
    for s in r.items("pwid_link"):
        s.unknown_keys({"year", "injecting_share_min", "hiv_prevalence_max", "log_sd", "source"})
        out.append(
            {
                "year": int(s.number("year", lo=vocab.YEAR_MIN, hi=vocab.YEAR_MAX, integer=True)),
                "injecting_share_min": s.number("injecting_share_min", lo=1e-3, hi=1.0),
                "hiv_prevalence_max": s.number("hiv_prevalence_max", lo=1e-3, hi=1.0),
                "log_sd": s.number("log_sd", lo=1e-3, hi=2.0),
                "source": s.text("source"),
            }
        )
    years = [k["year"] for k in out]
    if len(set(years)) != len(years):
        raise ConfigError(Issue(str(r.path), None, f"{r.prefix}pwid_link", f"a year is given twice: {years}"))
    return tuple(sorted(out, key=lambda k: k["year"]))


#: the entries of a target that are plain numbers (years), not priors
PLAIN = frozenset({"incidence_rise_years"})
#: the tables of a target that are lists
LISTS = {"detection_shocks": _shocks, "diagnosed_share": _shares, "pwid_link": _links}


def _one(r: Reader, name: str):
    """One prior entry: a log-normal pair, a normal pair, or (for the plain numbers) a number."""
    if name in PLAIN:
        return r.number(name, lo=0.1, hi=20)
    return r.log_normal(name) if is_log_normal(name) else r.normal(name)


def _target(r: Reader, cls) -> UsersPriors | PlhivPriors:
    """A [users] / [plhiv] table: exactly the fields of its priors class (derived, not listed twice)."""
    names = [f.name for f in fields(cls)]
    r.unknown_keys(set(names))
    values = {n: (LISTS[n](r) if n in LISTS else _one(r, n)) for n in names}
    return cls(**values)


def load_config(path: Path | str | None = None) -> PrevalenceConfig:
    """Read and check models/prevalence.toml; raises ConfigError naming the key on any problem."""
    path = Path(path) if path else models_file("prevalence.toml")
    r = Reader(path, read_toml(path))
    r.unknown_keys({"sampler", "evidence", "ceilings", "users", "plhiv", "exclude", "population_assumptions"})
    s, e, ceil = r.sub("sampler"), r.sub("evidence"), r.sub("ceilings")
    ceil.unknown_keys({"adult_share_15_64", "users_share_15_64_max", "plhiv_share_15_64_max"})
    bias = e.sub("method_bias")
    bias.unknown_keys(set(bias.table))  # any method name; each must be a normal {mean, sd}
    method_bias = {m: bias.normal(m) for m in bias.table}
    s.unknown_keys({"draws", "tune", "chains", "target_accept", "retry_target_accept", "retry_draws"})
    e.unknown_keys(
        {
            "range_coverage",
            "point_log_sd",
            "lower_bound_log_sd",
            "student_t_nu",
            "between_source_sd",
            "register_log_sd",
            "treated_vs_registered_sd",
            "method_bias",
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
        retry_target_accept=s.number("retry_target_accept", lo=0.5, hi=0.999),
        retry_draws=int(s.number("retry_draws", lo=0, hi=100_000, integer=True)),
        range_coverage=e.number("range_coverage", lo=0.5, hi=0.999),
        point_log_sd=e.number("point_log_sd", positive=True),
        lower_bound_log_sd=e.number("lower_bound_log_sd", positive=True),
        student_t_nu=e.number("student_t_nu", lo=1, hi=1000),
        between_source_sd=e.log_normal("between_source_sd"),
        register_log_sd=e.number("register_log_sd", positive=True),
        treated_vs_registered_sd=e.number("treated_vs_registered_sd", positive=True),
        method_bias=method_bias,
        adult_share=ceil.number("adult_share_15_64", lo=0.3, hi=0.9),
        ceiling_share={
            "users": ceil.number("users_share_15_64_max", lo=1e-4, hi=0.5),
            "plhiv": ceil.number("plhiv_share_15_64_max", lo=1e-4, hi=0.5),
        },
        priors={t: _target(r.sub(t), cls) for t, cls in PRIOR_CLASSES.items()},
        exclude=tuple(exclude),
        population_assumptions=tuple(pops),
        path=path,
    )
