#!/usr/bin/env python3
"""Turn the later official figures (../shared/data/later_figures/*.csv) into observation rows.

The later files follow their own layout (`country,year,indicator,value,low,high,unit,source,
url_or_path,note`) with the period and the agency folded into the indicator name
(`seizure_total_all_drugs_H1`, `drug_crimes_DCA_only`). This script maps every row onto the
observations contract plus three columns (`period`, `scope`, `precision`), writes one file per
calibration year (`later/YYYY.csv`, 2005-2025; figures about years before 2005 enter with 2005),
finds every disagreement (between later sources, and with the seed dataset) into
`later/YYYY_conflicts.csv`, and writes a summary to `later/README.md`.

Nothing is derived and nothing is dropped: each figure is kept as the source printed it
(thousands separators were already removed; "1239.0" is written "1239"). Judgement calls (which
stock was counted on which date, which figures a note quotes against the tabulated one) are
explicit tables below, each checked against the data so that a change in the later files fails
loudly instead of silently.

    python scripts/later_figures.py                 # regenerate forecast/embedded/data/later/
    python scripts/later_figures.py --check         # exit 1 if the committed files differ
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import filecmp
import io
import re
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LATER = ROOT.parent / "shared" / "data" / "later_figures"
DEFAULT_OUT = ROOT / "forecast" / "embedded" / "data" / "later"
DEFAULT_SEED = ROOT / "forecast" / "embedded" / "data" / "observations.csv"

FIRST_CALIBRATION, LAST_CALIBRATION = 2005, 2025
YEAR_MIN, YEAR_MAX = 1990, 2025

LATER_COLUMNS = ("country", "year", "indicator", "value", "low", "high", "unit", "source", "url_or_path", "note")
SEED_COLUMNS = ("country", "indicator", "year", "value", "low", "high", "kind", "source", "ref", "note")
OUT_COLUMNS = (*SEED_COLUMNS, "period", "scope", "precision")
CONFLICT_COLUMNS = ("id", "topic", "country", "indicator", "year", "ref_a", "says_a", "ref_b", "says_b", "note")

COUNTRIES = {
    "Kazakhstan": "Kazakhstan",
    "Kyrgyzstan": "Kyrgyzstan",
    "Tajikistan": "Tajikistan",
    "Turkmenistan": "Turkmenistan",
    "Uzbekistan": "Uzbekistan",
    "Afghanistan": "Afghanistan",
    "Central Asia": "Central Asia",
    "Central Asia (5 countries)": "Central Asia",
}

#: The names these rows may use: existing vocabulary plus the names the lead adds for them.
INDICATORS = {
    "registered_users": "persons",
    "registered_users_new": "persons",
    "registered_users_new_per_100k": "per 100,000 population",
    "registered_injecting_users": "persons",
    "treated_users": "persons",
    "registered_hiv_new": "persons",
    "registered_hiv_cumulative": "persons",
    "registered_hiv_living": "persons",
    "registered_hiv_deaths": "persons",
    "registered_hiv_deaths_cumulative": "persons",
    "on_art": "persons",
    "drug_crimes": "cases",
    "trafficking_crimes": "cases",
    "drug_crimes_sale": "cases",
    "drug_crimes_smuggling": "cases",
    "drug_crimes_cultivation": "cases",
    "drug_crimes_dens": "cases",
    "drug_crimes_other": "cases",
    "drug_crimes_solved": "cases",
    "seizures_heroin_kg": "kg",
    "seizures_opium_kg": "kg",
    "seizures_hashish_kg": "kg",
    "seizures_marijuana_kg": "kg",
    "seizures_poppy_straw_kg": "kg",
    "seizures_total_kg": "kg",
    "population": "persons",
    "opium_production_t": "tonnes",
    "opium_pure_production_t": "tonnes",
    "opium_cultivation_ha": "hectares",
}

#: Stocks: a count of people at a date (year end unless STOCK_DATES gives an earlier date).
STOCKS = {
    "registered_users",
    "registered_injecting_users",
    "registered_hiv_cumulative",
    "registered_hiv_living",
    "registered_hiv_deaths_cumulative",
    "on_art",
}
#: Stocks that can only grow: a later figure below an earlier one is a disagreement.
CUMULATIVE = {"registered_hiv_cumulative", "registered_hiv_deaths_cumulative"}

# scopes: empty = whole country, all agencies, the indicator's standard definition
DCA = "Drug Control Agency only"
MVD = "Interior Ministry (MVD) only"
SDCS = "State Service for Drug Control only"
GKNB = "State Committee for National Security (GKNB) only"
PRECURSORS = "including precursors"
MISDEMEANOURS = "including misdemeanours"
USG = "US Government (ONDCP) series"
UNCLEAR = "definition unclear"
CITIZENS = "citizens only"
PLACEHOLDER = "not reported (placeholder 0)"
SINGLE_AGENCY = {DCA, MVD, SDCS, GKNB}


@dataclass(frozen=True)
class Mapping:
    indicator: str
    period: str = ""
    scope: str = ""


#: later indicator -> our indicator, period, scope (the period and scope the name itself carries)
MAPPINGS: dict[str, Mapping] = {
    # population.csv
    "population_total": Mapping("population"),
    # hiv_registered.csv
    "hiv_cumulative_registered": Mapping("registered_hiv_cumulative"),
    "hiv_new_registered": Mapping("registered_hiv_new"),
    "hiv_living_registered": Mapping("registered_hiv_living"),
    "aids_deaths_registered_in_year": Mapping("registered_hiv_deaths"),
    "hiv_deaths_cumulative_registered": Mapping("registered_hiv_deaths_cumulative"),
    "hiv_on_dispensary_register": Mapping("registered_hiv_cumulative", scope=UNCLEAR),
    "hiv_registered_reported_by_IFRC": Mapping("registered_hiv_cumulative", scope=UNCLEAR),
    # hiv_on_art.csv
    "on_art_number_reported": Mapping("on_art"),
    # registered_drug_users.csv
    "registered_drug_users": Mapping("registered_users"),
    "drug_users_government_count": Mapping("registered_users", scope=UNCLEAR),
    "registered_heroin_dependent_1997_2011": Mapping("registered_users", scope=UNCLEAR),
    "registered_drug_users_Khatlon_oblast": Mapping("registered_users", scope="Khatlon oblast"),
    "registered_drug_users_Sughd_oblast": Mapping("registered_users", scope="Sughd oblast"),
    "registered_drug_users_GBAO_region": Mapping("registered_users", scope="GBAO"),
    "newly_registered_drug_users": Mapping("registered_users_new"),
    "primary_drug_addiction_incidence_per_100k": Mapping("registered_users_new_per_100k"),
    "registered_injecting_drug_users": Mapping("registered_injecting_users"),
    "drug_treatment_patients": Mapping("treated_users"),
    # drug_seizures.csv
    "seizure_total_all_drugs": Mapping("seizures_total_kg"),
    "seizure_total_all_drugs_H1": Mapping("seizures_total_kg", period="H1"),
    "seizure_total_all_drugs_Jan_May": Mapping("seizures_total_kg", period="Jan-May"),
    "seizure_total_all_drugs_Jan_Aug": Mapping("seizures_total_kg", period="Jan-Aug"),
    "seizure_total_all_drugs_Jan_Oct": Mapping("seizures_total_kg", period="Jan-Oct"),
    "seizure_total_DCA_only": Mapping("seizures_total_kg", scope=DCA),
    "seizure_total_DCA_only_Jan_Sep": Mapping("seizures_total_kg", period="Jan-Sep", scope=DCA),
    "seizure_total_MVD_only": Mapping("seizures_total_kg", scope=MVD),
    "seizure_total_SDCS_only": Mapping("seizures_total_kg", scope=SDCS),
    "seizure_total_incl_precursors": Mapping("seizures_total_kg", scope=PRECURSORS),
    "seizure_total_incl_precursors_Jan_Sep": Mapping("seizures_total_kg", period="Jan-Sep", scope=PRECURSORS),
    "seizure_heroin": Mapping("seizures_heroin_kg"),
    "seizure_heroin_Jan_May": Mapping("seizures_heroin_kg", period="Jan-May"),
    "seizure_heroin_Jan_Sep": Mapping("seizures_heroin_kg", period="Jan-Sep"),
    "seizure_heroin_Jan_Oct": Mapping("seizures_heroin_kg", period="Jan-Oct"),
    "seizure_heroin_DCA_only_Jan_Sep": Mapping("seizures_heroin_kg", period="Jan-Sep", scope=DCA),
    "seizure_opium": Mapping("seizures_opium_kg"),
    "seizure_opium_Jan_Oct": Mapping("seizures_opium_kg", period="Jan-Oct"),
    "seizure_opium_DCA_only_Jan_Sep": Mapping("seizures_opium_kg", period="Jan-Sep", scope=DCA),
    "seizure_hashish": Mapping("seizures_hashish_kg"),
    "seizure_hashish_Jan_Oct": Mapping("seizures_hashish_kg", period="Jan-Oct"),
    "seizure_hashish_DCA_only_Jan_Sep": Mapping("seizures_hashish_kg", period="Jan-Sep", scope=DCA),
    "seizure_marijuana": Mapping("seizures_marijuana_kg"),
    "seizure_koknar_poppy_straw": Mapping("seizures_poppy_straw_kg"),
    # drug_crimes.csv
    "drug_crimes_total": Mapping("drug_crimes"),
    "drug_crimes_total_Jan_May": Mapping("drug_crimes", period="Jan-May"),
    "drug_crimes_total_MVD": Mapping("drug_crimes", scope=MVD),
    "drug_crimes_total_MVD_Jan_Sep": Mapping("drug_crimes", period="Jan-Sep", scope=MVD),
    "drug_crimes_DCA_only": Mapping("drug_crimes", scope=DCA),
    "drug_crimes_DCA_only_H1": Mapping("drug_crimes", period="H1", scope=DCA),
    # 'незаконный оборот' (illicit trafficking) is the Russian umbrella term for drug offences
    "drug_trafficking_facts_DCA_only_Jan_Sep": Mapping("drug_crimes", period="Jan-Sep", scope=DCA),
    # period filled from the note ("reported Nov 2025"), see NOTE_PERIODS
    "drug_offences_total_incl_misdemeanours_reporting_period": Mapping("drug_crimes", scope=MISDEMEANOURS),
    "drug_crimes_solved": Mapping("drug_crimes_solved"),
    "drug_crime_cases_closed_security_services": Mapping("drug_crimes_solved", scope=GKNB),
    "drug_crimes_sale": Mapping("drug_crimes_sale"),
    "drug_crimes_smuggling": Mapping("drug_crimes_smuggling"),
    "drug_crimes_illicit_cultivation": Mapping("drug_crimes_cultivation"),
    "drug_crimes_dens": Mapping("drug_crimes_dens"),
    "drug_crimes_other": Mapping("drug_crimes_other"),
    # afghan_opium.csv
    "opium_potential_production_UNODC": Mapping("opium_production_t"),
    "opium_poppy_cultivation_UNODC": Mapping("opium_cultivation_ha"),
    "opium_potential_pure_production_USG_ONDCP": Mapping("opium_pure_production_t", scope=USG),
    "opium_poppy_cultivation_USG_ONDCP": Mapping("opium_cultivation_ha", scope=USG),
}

#: later-file unit -> the unit our indicator implies (checked for every row)
UNITS = {"persons": "persons", "cases": "cases", "kg": "kg", "tonnes": "tonnes", "hectares": "hectares"}
UNITS["per 100,000 population"] = "per 100,000 population"

#: Files whose figures are modelled estimates (everything else is a count by a government body,
#: a programme, or the World Bank population series).
ESTIMATE_FILES = {"afghan_opium.csv"}

#: Periods a note gives that the indicator name does not (flows reported before the year ended).
NOTE_PERIODS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"to ~20 Dec"), "to 20 Dec"),
    (re.compile(r"PARTIAL/unclear period \(reported Nov 2025\)"), "reporting period to Nov 2025"),
]

#: Stocks counted on a stated date before the year's end: (country, later indicator, year, value)
#: -> the date. Every date is written in the row's note or source (quoted in the comment); stocks
#: without a stated date, or dated 1 January of the next year, count as year end. The date is not a
#: `period` (a stock covers no part of the year; the contract's period is for flows, and a period
#: would keep the figure out of every annual series): it orders the counts of a cumulative series
#: when looking for disagreements, and the note says it in a fixed phrase ("stock counted as of ...").
STOCK_DATES: dict[tuple[str, str, int, str], str] = {
    ("Kazakhstan", "hiv_cumulative_registered", 2011, "17457"): "1 Nov",  # 'as of Nov. 1, 2011'
    ("Kazakhstan", "hiv_cumulative_registered", 2022, "30000"): "30 Jun",  # 'as of 30 Jun 2022'
    ("Kazakhstan", "hiv_on_dispensary_register", 2018, "29980"): "Feb",  # '(Feb 2018)'
    ("Kazakhstan", "hiv_living_registered", 2016, "18000"): "Jun",  # 'as of June 2016'
    ("Kyrgyzstan", "hiv_cumulative_registered", 2017, "7227"): "1 Jun",  # 'as of 1 Jun 2017'
    ("Kyrgyzstan", "hiv_cumulative_registered", 2019, "9800"): "1 May",  # 'as of 1 May 2019'
    ("Kyrgyzstan", "hiv_cumulative_registered", 2020, "9757"): "1 Feb",  # 'as of 1 Feb 2020'
    ("Kyrgyzstan", "hiv_cumulative_registered", 2020, "10173"): "1 Oct",  # 'as of 1 Oct 2020'
    ("Kyrgyzstan", "hiv_cumulative_registered", 2023, "13030"): "1 Oct",  # 'as of 1 Oct 2023'
    ("Kyrgyzstan", "hiv_cumulative_registered", 2025, "14989"): "1 Aug",  # 'as of 1 Aug 2025'
    ("Kyrgyzstan", "hiv_registered_reported_by_IFRC", 2017, "8500"): "1 Dec",  # interview 1 Dec 2017
    ("Tajikistan", "hiv_cumulative_registered", 2005, "454"): "~Sep",  # 'as of ~Sep 2005'
    ("Tajikistan", "hiv_cumulative_registered", 2007, "710"): "Apr",  # 'as of Apr 2007'
    ("Tajikistan", "hiv_cumulative_registered", 2009, "1595"): "30 Sep",  # 'as of 30 Sep 2009'
    ("Tajikistan", "hiv_cumulative_registered", 2014, "6152"): "1 Jul",  # 'as of 1 Jul 2014'
    ("Tajikistan", "hiv_cumulative_registered", 2014, "6309"): "1 Oct",  # '1991 to 1 Oct 2014'
    ("Tajikistan", "hiv_cumulative_registered", 2016, "8224"): "Jul",  # 'AFEW dates it July 2016'
    ("Tajikistan", "hiv_cumulative_registered", 2017, "9406"): "Jul",  # '9,406 (July 2017)'
    ("Tajikistan", "hiv_cumulative_registered", 2020, "12876"): "1 Oct",  # 'as of 1 Oct 2020'
    ("Tajikistan", "hiv_registered_reported_by_IFRC", 2017, "14000"): "1 Dec",  # interview 1 Dec 2017
    ("Tajikistan", "hiv_deaths_cumulative_registered", 2014, "1146"): "1 Oct",  # 'to 1 Oct 2014'
    ("Tajikistan", "hiv_deaths_cumulative_registered", 2020, "3547"): "1 Oct",  # 'to 1 Oct 2020'
    ("Uzbekistan", "hiv_cumulative_registered", 2003, "2000"): "Apr",  # 'as of Apr 2003'
    ("Uzbekistan", "hiv_cumulative_registered", 2012, "24539"): "~Nov",  # '(~Nov 2012)'
    ("Uzbekistan", "hiv_living_registered", 2020, "43581"): "1 Nov",  # 'as of 1 Nov 2020'
    ("Uzbekistan", "hiv_registered_reported_by_IFRC", 2017, "44000"): "1 Dec",  # interview 1 Dec 2017
    ("Kazakhstan", "registered_drug_users", 2025, "18000"): "1 Mar",  # '1 Mar 2025'
    ("Tajikistan", "registered_drug_users_Khatlon_oblast", 2006, "878"): "31 Aug",  # 'as of 31 Aug 2006'
    ("Tajikistan", "registered_drug_users_Khatlon_oblast", 2015, "1418"): "1 Jul",  # 'as of 1 Jul 2015'
}

#: "lower bound" in the note, or the source's own "at least" quoted at the start of the note
LOWER_BOUND = re.compile(r"lower bound|^'at least \d")
#: the figure itself is approximate: the note says so, or quotes about/some/nearly/около before a number
APPROXIMATE = re.compile(r"\bapproximate\b|\babout \d|\bsome \d|\bnearly \d|\baround \d|около \d")
#: a figure the later file marks as not covering the whole year
PARTIAL = re.compile(r"_H1$|_Jan_[A-Z][a-z]{2}$|_reporting_period$|^PARTIAL|to ~\d+ [A-Z][a-z]{2}")
AGENCY_NAME = re.compile(r"_DCA_only|_MVD|_SDCS_only|_security_services")
PLACEHOLDER_NOTE = "Estimates were not available at the time of publication"

MONTHS = {
    m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)
}


@dataclass(frozen=True)
class NoteConflict:
    """A figure a row's note quotes from another source that disagrees with the tabulated one."""

    file: str
    country: str
    later_indicator: str
    year: int
    value: str
    quoted: str  # must appear in the row's note, so that a changed note fails loudly
    says_b: str
    topic: str
    note: str
    ref_b: str = ""  # empty: the quoting row's own ref (the note is where the figure stands)


NOTE_CONFLICTS = [
    NoteConflict(
        "afghan_opium.csv",
        "Afghanistan",
        "opium_poppy_cultivation_UNODC",
        2007,
        "192000",
        "193,000 ha",
        "193,000 ha in 2007 (later UNODC publications, as quoted in the note)",
        "UNODC revised its own figure",
        "the dataset carries the contemporary 192,000 ha (ref_a); the revision is quoted in its note only",
    ),
    NoteConflict(
        "afghan_opium.csv",
        "Afghanistan",
        "opium_potential_production_UNODC",
        2000,
        "3276",
        "NAR/696 (Sep 2000) gave 3,275 t",
        "3,275 t in 2000 (UN Information Service NAR/696, 15 Sep 2000, as quoted in the note)",
        "two UNDCP press releases differ",
        "1 t apart; the dataset carries 3,276 t (the later release, ref_a)",
    ),
    NoteConflict(
        "afghan_opium.csv",
        "Afghanistan",
        "opium_potential_production_UNODC",
        1998,
        "2100",
        "NYT Sep 1998 preliminary expectation was 2,300 t",
        "2,300 t expected for 1998 (New York Times 27 Sep 1998, UNDCP preliminary; as quoted in the note)",
        "preliminary vs final UNDCP estimate",
        "the dataset carries the final 2,100 t (ref_a); the preliminary expectation is quoted in its note only",
        ref_b="http://goodtimesweb.org/diplomacy/2021/nyt-afghanistan-opium-output-un-survey-sep-27-1998.html",
    ),
    NoteConflict(
        "afghan_opium.csv",
        "Afghanistan",
        "opium_potential_production_UNODC",
        2002,
        "3400",
        "'more than 3,700 tons'",
        "more than 3,700 t in 2002 (New York Times 28 Oct 2002, as quoted in the note)",
        "press reports of the same UNODC survey differ",
        "the dataset carries AP's 'about 3,400' t (ref_a); the NYT figure is quoted in its note only",
    ),
    NoteConflict(
        "afghan_opium.csv",
        "Afghanistan",
        "opium_potential_production_UNODC",
        2018,
        "6400",
        "'7,790 tons in 2018'",
        "7,790 t in 2018 (a MENAFN item, as quoted in the note, which considers it an error)",
        "press reports of the same UNODC survey differ",
        "the dataset carries 6,400 t (ref_a, RFE/RL on the UNODC/MCN survey)",
    ),
    NoteConflict(
        "drug_seizures.csv",
        "Tajikistan",
        "seizure_total_all_drugs",
        2021,
        "4083.274",
        "says 'over 4.8 t'",
        "over 4.8 t seized in 2021 (Sputnik Tajikistan 17 Feb 2022, as quoted in the note)",
        "national seizure total differs between reports",
        "the dataset carries 4,083.274 kg (ref_a): its agency breakdown sums to it, Sputnik's own breakdown "
        "does not reach 4.8 t",
        ref_b="https://tj.sputniknews.ru/20220217/tajikistan-narkotiki-izyatiey-1045955030.html",
    ),
    NoteConflict(
        "drug_seizures.csv",
        "Tajikistan",
        "seizure_total_all_drugs_H1",
        2024,
        "3096.611",
        "Khovar Russian text gives 616 g",
        "3 t 96 kg 616 g in H1 2024 (Khovar, Russian text, as quoted in the note)",
        "English and Russian texts of one release differ",
        "5 g apart; the dataset carries 3,096.611 kg (ref_a)",
    ),
    NoteConflict(
        "hiv_registered.csv",
        "Tajikistan",
        "hiv_registered_reported_by_IFRC",
        2017,
        "14000",
        "contradicts Republican AIDS Center figures (9,406 cumulative Jul 2017)",
        "9,406 registered HIV cumulative as of Jul 2017 (AFEW country page Tajikistan, Republican AIDS Center figures)",
        "IFRC interview vs national AIDS centre",
        "4,594 more in five months than the AIDS centre's count, while about 1,200 are registered a year; the "
        "IFRC figure is scoped 'definition unclear' and never enters a national series (probably the UNAIDS "
        "estimate of 14,000); the models use the AIDS centre figures",
        ref_b="http://www.afew.org/countries/tajikistan/",
    ),
    NoteConflict(
        "hiv_registered.csv",
        "Kyrgyzstan",
        "hiv_cumulative_registered",
        2020,
        "10173",
        "lower than 2,208 reported for 1 Apr 2020",
        "2,208 deaths among registered people with HIV as of 1 Apr 2020 (quoted in the note)",
        "cumulative count falls",
        "a cumulative count cannot fall: 2,166 deaths as of 1 Oct 2020 (says_a, in the same note) against "
        "2,208 as of 1 Apr 2020; neither is a row of the dataset (both stand in notes only)",
    ),
]
#: says_a for a note conflict whose tabulated row is a different figure than the one in dispute
NOTE_CONFLICT_SAYS_A = {
    ("Kyrgyzstan", "hiv_cumulative_registered", 2020, "10173"): (
        "registered_hiv_deaths_cumulative",
        "2,166 deaths among registered people with HIV as of 1 Oct 2020 (quoted in the note of the row for "
        "10,173 registered HIV cases)",
    ),
}


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    """One observation row (our contract), with where it came from."""

    country: str
    indicator: str
    year: int
    value: str
    low: str
    high: str
    kind: str
    source: str
    ref: str
    note: str
    period: str = ""
    scope: str = ""
    precision: str = ""
    as_of: str = field(default="", compare=False)  # a stock's counting date before year end ("1 Oct")
    origin: str = field(default="", compare=False)  # "file.csv:line" of the later file, or "seed:line"
    later_indicator: str = field(default="", compare=False)

    @property
    def calibration(self) -> int:
        return max(self.year, FIRST_CALIBRATION)

    def cells(self) -> list[str]:
        return [str(getattr(self, c)) for c in OUT_COLUMNS]

    def sort_key(self) -> tuple:
        return (
            self.country,
            self.indicator,
            self.year,
            self.period,
            self.scope,
            self.source,
            self.ref,
            _num(self.value),
            _num(self.low),
            _num(self.high),
            self.note,
        )


def _num(text: str) -> float:
    return float(text) if text else -1.0


_PLAIN = re.compile(r"^\d+(\.\d+)?$")


def plain_number(text: str, where: str) -> str:
    """The printed figure, with an integral float written without its '.0' (1239.0 -> 1239)."""
    text = text.strip()
    if not text:
        return ""
    if not _PLAIN.match(text):
        raise SystemExit(f"{where}: '{text}' is not a plain non-negative number")
    if "." in text and float(text).is_integer():
        return text.split(".")[0]
    return text


def read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != columns:
            raise SystemExit(f"{path}: header {reader.fieldnames} is not {list(columns)}")
        return [(n, row) for n, row in enumerate(reader, start=2)]


def convert(file: str, line: int, raw: dict[str, str], stock_dates_used: set) -> Row:
    """Map one later-file row onto the contract; raises SystemExit on anything unexpected."""
    where = f"{file}:{line}"
    name = raw["indicator"].strip()
    if name not in MAPPINGS:
        raise SystemExit(f"{where}: later indicator '{name}' has no mapping; add it to MAPPINGS")
    if raw["country"] not in COUNTRIES:
        raise SystemExit(f"{where}: unknown country '{raw['country']}'")
    m = MAPPINGS[name]
    if UNITS.get(raw["unit"]) != INDICATORS[m.indicator]:
        raise SystemExit(f"{where}: unit '{raw['unit']}' does not fit {m.indicator} ({INDICATORS[m.indicator]})")
    country, year = COUNTRIES[raw["country"]], int(raw["year"])
    value, low, high = (plain_number(raw[c], f"{where} {c}") for c in ("value", "low", "high"))
    note = raw["note"].strip()
    additions = []
    period, scope = m.period, m.scope

    for pattern, text in NOTE_PERIODS:
        if pattern.search(note):
            if period:
                raise SystemExit(f"{where}: period from the name ({period}) and from the note ({text})")
            period = text
    stock_key = (raw["country"], name, year, value)
    as_of = STOCK_DATES.get(stock_key, "")
    if as_of:
        if period or m.indicator not in STOCKS:
            raise SystemExit(f"{where}: a stock date for a flow or a row that already has a period")
        stock_dates_used.add(stock_key)

    precision = "approximate" if APPROXIMATE.search(note) else ""
    if LOWER_BOUND.search(note):
        if not value or low or high:
            raise SystemExit(f"{where}: a lower bound must come as a value alone")
        value, low = "", value
        if "lower bound" not in note:
            additions.append("lower bound")

    if m.indicator == "on_art" and PLACEHOLDER_NOTE in note:
        if value != "0":
            raise SystemExit(f"{where}: the 'not available' footnote on a non-zero figure")
        scope = PLACEHOLDER
        additions.append(
            "the export prints 0 with this footnote: a missing-value placeholder, not a count of zero; "
            "kept as printed and scoped out of the national series"
        )
    if name == "hiv_new_registered" and "CITIZENS" in note:
        scope = CITIZENS
    if name == "drug_trafficking_facts_DCA_only_Jan_Sep":
        additions.append("'незаконный оборот' (illicit trafficking) read as drug crimes in general")

    if as_of:
        additions.append(f"stock counted as of {as_of} {year}, before year end")
    additions.append(f"later_figures/{file}: {name}")
    note = "; ".join([note, *additions]) if note else "; ".join(additions)
    return Row(
        country=country,
        indicator=m.indicator,
        year=year,
        value=value,
        low=low,
        high=high,
        kind="estimate" if file in ESTIMATE_FILES else "official",
        source=raw["source"].strip(),
        ref=raw["url_or_path"].strip(),
        note=note,
        period=period,
        scope=scope,
        precision=precision,
        as_of=as_of,
        origin=where,
        later_indicator=name,
    )


def validate(rows: list[Row]) -> None:
    """The checks the brief asks for, on every row; any failure stops the script."""
    problems = []
    for r in rows:
        w = f"{r.origin} ({r.country} {r.later_indicator} {r.year})"
        if not r.ref.startswith(("http://", "https://", "github:")):
            problems.append(f"{w}: ref '{r.ref}' is not a URL or github: path")
        if r.indicator not in INDICATORS:
            problems.append(f"{w}: indicator {r.indicator} not in the vocabulary")
        if r.country not in set(COUNTRIES.values()):
            problems.append(f"{w}: country {r.country}")
        if not YEAR_MIN <= r.year <= YEAR_MAX:
            problems.append(f"{w}: year outside {YEAR_MIN}-{YEAR_MAX}")
        if not (r.value or r.low or r.high):
            problems.append(f"{w}: no figure")
        for c in ("value", "low", "high"):
            v = getattr(r, c)
            if v and float(v) < 0:
                problems.append(f"{w}: {c} negative")
        if r.low and r.high and float(r.low) > float(r.high):
            problems.append(f"{w}: low > high")
        if PARTIAL.search(r.later_indicator) or PARTIAL.search(r.note):
            if not r.period:
                problems.append(f"{w}: partial-year figure without a period")
        if AGENCY_NAME.search(r.later_indicator) and r.scope not in SINGLE_AGENCY:
            problems.append(f"{w}: single-agency figure without its agency scope")
        if r.kind not in ("official", "estimate"):
            problems.append(f"{w}: kind {r.kind}")
        if r.precision not in ("", "approximate"):
            problems.append(f"{w}: precision {r.precision}")
    if problems:
        raise SystemExit("validation failed:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------- conflicts


def tolerance(text: str) -> float:
    """Half a unit of the last significant digit: '6300000' -> 50000, '9155.2' -> 0.05."""
    if not text:
        return 0.0
    if "." in text:
        return 0.5 * 10.0 ** -len(text.split(".")[1])
    stripped = text.rstrip("0")
    return 0.5 * 10.0 ** (len(text) - len(stripped)) if stripped else 0.5


def interval(r: Row, rounded: bool) -> tuple[float, float]:
    """What a figure allows, widened by its printed rounding when `rounded`."""
    tol = (lambda t: tolerance(t)) if rounded else (lambda t: 0.0)
    lo, hi = float("-inf"), float("inf")
    if r.value:
        lo, hi = float(r.value) - tol(r.value), float(r.value) + tol(r.value)
    if r.low:
        lo = max(lo, float(r.low) - tol(r.low)) if r.value else float(r.low) - tol(r.low)
    if r.high:
        hi = min(hi, float(r.high) + tol(r.high)) if r.value else float(r.high) + tol(r.high)
    return lo, hi


def compatible(a: Row, b: Row, a_rounded: bool, b_rounded: bool) -> bool:
    (alo, ahi), (blo, bhi) = interval(a, a_rounded), interval(b, b_rounded)
    return not (ahi < blo or bhi < alo)


def grouped(number: str) -> str:
    whole, _, frac = number.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


UNIT_WORDS = {"persons": "", "cases": "cases", "kg": "kg", "tonnes": "t", "hectares": "ha"}
UNIT_WORDS["per 100,000 population"] = "per 100,000"


def figure_text(r: Row) -> str:
    unit = UNIT_WORDS[INDICATORS[r.indicator]]
    if r.value and r.low and r.high:
        fig = f"{grouped(r.value)} ({grouped(r.low)}-{grouped(r.high)})"
    elif r.value:
        fig = grouped(r.value)
    elif r.low and r.high:
        fig = f"{grouped(r.low)}-{grouped(r.high)}"
    elif r.low:
        fig = f"at least {grouped(r.low)}"
    else:
        fig = f"less than {grouped(r.high)}"
    if r.precision:
        fig = f"about {fig}"
    what = re.sub(r"_(kg|t|ha)$", "", r.indicator).replace("_", " ")
    what = re.sub(r"\bhiv\b", "HIV", re.sub(r"\bart\b", "ART", what))
    if r.as_of:
        when = f"as of {r.as_of} {r.year}"
    elif r.period:
        when = f"in {r.period} {r.year}"
    elif r.indicator in STOCKS:
        when = f"at end-{r.year}"
    else:
        when = f"in {r.year}"
    scope = f", {r.scope}" if r.scope else ""
    return f"{fig} {unit} {what} {when}{scope} ({r.source})".replace("  ", " ")


def use_note(indicator: str) -> str:
    if indicator == "population":
        return (
            "the models use the World Bank series (one population series per country-year); the seed "
            "figure is kept as recorded"
        )
    if indicator.startswith(("registered_", "on_art", "treated_")):
        return "for registers the models use the later official figures; the seed figure is kept as recorded"
    return "both kept as printed; which one a series uses is not decided here"


@dataclass(frozen=True)
class Conflict:
    calibration: int
    topic: str
    country: str
    indicator: str
    year: int
    ref_a: str
    says_a: str
    ref_b: str
    says_b: str
    note: str

    def sort_key(self) -> tuple:
        return (self.country, self.indicator, self.year, self.topic, self.says_a, self.says_b, self.ref_a)


def same_key_conflicts(rows: list[Row]) -> list[Conflict]:
    """(a) later sources giving different figures for one (country, indicator, year, period, scope).

    Two counts of one stock on different dates of the year are recorded too (the annual series holds
    both), with a note saying which is nearer the year end; a cumulative count that falls between
    the two dates is left to `falling_cumulative_conflicts`."""
    by_key = defaultdict(list)
    for r in rows:
        by_key[(r.country, r.indicator, r.year, r.period, r.scope)].append(r)
    out = []
    for _key, group in sorted(by_key.items()):
        group = sorted(group, key=lambda r: (reference_date(r), r.sort_key()))
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if compatible(a, b, bool(a.precision), bool(b.precision)):
                    continue
                if reference_date(a) != reference_date(b):
                    if (
                        a.indicator in CUMULATIVE
                        and interval(b, bool(b.precision))[1] < interval(a, bool(a.precision))[0]
                    ):
                        continue
                    topic = "one stock counted on two dates of the year"
                    note = (
                        f"not contradictory in itself: counted on {day(reference_date(a))} and "
                        f"{day(reference_date(b))}; both sit in the {a.year} series, the later count (b) is the "
                        "nearer to the year end; for registers the models use the later official figure"
                    )
                else:
                    topic = "later sources disagree"
                    note = "both kept as printed: same country, indicator, year, period and scope"
                out.append(
                    Conflict(
                        a.calibration,
                        topic,
                        a.country,
                        a.indicator,
                        a.year,
                        a.ref,
                        figure_text(a),
                        b.ref,
                        figure_text(b),
                        note,
                    )
                )
    return out


def seed_pairs(rows: list[Row], seed: list[Row]) -> list[tuple[Row, Row]]:
    """Later and seed figures of the same key (country, indicator, year; the whole year and country)."""
    by_key = defaultdict(list)
    for s in seed:
        by_key[(s.country, s.indicator, s.year)].append(s)
    return [
        (r, s)
        for r in sorted(rows, key=Row.sort_key)
        if not (r.period or r.scope)
        for s in by_key.get((r.country, r.indicator, r.year), [])
    ]


def seed_conflicts(rows: list[Row], seed: list[Row]) -> list[Conflict]:
    """(b) a later figure against a seed figure of the same key, at the seed figure's printed rounding."""
    return [
        Conflict(
            r.calibration,
            f"{r.indicator}: later figure vs seed document",
            r.country,
            r.indicator,
            r.year,
            r.ref,
            figure_text(r),
            s.ref,
            f"{figure_text(s)}; compared at its printed rounding (+/-{tolerance(s.value or s.low or s.high):g})",
            use_note(r.indicator),
        )
        for r, s in seed_pairs(rows, seed)
        if not compatible(r, s, bool(r.precision), True)
    ]


def reference_date(r: Row) -> dt.date:
    """When a stock was counted: its stated date, else the end of its year."""
    m = re.fullmatch(r"~?(?:(\d{1,2}) )?([A-Z][a-z]{2})", r.as_of)
    if m:
        return dt.date(r.year, MONTHS[m.group(2)], int(m.group(1) or 1))
    return dt.date(r.year, 12, 31)


def day(d: dt.date) -> str:
    return f"{d.day} {d:%b %Y}"


def falling_cumulative_conflicts(rows: list[Row], seed: list[Row]) -> list[Conflict]:
    """(c) a cumulative count (seed or later) that is lower than an earlier one of the same country."""
    series = defaultdict(list)
    for r in [*seed, *rows]:
        if r.indicator in CUMULATIVE and r.scope in ("", UNCLEAR) and not r.period:
            series[(r.country, r.indicator)].append(r)
    out = []
    for (_country, _ind), group in sorted(series.items()):
        group = sorted(group, key=lambda r: (reference_date(r), r.sort_key()))
        for i, early in enumerate(group):
            for late in group[i + 1 :]:
                if reference_date(late) <= reference_date(early) or late.origin.startswith("seed"):
                    continue
                early_rounded = early.origin.startswith("seed") or bool(early.precision)
                e_lo, _ = interval(early, early_rounded)
                _, l_hi = interval(late, bool(late.precision))
                if l_hi >= e_lo:
                    continue
                if early.origin.startswith("seed"):
                    who = "the seed figure is kept as recorded; for registers the models use the later official figure"
                elif UNCLEAR in (early.scope, late.scope):
                    who = (
                        "the 'definition unclear' figure never enters a national series; the models use the "
                        "national AIDS centre figures"
                    )
                else:
                    who = (
                        "both official and kept as printed, each in its own year's series; for registers the "
                        "later official figure (b) is the one the models prefer"
                    )
                out.append(
                    Conflict(
                        late.calibration,
                        "cumulative count falls",
                        late.country,
                        late.indicator,
                        late.year,
                        early.ref,
                        figure_text(early),
                        late.ref,
                        figure_text(late),
                        f"a cumulative count cannot fall between {day(reference_date(early))} and "
                        f"{day(reference_date(late))}; {who}",
                    )
                )
    return out


#: part -> whole: a part larger than its whole (same country, year, period, scope) is a disagreement
PARTS = {
    "seizures_heroin_kg": "seizures_total_kg",
    "seizures_opium_kg": "seizures_total_kg",
    "seizures_hashish_kg": "seizures_total_kg",
    "seizures_marijuana_kg": "seizures_total_kg",
    "seizures_poppy_straw_kg": "seizures_total_kg",
    "drug_crimes_sale": "drug_crimes",
    "drug_crimes_smuggling": "drug_crimes",
    "drug_crimes_cultivation": "drug_crimes",
    "drug_crimes_dens": "drug_crimes",
    "drug_crimes_other": "drug_crimes",
    "registered_injecting_users": "registered_users",
    "registered_hiv_living": "registered_hiv_cumulative",
    "registered_hiv_deaths_cumulative": "registered_hiv_cumulative",
    "on_art": "registered_hiv_living",
}


def part_exceeds_whole_conflicts(rows: list[Row]) -> list[Conflict]:
    """(d) a component, a single agency's count or a part-year figure above the whole it belongs to."""
    index = defaultdict(list)
    for r in rows:
        index[(r.country, r.indicator, r.year, r.period, r.scope)].append(r)
    out = []
    for part in sorted(rows, key=Row.sort_key):
        wholes = []
        if part.indicator in PARTS:
            wholes.append((PARTS[part.indicator], part.period, part.scope, "component above its total"))
        if part.scope in SINGLE_AGENCY:
            wholes.append((part.indicator, part.period, "", "one agency's count above the all-agency count"))
        if part.period and part.indicator not in STOCKS:
            wholes.append((part.indicator, "", part.scope, "part-year figure above the full-year figure"))
        for ind, period, scope, topic in wholes:
            for whole in index.get((part.country, ind, part.year, period, scope), []):
                p_lo, _ = interval(part, bool(part.precision))
                _, w_hi = interval(whole, bool(whole.precision))
                if p_lo > w_hi:
                    out.append(
                        Conflict(
                            max(part.calibration, whole.calibration),
                            topic,
                            part.country,
                            part.indicator,
                            part.year,
                            whole.ref,
                            figure_text(whole),
                            part.ref,
                            figure_text(part),
                            "both kept as printed; a part cannot exceed its whole",
                        )
                    )
    return out


def note_conflicts(rows: list[Row]) -> list[Conflict]:
    """(e) figures a later row's note quotes from other sources that disagree with the tabulated one."""
    out = []
    for nc in NOTE_CONFLICTS:
        match = [
            r
            for r in rows
            if r.origin.startswith(nc.file + ":")
            and r.later_indicator == nc.later_indicator
            and r.year == nc.year
            and (r.value or r.low) == nc.value
            and r.country == nc.country
        ]
        if len(match) != 1 or nc.quoted not in match[0].note:
            raise SystemExit(f"NOTE_CONFLICTS entry no longer matches the data: {nc}")
        r = match[0]
        indicator, says_a = r.indicator, figure_text(r)
        special = NOTE_CONFLICT_SAYS_A.get((nc.country, nc.later_indicator, nc.year, nc.value))
        if special:
            indicator, says_a = special
        out.append(
            Conflict(
                r.calibration,
                nc.topic,
                r.country,
                indicator,
                r.year,
                r.ref,
                says_a,
                nc.ref_b or r.ref,
                nc.says_b,
                nc.note,
            )
        )
    return out


# ---------------------------------------------------------------- output


def csv_text(header: tuple[str, ...], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def build(later_dir: Path, seed_path: Path) -> tuple[dict[str, str], str]:
    """All output files (name -> text) and the summary."""
    files = sorted(p.name for p in later_dir.glob("*.csv"))
    if not files:
        raise SystemExit(f"{later_dir}: no CSV files")
    rows: list[Row] = []
    read: Counter = Counter()
    stock_dates_used: set = set()
    for name in files:
        for line, raw in read_csv(later_dir / name, LATER_COLUMNS):
            read[name] += 1
            rows.append(convert(name, line, raw, stock_dates_used))
    unused = set(STOCK_DATES) - stock_dates_used
    if unused:
        raise SystemExit(f"STOCK_DATES entries match no row: {sorted(unused)}")
    validate(rows)

    seed = []
    for line, raw in read_csv(seed_path, SEED_COLUMNS):
        seed.append(
            Row(
                raw["country"],
                raw["indicator"],
                int(raw["year"]),
                *(plain_number(raw[c], f"seed:{line}") for c in ("value", "low", "high")),
                raw["kind"],
                raw["source"],
                raw["ref"],
                raw["note"],
                origin=f"seed:{line}",
            )
        )

    conflicts = {
        "a: later sources disagree (same key)": same_key_conflicts(rows),
        "b: later figure vs seed figure": seed_conflicts(rows, seed),
        "c: cumulative count falls": falling_cumulative_conflicts(rows, seed),
        "d: part above its whole": part_exceeds_whole_conflicts(rows),
        "e: note quotes a different figure": note_conflicts(rows),
    }
    all_conflicts = sorted({c for cs in conflicts.values() for c in cs}, key=Conflict.sort_key)

    outputs: dict[str, str] = {}
    per_year_rows: Counter = Counter()
    for year in range(FIRST_CALIBRATION, LAST_CALIBRATION + 1):
        chosen = sorted((r for r in rows if r.calibration == year), key=Row.sort_key)
        per_year_rows[year] = len(chosen)
        outputs[f"{year}.csv"] = csv_text(OUT_COLUMNS, [r.cells() for r in chosen])
    per_year_conflicts: Counter = Counter()
    for year in range(FIRST_CALIBRATION, LAST_CALIBRATION + 1):
        chosen = [c for c in all_conflicts if c.calibration == year]
        if not chosen:
            continue
        per_year_conflicts[year] = len(chosen)
        body = [
            [
                f"later-{year}-c{i:02d}",
                c.topic,
                c.country,
                c.indicator,
                str(c.year),
                c.ref_a,
                c.says_a,
                c.ref_b,
                c.says_b,
                c.note,
            ]
            for i, c in enumerate(chosen, start=1)
        ]
        outputs[f"{year}_conflicts.csv"] = csv_text(CONFLICT_COLUMNS, body)

    written = Counter(r.origin.split(":")[0] for r in rows)
    ids = {
        c: f"later-{c.calibration}-c{i:02d}"
        for year in per_year_conflicts
        for i, c in enumerate([c for c in all_conflicts if c.calibration == year], start=1)
    }
    summary = summarise(
        rows, files, read, written, per_year_rows, per_year_conflicts, conflicts, seed_pairs(rows, seed), ids
    )
    outputs["README.md"] = summary
    return outputs, summary


def summarise(rows, files, read, written, per_year_rows, per_year_conflicts, conflicts, pairs, ids) -> str:
    mapping_counts = Counter((r.later_indicator, r.indicator, r.period, r.scope) for r in rows)
    parts = [
        "# Later official figures as calibrations (generated)",
        "",
        "Generated by `scripts/later_figures.py` from `../shared/data/later_figures/*.csv` and the seed "
        "observations (`forecast/embedded/data/observations.csv`). **Do not edit these files by hand**: "
        "rerun `python scripts/later_figures.py`; `python scripts/later_figures.py --check` exits 1 when the "
        "files here differ from what the script produces.",
        "",
        "- `YYYY.csv` (2005-2025): the observations that calibration YYYY brings, in the observations contract "
        "plus `period` (empty = the calendar year; a stock counted before year end keeps an empty period and "
        "its note says 'stock counted as of <date>'), "
        "`scope` (empty = whole country, all agencies, standard definition) and `precision` "
        "(`approximate` or empty). A figure about year Y enters with calibration max(Y, 2005).",
        "- `YYYY_conflicts.csv`: every disagreement first visible in that calibration (conflicts contract).",
        "",
        "## Rows per file",
        "",
        md_table(
            ["file", "rows read", "rows written", "left out"],
            [[f, read[f], written[f], read[f] - written[f]] for f in files]
            + [["**total**", sum(read.values()), sum(written.values()), sum(read.values()) - sum(written.values())]],
        ),
        "",
        "No row is left out." if sum(read.values()) == sum(written.values()) else "**Rows are missing.**",
        "",
        "## Judgement calls",
        "",
        f"- {sum(1 for r in rows if r.as_of)} stock figures were counted before the year's end (the note says "
        "'stock counted as of <date>'); they keep an empty period (so, unless scoped, they stand in their "
        "year's series); the "
        "dates order cumulative counts when looking for disagreements.",
        f"- {sum(1 for r in rows if r.scope == PLACEHOLDER)} ART figures are the export's 0 with the footnote "
        f"'{PLACEHOLDER_NOTE}': kept as printed, scope `{PLACEHOLDER}`.",
        f"- {sum(1 for r in rows if r.scope == UNCLEAR)} figures of unclear definition (IFRC interview, dispensary "
        f"register, heroin-dependent 1997-2011, a government count of 'drug users') carry scope `{UNCLEAR}`.",
        f"- {sum(1 for r in rows if r.scope == USG)} US Government (ONDCP) figures carry scope `{USG}`, never mixed "
        "with the UNODC series.",
        "",
        "## Rows per indicator",
        "",
        md_table(["indicator", "rows"], sorted(Counter(r.indicator for r in rows).items())),
        "",
        "## Mapping (later indicator -> indicator, period, scope)",
        "",
        md_table(
            ["later indicator", "indicator", "period", "scope", "rows"],
            [[a, b, c or "", d or "", n] for (a, b, c, d), n in sorted(mapping_counts.items())],
        ),
        "",
        "Lower bounds (`more than`, `at least`, `более`) are written as `low` with `value` empty; figures the "
        "source gives as about/some/nearly/около carry `precision = approximate`.",
        "",
        "## Rows per calibration year",
        "",
        md_table(
            ["calibration", "rows", "conflicts"],
            [[y, per_year_rows[y], per_year_conflicts[y]] for y in sorted(per_year_rows)],
        ),
        "",
        "## Conflicts by kind",
        "",
        md_table(["kind", "conflicts"], [[k, len(v)] for k, v in conflicts.items()]),
        "",
        f"Seed figures with the same key as a later figure (whole year, whole country): {len(pairs)}; "
        f"{sum(compatible(r, s, bool(r.precision), True) for r, s in pairs)} agree at the seed's printed rounding.",
        "",
        "## Conflicts",
        "",
        md_table(
            ["id", "topic", "country", "indicator", "year"],
            [[ids[c], c.topic, c.country, c.indicator, c.year] for c in sorted(ids, key=lambda c: ids[c])],
        ),
        "",
    ]
    return "\n".join(parts)


def write(outputs: dict[str, str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.iterdir():
        if (
            stale.is_file()
            and stale.name not in outputs
            and re.fullmatch(r"\d{4}(_conflicts)?\.csv|README\.md", stale.name)
        ):
            stale.unlink()
    for name, text in outputs.items():
        (out / name).write_bytes(text.encode("utf-8"))


def check(outputs: dict[str, str], out: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        write(outputs, Path(tmp))
        fresh = sorted(p.name for p in Path(tmp).iterdir())
        committed = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        problems = [f"missing: {n}" for n in fresh if n not in committed]
        problems += [f"not produced by the script: {n}" for n in committed if n not in fresh]
        problems += [
            f"differs: {n}" for n in fresh if n in committed and not filecmp.cmp(Path(tmp) / n, out / n, shallow=False)
        ]
    for p in problems:
        print(f"{out}: {p}", file=sys.stderr)
    if problems:
        print("rerun `python scripts/later_figures.py` to regenerate", file=sys.stderr)
        return 1
    print(f"{out}: up to date ({len(fresh)} files)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--later", type=Path, default=DEFAULT_LATER, help="folder of the later-figure CSVs")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (data/later)")
    ap.add_argument("--seed", type=Path, default=DEFAULT_SEED, help="seed observations.csv")
    ap.add_argument("--check", action="store_true", help="regenerate into a temporary folder; exit 1 on a difference")
    args = ap.parse_args(argv)
    outputs, summary = build(args.later, args.seed)
    if args.check:
        return check(outputs, args.out)
    write(outputs, args.out)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
