"""Controlled vocabularies of the data contract (see DESIGN.md, "Contracts").

Every name a user may write in a CSV lives here, with a one-line meaning, so that an unknown
name can be reported together with the list of valid ones.
"""

from __future__ import annotations

COUNTRIES: dict[str, str] = {
    "Kazakhstan": "",
    "Kyrgyzstan": "",
    "Tajikistan": "",
    "Turkmenistan": "",
    "Uzbekistan": "",
    "Central Asia": "the five countries together, as a source reports them",
    "Afghanistan": "drivers only (opium production, flows)",
}

#: The five countries modelled individually (pooled hierarchically).
MODEL_COUNTRIES: tuple[str, ...] = (
    "Kazakhstan",
    "Kyrgyzstan",
    "Tajikistan",
    "Turkmenistan",
    "Uzbekistan",
)

#: The region as a whole: figures a source gives for the five countries together, and their sum.
REGION = "Central Asia"

INDICATORS: dict[str, str] = {
    "registered_users": "people on the drug-use (narcological) register at year end",
    "registered_users_per_100k": "registered users per 100,000 population",
    "treated_users": "people in treatment for substance abuse during the year",
    "estimated_users": "independent estimate of the number of people who use drugs",
    "estimated_users_per_100k": "independent estimate of drug users per 100,000 population",
    "registered_hiv_new": "HIV cases newly registered during the year",
    "registered_hiv_cumulative": "HIV cases registered since records began, at the stated date",
    "registered_hiv_idu": "registered HIV cases attributed to injecting drug use",
    "hiv_idu_share_pct": "percent of registered HIV cases attributed to injecting drug use",
    "estimated_plhiv": "independent estimate of people living with HIV",
    "drug_crimes": "drug-related crimes registered during the year",
    "trafficking_crimes": "drug crimes involving intent to traffic or sell",
    "possession_crimes": "drug crimes without intent to traffic (possession, use)",
    "seizures_heroin_kg": "heroin seized, kilograms",
    "seizures_opium_kg": "opium seized, kilograms",
    "seizures_cannabis_kg": "cannabis (marijuana, hashish, koknar) seized, kilograms",
    "seizures_hashish_kg": "hashish seized, kilograms",
    "seizures_opiates_kg": "opiates (heroin + opium, as the source sums them) seized, kilograms",
    "seizures_total_kg": "all drugs seized, kilograms",
    "seizures_heroin_share_pct": "a country's percent of the regional heroin seizures of a period",
    "seizures_opium_share_pct": "a country's percent of the regional opium seizures of a period",
    "seized_share_of_flow_pct": "percent of the estimated trafficked flow that was seized",
    "population": "resident population",
    "opium_production_t": "opium production, metric tons",
    "heroin_flow_t": "heroin estimated to be trafficked through the region, metric tons",
    "true_users": "true number of people who use drugs: the evidence synthesis's posterior (outputs only)",
    "true_plhiv": "true number of people living with HIV: the evidence synthesis's posterior (outputs only)",
    "registered_hiv_new_per_100k": "HIV cases newly registered per 100,000 population in the year",
    "seizures_marijuana_kg": "marijuana seized, kilograms (a part of cannabis)",
    "seizures_poppy_straw_kg": "poppy straw (koknar) seized, kilograms",
    "seizures_total_kg_border_guards": "all drugs seized by the Russian border guards in Tajikistan, kilograms",
    "seizures_heroin_kg_border_guards": "heroin seized by the Russian border guards in Tajikistan, kilograms",
    "seizures_opiates_share_pct": "a country's percent of the regional opiate seizures",
    "seizures_heroin_share_of_opiates_pct": "heroin as a percent of all opiates seized",
    "seizures_opium_share_of_opiates_pct": "opium as a percent of all opiates seized",
    "seizures_heroin_period_kg": "heroin seized over a multi-year period (year = last year), kilograms",
    "seizures_opium_period_kg": "opium seized over a multi-year period (year = last year), kilograms",
    "seizures_opiates_period_mean_kg": "mean yearly opiate seizures over a period (year = last year), kg",
    "judicial_drug_cases": "drug-related cases processed by the courts in the year",
    "judicial_drug_persons": "persons in drug-related cases processed by the courts in the year",
    "opium_cultivation_ha": "opium poppy area cultivated, hectares",
    "opium_eradicated_ha": "opium poppy area eradicated, hectares",
    "opium_cultivation_change_pct": "percent change of opium poppy area against an earlier year",
    "opium_world_share_pct": "percent of world opium production",
    "heroin_production_t": "heroin production, metric tons",
    "opiate_flow_growth_pct": "yearly percent growth of the estimated opiate flow",
    "afghan_opiates_transit_share_pct": "percent of Afghan opiates transiting the country or region",
    "treated_opiate_share_pct": "percent of treatment cases with opiates as the primary drug",
    "estimated_users_opiate_share_pct": "percent of estimated users with opiates as the primary drug",
    "idu_hiv_infection_risk_pct": "percent of injecting drug users expected to become HIV infected",
    "drug_economy_gdp_share_pct": "value of the drug trade as a percent of GDP",
    "women_share_trafficking_prosecuted_pct": "percent of those prosecuted for trafficking who are women",
    "health_budget_usd_per_capita": "public health budget, US dollars per person per year",
    "registered_users_new": "people newly put on the drug-use register during the year",
    "registered_users_new_per_100k": "people newly put on the drug-use register per 100,000 population in the year",
    "registered_injecting_users": "people on the drug-use register who inject drugs, at year end",
    "registered_hiv_living": "people with diagnosed HIV alive and on the register at year end "
    "(cumulative registrations minus deaths and departures)",
    "registered_hiv_deaths": "deaths among people registered with HIV during the year",
    "registered_hiv_deaths_cumulative": "deaths among people registered with HIV since records began",
    "on_art": "people receiving antiretroviral therapy at year end (programme count)",
    "drug_crimes_sale": "drug crimes of sale (dealing) registered during the year",
    "drug_crimes_smuggling": "drug crimes of smuggling across the border registered during the year",
    "drug_crimes_cultivation": "drug crimes of illicit cultivation registered during the year",
    "drug_crimes_dens": "drug crimes of keeping a den for drug use registered during the year",
    "drug_crimes_other": "drug crimes of other kinds registered during the year",
    "drug_crimes_solved": "drug crimes solved (cleared) during the year",
    "opium_pure_production_t": "potential production of pure opium, metric tons (US Government series)",
}

KINDS: dict[str, str] = {
    "official": "a count or figure reported by a government body",
    "estimate": "a modelled, surveyed or expert estimate",
}

TARGETS: dict[str, str] = {
    "users": "people who use drugs (true ÷ registered users)",
    "plhiv": "people living with HIV (true ÷ registered HIV cases)",
    "flow": "drug flow (true flow ÷ seized amount)",
}

#: How a multiplier was arrived at (the ``method`` column of multiplier evidence): the methods the
#: embedded multipliers.csv uses, and capture-recapture. Another name is accepted with a warning listing these.
METHODS: dict[str, str] = {
    "field_sampling": "a field study: sampling interviews of users (e.g. UNODC's in Dushanbe)",
    "norm": "a generic norm applied everywhere (WHO's 'one in fifty')",
    "expert_judgement": "an expert's or an agency's stated judgement ('about 20 times')",
    "author_claim": "an author's own claim, without the method behind it",
    "implied_ratio": "derived: a size estimate divided by the register of the same year",
    "capture_recapture": "capture-recapture across two or more registers (EMCDDA's preferred local method; "
    "docs/prevalence_priors.md, 5a)",
}

OBSERVATION_COLUMNS: tuple[str, ...] = (
    "country",
    "indicator",
    "year",
    "value",
    "low",
    "high",
    "kind",
    "source",
    "ref",
    "note",
    "period",
    "scope",
    "precision",
)
#: Columns an observations file may leave out (empty = the common case).
#: ``period``: empty = the calendar year; else the part of it a figure covers ("H1", "Jan-Sep").
#: ``scope``: empty = the whole country, all agencies, the indicator's definition; else what the
#: figure covers instead ("Drug Control Agency only", "Khatlon oblast", "definition unclear").
#: ``precision``: empty = as printed; "approximate" when the source says about / around.
#: Only figures with neither a period nor a scope form a country's annual series (``annual_series``).
OPTIONAL_OBSERVATION_COLUMNS: tuple[str, ...] = ("period", "scope", "precision")
PRECISIONS: dict[str, str] = {"approximate": "the source says about / around / approximately"}
MULTIPLIER_COLUMNS: tuple[str, ...] = (
    "id",
    "country",
    "target",
    "year",
    "value",
    "low",
    "high",
    "method",
    "source",
    "ref",
    "note",
)
CONFLICT_COLUMNS: tuple[str, ...] = (
    "id",
    "topic",
    "country",
    "indicator",
    "year",
    "ref_a",
    "says_a",
    "ref_b",
    "says_b",
    "note",
)

YEAR_MIN, YEAR_MAX = 1960, 2100
