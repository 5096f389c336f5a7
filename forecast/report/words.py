"""The report's fixed words: the likelihood convention, the target groups, a glossary and the
bibliography that resolves every source document's file name to its author, title and year.

Kept apart from the template so that a test can hold every cited document to an entry here, and
so that the words are written once (the template and the tables use the same definitions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: IPCC AR5/AR6 calibrated language (Mastrandrea et al. 2010, the IPCC guidance note on the
#: consistent treatment of uncertainties): "likely" = 66-100% probability, "very likely" = 90-100%.
#: The report's 80% range is therefore a *likely* range and its 95% range a *very likely* one.
LIKELY, VERY_LIKELY = "likely", "very likely"
LIKELIHOOD_CONVENTION = (
    "Likelihood words follow the IPCC convention (Mastrandrea et al. 2010): “likely” means a probability of "
    "66% or more, “very likely” 90% or more. The report's 80% range is a likely range (the true value lies "
    "inside it with 80% probability, if the model is right), and its 95% range a very likely one. Whether the "
    "model earns these words is checked against what happened: see “How past forecasts held up”."
)


@dataclass(frozen=True)
class Document:
    file: str
    author: str
    year: str
    title: str
    where: str
    content: str

    @property
    def short(self) -> str:
        return f"{self.author.split(',')[0].split(' & ')[0]} {self.year}"


#: The source documents (../shared/seeds/), by the file names every `ref` cites.
BIBLIOGRAPHY = (
    Document(
        "000_3f802e5698f8ab93.txt",
        "Engvall, Johan",
        "2005",
        "Stability and Security in Tajikistan: Drug Trafficking as a Threat to National Security",
        "Master's thesis, Department of Peace and Conflict Research, Uppsala University",
        "Tajik registered addicts 1995–2001, HIV cases 1997–2004, the “at least twelve times” and “about 20 "
        "times” multipliers, the WHO one-in-fifty norm, the HIV laboratory outage of 2002–2003.",
    ),
    Document(
        "001_553ea87736c65826.txt",
        "Osmonaliev, Kairat",
        "2005",
        "Developing Counter-Narcotics Policy in Central Asia: Legal and Political Dimensions",
        "Silk Road Paper, Central Asia-Caucasus Institute & Silk Road Studies Program (Johns Hopkins "
        "University SAIS / Uppsala University)",
        "Registered users per country, UNODC rapid-assessment ranges, HIV by country, seizures and drug "
        "crimes 2002–2003, and the three scenarios this report forecasts.",
    ),
    Document(
        "002_805b2a3c5ffcaa04.txt",
        "Global Initiative against Transnational Organized Crime (GI-TOC)",
        "c. 2021",
        "Global Organized Crime Index: Tajikistan country profile",
        "GI-TOC, Geneva (web profile)",
        "Qualitative context: trafficking routes, criminal markets, resilience.",
    ),
    Document(
        "003_e9d9814e80aa2873.txt",
        "UNODC Regional Office for Central Asia (excerpts), compiled with Eurasianet reporting",
        "2008–2012",
        "Illicit Drug Trends in Central Asia (2008); Opiate Flows Through Northern Afghanistan and Central "
        "Asia (2012): excerpts",
        "United Nations Office on Drugs and Crime, Tashkent; D. Trilling, Eurasianet, 18 May 2012",
        "Opiate seizures 1996–2006 and country shares; seizures as 3.1% of the heroin flow in 2006, under 3% in 2010.",
    ),
    Document(
        "004_15da06324377f3ad.txt",
        "Marat, Erica & Botoeva, Gulzat",
        "2022",
        "Drug Trafficking, Violence and Corruption in Central Asia (research brief; full paper: SOC ACE "
        "Research Paper No. 7)",
        "Serious Organised Crime & Anti-Corruption Evidence programme, University of Birmingham",
        "2015–2022 context: heroin against opium interdiction, violence and corruption.",
    ),
)
BY_FILE = {d.file: d for d in BIBLIOGRAPHY}
SEED_FILE = re.compile(r"\b(\d{3}_[0-9a-f]{16}\.txt)")

#: The groups the estimates and registers count: every figure of the data maps to one of them.
TARGET_GROUPS = (
    (
        "People who use drugs (“true users”)",
        "The report's estimate of people with high-risk (problem) drug use in a year — mostly opiate users, "
        "many of them injecting — whether or not any service knows them. EMCDDA's “high-risk drug use”: "
        "recurrent use causing actual harm or placing the person at high probability of harm.",
    ),
    (
        "People who inject drugs (PWID)",
        "A subgroup of the above: people who injected a drug in the past year. Several source multipliers "
        "speak of injecting users only; the report does not estimate PWID separately.",
    ),
    (
        "People on the drug register",
        "People on the narcological register of the health ministry at year end (“registered drug users”, "
        "“registered addicts”): those who came to the attention of the services. A floor, not an estimate.",
    ),
    (
        "People living with HIV (PLHIV)",
        "Everyone alive with HIV infection in a year, diagnosed or not. The report's “true” PLHIV number.",
    ),
    (
        "People diagnosed with HIV (registered HIV cases)",
        "People registered by the AIDS centres with a positive test: new cases in a year, or cumulatively since "
        "records began (which also counts people who have since died or left). A floor for PLHIV, not an estimate.",
    ),
)

GLOSSARY = (
    ("80% range (likely range)", "The interval that holds the true value with 80% probability under the model."),
    ("95% range (very likely range)", "The interval that holds the true value with 95% probability."),
    ("Band, fan chart", "A forecast drawn as graded bands: the darker, the more probable (50%, 80%, 95%)."),
    ("Backtest", "Refitting a model on the data up to a past year and scoring its forecast of the years after."),
    (
        "Calibration (of the data)",
        "Adding a year of newly published figures: a new data vintage; the previous "
        "forecasts are scored against the new figures.",
    ),  # fmt: skip
    ("Coverage", "The share of outcomes that fell inside a band; 80% bands should hold about 80%."),
    ("CRPS", "Continuous ranked probability score: the error of a whole forecast distribution (lower is better)."),
    (
        "Evidence strength",
        "What an estimate rests on: own data (a size estimate or multiplier of that country "
        "within two years), pooling (the country's own registers, scaled by what other "
        "countries show), prior only (no figure of that country: not a finding).",
    ),  # fmt: skip
    (
        "Evidence synthesis",
        "One Bayesian model that weighs every register, size estimate and multiplier at once, "
        "each with its own uncertainty and a bias term for its method.",
    ),  # fmt: skip
    (
        "MASE",
        "Mean absolute scaled error: a forecast's error ÷ the error of the naive forecast (below 1: better "
        "than “same as last year”).",
    ),  # fmt: skip
    ("Median", "The middle value: as likely to be exceeded as not."),
    ("Multiplier", "How many times the register the true number is (“at least twelve times”)."),
    ("Naive forecast", "“Next year as last year”: the benchmark every model must beat."),
    ("PIT", "Probability integral transform: where the outcome fell within the forecast (0.5 = the median)."),
    (
        "Pooling",
        "Borrowing strength across the five countries: a country with little data is pulled toward the "
        "regional pattern.",
    ),  # fmt: skip
    ("Prior", "What the model assumes before the data, written and cited in models/prevalence.toml."),
    (
        "Scenario",
        "A named set of assumptions on growth (Osmonaliev 2005, or a user's): it replaces the model's "
        "trend; the model's year-to-year noise is laid over it.",
    ),  # fmt: skip
    ("Vintage", "One state of the data: the source documents (base), then one per calibration."),
)


def documents_cited(texts) -> list[Document]:
    """The bibliography entries of every seed file name found in ``texts``; unknown names raise
    KeyError (a document the bibliography does not resolve is a bug in this file)."""
    files = sorted({m for t in texts for m in SEED_FILE.findall(str(t))})
    return [BY_FILE[f] for f in files]


def short_ref(ref) -> str:
    """``001_553ea87736c65826.txt:1075`` -> ``Osmonaliev 2005, line 1075`` (the bibliography resolves the
    author; the file name stays in the data annex and the bibliography); anything else unchanged."""

    def one(m: re.Match) -> str:
        doc = BY_FILE.get(m.group(1))
        if doc is None:
            return m.group(0)
        return f"{doc.short}, line {m.group(2)}" if m.group(2) else doc.short

    return re.sub(r"\b(\d{3}_[0-9a-f]{16}\.txt)(?::(\d+))?", one, str(ref))
