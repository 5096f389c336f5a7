"""The embedded dataset: it loads, holds the key seed figures with their refs, and every figure
stands in its source document at the cited line."""

from __future__ import annotations

import math

import pytest

from forecast.data.dataset import load_dataset
from forecast.data.provenance import unsupported_figures
from tests.conftest import DATA, SEEDS


@pytest.fixture(scope="module")
def ds():
    return load_dataset(DATA, vintage="base")


def test_embedded_files_pass_the_check(cli):
    for name in ("observations.csv", "multipliers.csv", "conflicts.csv"):
        code, out, err = cli("data", "check", DATA / name)
        assert code == 0, err
        assert "OK" in out


def test_size_of_the_dataset(ds):
    figures = ds.observations[["value", "low", "high"]].notna().any(axis=1).sum() + len(ds.multipliers)
    assert figures >= 150
    assert len(ds.conflicts) >= 20


@pytest.mark.parametrize(
    "country,indicator,year,value,ref",
    [
        ("Tajikistan", "registered_users", 1995, 823, "000_3f802e5698f8ab93.txt:1713"),
        ("Tajikistan", "registered_users", 2001, 6243, "000_3f802e5698f8ab93.txt:1713"),
        ("Kazakhstan", "registered_users", 2002, 49736, "001_553ea87736c65826.txt:530"),
        ("Kyrgyzstan", "registered_users", 2002, 5600, "001_553ea87736c65826.txt:530"),
        ("Tajikistan", "registered_users", 2002, 8813, "001_553ea87736c65826.txt:530"),
        ("Uzbekistan", "registered_users", 2002, 21360, "001_553ea87736c65826.txt:530"),
        ("Kazakhstan", "registered_users_per_100k", 2002, 70.6, "001_553ea87736c65826.txt:529"),
        ("Kazakhstan", "population", 2002, 14869021, "001_553ea87736c65826.txt:564"),
        ("Tajikistan", "registered_hiv_new", 2003, 42, "000_3f802e5698f8ab93.txt:1933"),
        ("Tajikistan", "registered_hiv_cumulative", 2004, 152, "000_3f802e5698f8ab93.txt:1950"),
        ("Uzbekistan", "registered_hiv_cumulative", 2002, 17602, "001_553ea87736c65826.txt:570"),
        ("Tajikistan", "estimated_users", 2003, 100000, "000_3f802e5698f8ab93.txt:1802"),
        ("Kazakhstan", "treated_users", 2000, 41400, "000_3f802e5698f8ab93.txt:1758"),
    ],
)
def test_key_figures_present_with_their_refs(ds, country, indicator, year, value, ref):
    o = ds.observations
    rows = o[(o.country == country) & (o.indicator == indicator) & (o.year == year)]
    assert not rows.empty, (country, indicator, year)
    hit = rows[(rows.value == value) | (rows.low == value) | (rows.high == value)]
    assert not hit.empty, rows[["value", "low", "high", "ref"]]
    assert any(ref in r for r in hit.ref), list(hit.ref)


def test_rapid_assessment_ranges(ds):
    o = ds.observations
    kz = o[(o.country == "Kazakhstan") & (o.indicator == "estimated_users") & (o.year == 2002)].iloc[0]
    assert (kz.low, kz.high) == (165000, 186000)


@pytest.mark.parametrize(
    "value,target,country", [(12, "users", "Tajikistan"), (50, "users", "Tajikistan"), (20, "plhiv", "Tajikistan")]
)
def test_multiplier_evidence(ds, value, target, country):
    m = ds.multipliers
    assert not m[(m.value == value) & (m.target == target) & (m.country == country)].empty


def test_osmonaliev_10_to_15_claim(ds):
    m = ds.multipliers
    row = m[(m.country == "Central Asia") & (m.low == 10) & (m.high == 15)]
    assert len(row) == 1 and row.iloc[0].ref.startswith("001_553ea87736c65826.txt:")


@pytest.mark.parametrize("words", [["17602"], ["9,603", "5"], ["10-15"]])
def test_known_conflicts_recorded(ds, words):
    text = (ds.conflicts.says_a + " " + ds.conflicts.says_b + " " + ds.conflicts.note.fillna("")).str.lower()
    assert any(all(w.lower() in t for w in words) for t in text), words


def test_conflicts_cli_lists_both_refs(cli):
    code, out, _ = cli("data", "conflicts")
    assert code == 0
    assert "ref_a" in out and "ref_b" in out


def test_data_show(cli):
    code, out, _ = cli("data", "show")
    assert code == 0
    assert "registered_users" in out and "Figures per source" in out


def _rows_with_refs(ds):
    for table, df in (("observations", ds.observations), ("multipliers", ds.multipliers)):
        for i, r in df.iterrows():
            yield table, i, r


@pytest.mark.skipif(not SEEDS.exists(), reason="source documents (../shared/seeds) not present")
def test_every_figure_stands_at_its_ref(ds):
    """Each row's value/low/high is written (as the document writes it) at its ref or the next line.

    Rows derived by arithmetic from several figures (note starting "derived:" or method
    implied_ratio) cite every line they use; those lines must exist."""
    problems = []
    for table, i, r in _rows_with_refs(ds):
        if not isinstance(r.ref, str) or not r.ref:
            problems.append(f"{table} row {i + 2}: no ref")
            continue
        derived = str(r.note).startswith("derived") or r.get("method") == "implied_ratio"
        fields = () if derived else ("value", "low", "high")
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for p in unsupported_figures(SEEDS, row, fields):
            problems.append(f"{table} row {i + 2}: {p}")
    assert not problems, "\n".join(problems)
