"""Malformed input of every kind (CSV, TOML, options, environment): a clean exit, nothing written.

Each case runs the CLI in-process and asserts the promise of DESIGN.md: exit 2 for bad input or
usage (one line per problem naming the file, row, column or key), exit 1 with one line for a genuine
environment failure (a full disk), never a traceback, never a raw control character on the
terminal, and nothing written or half-written (the data folder and --out hashed before and after).
Implausible but legal data pass with a ``warning:`` line naming the row. No case runs the Bayesian
fit: the priors are checked before it, and the commands used are `data check`, `scenarios`,
`estimate` with a broken priors file, `calibrate --dry-run` / `--no-refit` and `report`.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import re
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast.core import outputs
from forecast.core.errors import ConfigError, DataError, InputWarning
from forecast.core.resources import EMBEDDED_DATA_DIR, EMBEDDED_MODELS_DIR
from tests.conftest import DATA, OBS_HEADER, tree_hash

MULT_HEADER = "id,country,target,year,value,low,high,method,source,ref,note"
CONFLICT_HEADER = "id,topic,country,indicator,year,ref_a,says_a,ref_b,says_b,note"
OBS = {
    "country": "Tajikistan",
    "indicator": "registered_users",
    "year": "2001",
    "value": "6243",
    "low": "",
    "high": "",
    "kind": "official",
    "source": "Engvall 2005",
    "ref": "000_3f802e5698f8ab93.txt:1713",
    "note": "",
}
MULT = {
    "id": "m1",
    "country": "Tajikistan",
    "target": "users",
    "year": "2001",
    "value": "12",
    "low": "",
    "high": "",
    "method": "field_sampling",
    "source": "Engvall 2005",
    "ref": "000_3f802e5698f8ab93.txt:1771",
    "note": "",
}
CONFLICT = {
    "id": "c1",
    "topic": "t",
    "country": "Tajikistan",
    "indicator": "registered_users",
    "year": "2003",
    "ref_a": "a",
    "says_a": "1",
    "ref_b": "b",
    "says_b": "2",
    "note": "",
}


def _row(fields: dict) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields.values())
    return buf.getvalue()


def obs(**cells) -> str:
    """An observations file of one row: the good row with ``cells`` changed (written by csv, so quoted)."""
    return ",".join(OBS) + "\n" + _row({**OBS, **cells})


def mult(**cells) -> str:
    return ",".join(MULT) + "\n" + _row({**MULT, **cells})


def conflict(**cells) -> str:
    return ",".join(CONFLICT) + "\n" + _row({**CONFLICT, **cells})


GOOD_OBS_LINE = _row(OBS).strip()


def raw_obs(*lines: str, header: str = OBS_HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


def snapshot(*folders: Path) -> list[str | None]:
    """A hash of each folder (None when it does not exist): equal snapshots, nothing written."""
    return [tree_hash(f) if f.exists() else None for f in folders]


def deny_writes(monkeypatch, folder: Path) -> None:
    """``folder`` read-only as os.access sees it (chmod does not stop root, who may run the tests)."""
    real = os.access

    def access(path, mode, **kw):
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real(path, mode, **kw)

    monkeypatch.setattr(os, "access", access)


def assert_clean(code: int, out: str, err: str, expected: int = 2, *words: str) -> list[str]:
    """The exit code, no traceback, no raw control character, every problem on one line."""
    text = out + err
    assert code == expected, (code, out, err)
    assert "Traceback" not in text and "internal error" not in text, text
    assert not any(ch in text for ch in ("\x00", "\x1b", "\r")), repr(text)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "no message at all"
    if not lines[0].startswith(("Usage:", "Error: ")):  # click's usage errors have their own form
        assert all(line.startswith(("error: ", "warning: ", "· ")) for line in lines), lines
    for w in words:
        assert w in err, (w, err)
    return lines


# ---------------------------------------------------------------------------------------------
# CSV: observations, multiplier evidence, conflicts (`forecast data check`)

BIG = "x" * 140_000

OBSERVATION_CASES = {
    # numbers
    "value 1e400 (infinite)": (obs(value="1e400"), 2, "value", "infinity"),
    "value -1e400": (obs(value="-1e400"), 2, "value", "infinity"),
    "low 1e400": (obs(indicator="estimated_users", kind="estimate", value="", low="1e400", high="2e400"), 2, "low", ""),
    "high 1e999": (obs(indicator="estimated_users", kind="estimate", value="", low="5", high="1e999"), 2, "high", ""),
    "value nan": (obs(value="nan"), 2, "value", "not a number"),
    "value NaN": (obs(value="NaN"), 2, "value", "not a number"),
    "value inf": (obs(value="inf"), 2, "value", "not a number"),
    "value -Infinity": (obs(value="-Infinity"), 2, "value", "not a number"),
    "value 1e13 (beyond any count)": (obs(value="1e13"), 2, "value", "out of range"),
    "value 20 digits": (obs(value="99999999999999999999"), 2, "value", "out of range"),
    "value hex": (obs(value="0x1A"), 2, "value", "not a number"),
    "value underscore": (obs(value="1_000"), 2, "value", "not a number"),
    "value trailing letters": (obs(value="12abc"), 2, "value", "not a number"),
    "value double sign": (obs(value="--5"), 2, "value", "not a number"),
    "value bare exponent": (obs(value="1e"), 2, "value", "not a number"),
    "value lone dot": (obs(value="."), 2, "value", "not a number"),
    "value two dots": (obs(value="1.2.3"), 2, "value", "not a number"),
    "value vulgar fraction": (obs(value="½"), 2, "value", "not a number"),
    "value quoted decimal comma": (obs(value="70,6"), 2, "value", "decimal comma"),
    "value thousands dots": (obs(value="14.869.021"), 2, "value", "thousands separator"),
    "value thousands space": (obs(value="100 000"), 2, "value", "thousands separator"),
    "value percent sign": (obs(value="91%"), 2, "value", "percent sign"),
    "value negative": (obs(value="-5"), 2, "value", "negative"),
    "population 0": (obs(indicator="population", value="0"), 2, "value", "a population of 0"),
    "low negative": (obs(indicator="estimated_users", kind="estimate", value="", low="-0.5", high="5"), 2, "low", ""),
    "value formula": (obs(value="=1+1"), 2, "value", "not a number"),
    "value with a NUL-free control char": (obs(value="12\x07"), 2, "value", "not a number"),
    "low above high": (obs(value="", low="9", high="5"), 2, None, "low is greater than high"),
    "value outside its range": (obs(value="50", low="1", high="5"), 2, None, "outside its own low-high range"),
    "no figure at all": (obs(value=""), 2, None, "no figure"),
    # years
    "year with decimals": (obs(year="2003.0"), 2, "year", "not a year"),
    "year five digits": (obs(year="20035"), 2, "year", "not a year"),
    "year negative": (obs(year="-2003"), 2, "year", "not a year"),
    "year empty": (obs(year=""), 2, "year", ""),
    "year roman": (obs(year="MMIII"), 2, "year", "not a year"),
    "year 1959": (obs(year="1959"), 2, "year", "outside"),
    "year 2101": (obs(year="2101"), 2, "year", "outside"),
    "year two digits": (obs(year="03"), 2, "year", "outside"),
    "year with a formula": (obs(year="=2003"), 2, "year", "not a year"),
    # vocabularies and text
    "unknown country": (obs(country="Tajikstan"), 2, "country", "unknown country"),
    "empty country": (obs(country=""), 2, "country", ""),
    "country with a NUL-like escape": (obs(country="Taj\x1b[31mikistan"), 2, "country", "unknown country"),
    "country of 5,000 characters": (obs(country="T" * 5000), 2, "country", "characters"),
    "country right-to-left override": (obs(country="\u202etsinikijaT"), 2, "country", "unknown country"),
    "unknown indicator": (obs(indicator="registerd_users"), 2, "indicator", "unknown indicator"),
    "unknown kind": (obs(kind="oficial"), 2, "kind", "unknown kind"),
    "empty source": (obs(source=""), 2, "source", "empty but required"),
    "unknown precision": (
        raw_obs(GOOD_OBS_LINE + ",,,about", header=OBS_HEADER + ",period,scope,precision"),
        2,
        None,
        "",
    ),
    # structure
    "one field too many": (raw_obs(GOOD_OBS_LINE + ",extra"), 2, None, "has 11 fields"),
    "one field too few": (raw_obs(GOOD_OBS_LINE.rsplit(",", 1)[0]), 2, None, "has 9 fields"),
    "unquoted decimal comma (extra field)": (
        raw_obs("Kazakhstan,registered_users_per_100k,2002,70,6,,,official,s,r,"),
        2,
        None,
        "has 11 fields",
    ),
    "missing column": (raw_obs("a,b", header="country,indicator"), 1, None, "missing column"),
    "unknown column": (raw_obs(GOOD_OBS_LINE + ",x", header=OBS_HEADER + ",colour"), 1, None, "unknown column"),
    "duplicate column": (raw_obs(GOOD_OBS_LINE + ",x", header=OBS_HEADER + ",note"), 1, None, "more than once"),
    "header only": (OBS_HEADER + "\n", None, None, "no data rows"),
    "empty file": ("", None, None, "file is empty"),
    "whitespace only": ("  \n\n \t\n", None, None, "file is empty"),
    "header and blank lines": (OBS_HEADER + "\n\n\n", None, None, "no data rows"),
    "duplicate row": (raw_obs(GOOD_OBS_LINE, GOOD_OBS_LINE), 3, None, "duplicate of row 2"),
    "unclosed quote": (raw_obs('Tajikistan,registered_users,2001,6243,,,official,"Engvall,r,'), 2, None, "fields"),
    "field over 131,072 characters": (obs(note=BIG), 2, None, "longer than 131,072"),
    "unclosed quote over the limit": (
        raw_obs('Tajikistan,registered_users,2001,6243,,,official,"' + BIG),
        2,
        None,
        "131,072",
    ),
    # encodings and bytes
    "UTF-16 LE with BOM": (obs().encode("utf-16"), None, None, "UTF-16"),
    "UTF-16 BE with BOM": (codecs.BOM_UTF16_BE + obs().encode("utf-16-be"), None, None, "UTF-16"),
    "UTF-16 LE without BOM": (obs().encode("utf-16-le"), None, None, "UTF-16 without a byte-order mark"),
    "UTF-16 BE without BOM": (obs().encode("utf-16-be"), None, None, "UTF-16 without a byte-order mark"),
    "UTF-32 with BOM": (obs().encode("utf-32"), None, None, "UTF-32"),
    "a NUL byte in UTF-8": (obs(note="a\x00b").encode(), 2, None, "NUL"),
    "Latin-1": (obs(source="Engväll").encode("latin-1"), 2, None, "not UTF-8"),
    "Windows-1251": (obs(source="Энгвалл").encode("cp1251"), 2, None, "not UTF-8"),
    "a PNG under a .csv name": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), None, None, "NUL"),
    "only a byte-order mark": (codecs.BOM_UTF8, None, None, "file is empty"),
}

MULTIPLIER_CASES = {
    "multiplier 0": (mult(value="0"), 2, "value", "must be > 0"),
    "multiplier negative": (mult(value="-3"), 2, "value", "must be > 0"),
    "multiplier 1e300": (mult(value="1e300"), 2, "value", "out of range"),
    "multiplier 1e-300": (mult(value="1e-300"), 2, "value", "out of range"),
    "multiplier 1e400": (mult(value="1e400"), 2, "value", "infinity"),
    "multiplier 1e-400 (zero)": (mult(value="1e-400"), 2, "value", "must be > 0"),
    "multiplier low 1e-300": (mult(value="", low="1e-300", high="5"), 2, "low", "out of range"),
    "multiplier high 1e300": (mult(value="", low="2", high="1e300"), 2, "high", "out of range"),
    "multiplier nan": (mult(value="nan"), 2, "value", "not a number"),
    "multiplier decimal comma": (mult(value="12,5"), 2, "value", "decimal comma"),
    "multiplier unknown target": (mult(target="dealers"), 2, "target", "unknown target"),
    "multiplier empty method": (mult(method=""), 2, "method", "empty but required"),
    "multiplier low above high": (mult(value="", low="20", high="10"), 2, None, "low is greater than high"),
    "multiplier no figure": (mult(value=""), 2, None, "no figure"),
    "multiplier duplicate id": (",".join(MULT) + "\n" + _row(MULT) * 2, 3, None, "duplicate of row 2"),
    "multiplier year text": (mult(year="two thousand"), 2, "year", "not a year"),
    "multiplier country unknown": (mult(country="Afganistan"), 2, "country", "unknown country"),
}

CONFLICT_CASES = {
    "conflict year text": (conflict(year="2003a"), 2, "year", "not a year"),
    "conflict duplicate id": (",".join(CONFLICT) + "\n" + _row(CONFLICT) * 2, 3, None, "duplicate of row 2"),
    "conflict empty says_a": (conflict(says_a=""), 2, "says_a", "empty but required"),
    "conflict missing column": (
        CONFLICT_HEADER.replace(",note", "") + "\nc1,t,,,,a,1,b,2\n",
        1,
        None,
        "missing column",
    ),
}

CSV_CASES = {**OBSERVATION_CASES, **MULTIPLIER_CASES, **CONFLICT_CASES}


@pytest.mark.parametrize("case", list(CSV_CASES))
def test_malformed_csv_is_exit_2_naming_the_place(case, cli, tmp_path):
    content, row, column, words = CSV_CASES[case]
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "bad.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    before = snapshot(folder)
    code, out, err = cli("data", "check", path)
    lines = assert_clean(code, out, err, 2, words)
    assert all(line.startswith(f"error: {path}") for line in lines), lines
    if row is not None:
        assert any(f"row {row}" in line for line in lines), lines
    if column is not None:
        assert any(f"column '{column}'" in line for line in lines), lines
    assert max(len(line) for line in lines) < 3000, "a user's cell is quoted in full"
    assert snapshot(folder) == before


def test_a_csv_that_is_a_folder_or_missing(cli, tmp_path):
    assert_clean(*cli("data", "check", tmp_path), 2, "is a folder")
    assert_clean(*cli("data", "check", tmp_path / "nope.csv"), 2, "file not found")


@pytest.mark.parametrize(
    "broken",
    ["observations.csv", "multipliers.csv", "conflicts.csv"],
)
def test_a_broken_table_in_the_data_folder_stops_every_command(broken, cli, store, tmp_path):
    """The same checks hold when the bad file is a table of --data: exit 2, nothing written."""
    path = store / broken
    path.write_text(path.read_text(encoding="utf-8").replace("\n", "\n1e400,", 1)[:-1] + "\n", encoding="utf-8")
    out = tmp_path / "out"
    before = snapshot(store, out)
    for args in (("scenarios", "--data", store, "--out", out), ("data", "show", "--data", store)):
        assert_clean(*cli(*args), 2, str(path))
    assert snapshot(store, out) == before


# -- hypothesis: any text in any cell of a valid row -----------------------------------------------

_CELL = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["1e400", "-1e400", "nan", "inf", "70,6", "=cmd|' /C calc'!A0", "\x00", "\r\n", '"', "1e-400"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=st.sampled_from(["observations", "multipliers"]), column=st.integers(0, 9), cell=_CELL)
def test_any_cell_in_a_valid_row_is_ok_or_a_clean_exit_2(cli, table, column, cell):
    good = OBS if table == "observations" else MULT
    key = list(good)[column]
    text = (obs if table == "observations" else mult)(**{key: cell})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        code, out, err = cli("data", "check", path)
    assert code in (0, 2), (code, err)
    assert "Traceback" not in out + err and "internal error" not in err
    assert not any(ch in out + err for ch in ("\x00", "\x1b")), repr(err)
    if code == 2:
        assert all(line.startswith(f"error: {path}") for line in err.splitlines() if line.strip())


# -- implausible but legal: a warning naming the row, exit 0 -----------------------------------------

WARNING_CASES = {
    "a year after this one": (obs(year="2040"), "row 2, column 'year'", "after the current year"),
    "a share of 250 percent": (obs(indicator="hiv_idu_share_pct", value="250"), "row 2, column 'value'", "above 100"),
    "a decimal comma split into value and low": (
        raw_obs("Kazakhstan,registered_users_per_100k,2002,70,6,,official,s,r,"),
        "row 2, column 'low'",
        "decimal comma",
    ),
    "a multiplier of 0.5": (mult(value="0.5"), "row 2, column 'value'", "outside 1-1000"),
    "a multiplier of 5,000": (mult(value="5000"), "row 2, column 'value'", "outside 1-1000"),
    "a multiplier split decimal": (mult(value="12", low="5"), "row 2, column 'low'", "decimal comma"),
    "an unknown method": (mult(method="crystal_ball"), "row 2, column 'method'", "field_sampling"),
    "a series of zeros": (
        raw_obs(*(f"Turkmenistan,drug_crimes,{y},0,,,official,s,r," for y in (2001, 2002, 2003))),
        "row 2, column 'value'",
        "zero width",
    ),
}


@pytest.mark.parametrize("case", list(WARNING_CASES))
def test_implausible_data_pass_with_a_warning_naming_the_row(case, cli, write_csv):
    content, where, words = WARNING_CASES[case]
    path = write_csv(content)
    code, out, err = cli("data", "check", path)
    assert code == 0 and "OK" in out, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: {path}, {where}") and words in lines[0], lines


def test_a_share_may_not_but_a_change_may_exceed_100(write_csv):
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        from forecast.data.contract import load_observations

        load_observations(write_csv(obs(country="Afghanistan", indicator="opium_cultivation_change_pct", value="419")))


def test_every_contract_table_of_the_embedded_data_checks_silently():
    """data check on every CSV under forecast/embedded/data (base, later/, vintages/): no warning."""
    from forecast.data.contract import check_file

    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        for path in sorted(EMBEDDED_DATA_DIR.rglob("*.csv")):
            try:
                check_file(path)
            except DataError:
                assert path.name not in ("observations.csv", "multipliers.csv", "conflicts.csv"), path
                continue
            checked += 1
    assert checked > 60


def test_the_embedded_data_check_prints_nothing_on_stderr(cli):
    for name in ("observations.csv", "multipliers.csv", "conflicts.csv", "later/2025.csv"):
        code, _, err = cli("data", "check", EMBEDDED_DATA_DIR / name)
        assert code == 0 and err == "", err


# ---------------------------------------------------------------------------------------------
# TOML: the priors (`forecast estimate --priors`, checked before the fit)

PRIORS = (EMBEDDED_MODELS_DIR / "prevalence.toml").read_text(encoding="utf-8")
DRAWS = re.search(r"^draws = \d+", PRIORS, re.M).group(0)  # the default's line, whatever the number

PRIOR_CASES = {
    # name: ((old, new) replacement in the embedded priors, key the message names, words)
    "draws nan": ((DRAWS, "draws = nan"), "sampler.draws", "finite"),
    "draws inf": ((DRAWS, "draws = inf"), "sampler.draws", "finite"),
    "draws fractional": ((DRAWS, "draws = 3000.5"), "sampler.draws", "whole number"),
    "draws text": ((DRAWS, 'draws = "2000"'), "sampler.draws", "must be a number"),
    "draws boolean": ((DRAWS, "draws = true"), "sampler.draws", "must be a number"),
    "draws too few": ((DRAWS, "draws = 50"), "sampler.draws", "must lie in"),
    "draws huge integer": ((DRAWS, "draws = 99999999999999999999999"), "sampler.draws", "must lie in"),
    "draws 1e400": ((DRAWS, "draws = 1e400"), "sampler.draws", "finite"),
    "draws negative": ((DRAWS, "draws = -1"), "sampler.draws", "must lie in"),
    "draws a list": ((DRAWS, "draws = [2000]"), "sampler.draws", "must be a number"),
    "tune -inf": (("tune = 1000", "tune = -inf"), "sampler.tune", "finite"),
    "tune fractional": (("tune = 1000", "tune = 1000.5"), "sampler.tune", "whole number"),
    "chains fractional": (("chains = 4", "chains = 2.5"), "sampler.chains", "whole number"),
    "chains zero": (("chains = 4", "chains = 0"), "sampler.chains", "must lie in"),
    "chains nan": (("chains = 4", "chains = nan"), "sampler.chains", "finite"),
    "target_accept nan": (("target_accept = 0.9", "target_accept = nan"), "sampler.target_accept", "finite"),
    "target_accept inf": (("target_accept = 0.9", "target_accept = inf"), "sampler.target_accept", "finite"),
    "target_accept -nan": (("target_accept = 0.9", "target_accept = -nan"), "sampler.target_accept", "finite"),
    "target_accept 1.5": (("target_accept = 0.9", "target_accept = 1.5"), "sampler.target_accept", "must lie in"),
    "target_accept text": (("target_accept = 0.9", 'target_accept = "high"'), "sampler.target_accept", "number"),
    "retry_draws negative": (("retry_draws = 5000", "retry_draws = -1"), "sampler.retry_draws", "must lie in"),
    "retry_draws fractional": (("retry_draws = 5000", "retry_draws = 50.5"), "sampler.retry_draws", "whole number"),
    "retry_target_accept 1.5": (
        ("retry_target_accept = 0.95", "retry_target_accept = 1.5"),
        "sampler.retry_target_accept",
        "must lie in",
    ),
    "range_coverage nan": (("range_coverage = 0.90", "range_coverage = nan"), "evidence.range_coverage", "finite"),
    "point_log_sd zero": (("point_log_sd = 0.25", "point_log_sd = 0"), "evidence.point_log_sd", "> 0"),
    "point_log_sd negative": (("point_log_sd = 0.25", "point_log_sd = -0.25"), "evidence.point_log_sd", "> 0"),
    "point_log_sd inf": (("point_log_sd = 0.25", "point_log_sd = inf"), "evidence.point_log_sd", "finite"),
    "lower_bound_log_sd nan": (
        ("lower_bound_log_sd = 0.15", "lower_bound_log_sd = nan"),
        "lower_bound_log_sd",
        "finite",
    ),
    "student_t_nu nan": (("student_t_nu = 3", "student_t_nu = nan"), "evidence.student_t_nu", "finite"),
    "student_t_nu 0.5": (("student_t_nu = 3", "student_t_nu = 0.5"), "evidence.student_t_nu", "must lie in"),
    "register_log_sd -inf": (("register_log_sd = 0.1", "register_log_sd = -inf"), "evidence.register_log_sd", "finite"),
    "treated sd nan": (("treated_vs_registered_sd = 0.5", "treated_vs_registered_sd = nan"), "treated_vs", "finite"),
    "between_source_sd median nan": (
        ("{ median = 0.2, log_sd = 0.6 }", "{ median = nan, log_sd = 0.6 }"),
        "median",
        "",
    ),
    "between_source_sd log_sd inf": (
        ("{ median = 0.2, log_sd = 0.6 }", "{ median = 0.2, log_sd = inf }"),
        "log_sd",
        "",
    ),
    "between_source_sd missing log_sd": (("{ median = 0.2, log_sd = 0.6 }", "{ median = 0.2 }"), "log_sd", "missing"),
    "between_source_sd extra key": (
        ("{ median = 0.2, log_sd = 0.6 }", "{ median = 0.2, log_sd = 0.6, x = 1 }"),
        ".x",
        "",
    ),
    "between_source_sd not a table": (
        ("between_source_sd = { median = 0.2, log_sd = 0.6 }", "between_source_sd = 0.2"),
        "between_source_sd",
        "table",
    ),
    "sd = nan": (
        ("{ mean = -1.8, sd = 1.0 }", "{ mean = -1.8, sd = nan }"),
        "users.logit_level_mean.sd",
        "finite",
    ),
    "mean = inf": (
        ("{ mean = -1.8, sd = 1.0 }", "{ mean = inf, sd = 1.0 }"),
        "users.logit_level_mean.mean",
        "finite",
    ),
    "mean = nan": (("{ mean = 0.0, sd = 0.1 }", "{ mean = nan, sd = 0.1 }"), "users.slope_mean.mean", "finite"),
    "sd = 0": (("{ mean = 0.0, sd = 0.1 }", "{ mean = 0.0, sd = 0 }"), "users.slope_mean.sd", "> 0"),
    "sd = -1": (("{ mean = -5.5, sd = 1.5 }", "{ mean = -5.5, sd = -1 }"), "plhiv.logit_incidence_mean.sd", "> 0"),
    "median = nan": (
        ("{ median = 0.07, log_sd = 0.6 }", "{ median = nan, log_sd = 0.6 }"),
        "users.walk_sd.median",
        "finite",
    ),
    "median = 0": (
        ("{ median = 0.07, log_sd = 0.6 }", "{ median = 0, log_sd = 0.6 }"),
        "users.walk_sd.median",
        "> 0",
    ),
    "log_sd = -inf": (
        ("{ median = 0.05, log_sd = 0.6 }", "{ median = 0.05, log_sd = -inf }"),
        "users.slope_country_sd.log_sd",
        "finite",
    ),
    "logit mean -inf": (
        ("{ mean = -2.0, sd = 0.8 }", "{ mean = -inf, sd = 0.8 }"),
        "plhiv.logit_detection_mean.mean",
        "finite",
    ),
    "shock years fractional": (
        ("years = [2002, 2003]", "years = [2002.5, 2003]"),
        "detection_shocks[0].years",
        "whole",
    ),
    "shock years boolean": (("years = [2002, 2003]", "years = [true]"), "detection_shocks[0].years", "whole numbers"),
    "shock years empty": (("years = [2002, 2003]", "years = []"), "detection_shocks[0].years", "whole numbers"),
    "shock years text": (("years = [2002, 2003]", 'years = "2002"'), "detection_shocks[0].years", "whole numbers"),
    "shock years 1800": (("years = [2002, 2003]", "years = [1800]"), "detection_shocks[0].years", "must lie in"),
    "shock shift sd nan": (
        ("shift = { mean = -1.5, sd = 0.8 }", "shift = { mean = -1.5, sd = nan }"),
        "shift.sd",
        "finite",
    ),
    "shock country unknown": (
        ('country = "Tajikistan"\nyears', 'country = "Tadjikistan"\nyears'),
        "country",
        "unknown",
    ),
    "exclude year fractional": (("year = 2002\nreason", "year = 2002.5\nreason"), "exclude[0].year", "whole number"),
    "exclude year nan": (("year = 2002\nreason", "year = nan\nreason"), "exclude[0].year", "finite"),
    "exclude source a number": (
        ("year = 2002\nreason", "year = 2002\nsource = 5\nreason"),
        "exclude[0].source",
        "text",
    ),
    "exclude country a number": (('country = "Uzbekistan"', "country = 5"), "exclude[0].country", "text"),
    "population value nan": (("value = 4_800_000", "value = nan"), "population_assumptions[0].value", "finite"),
    "population value outside": (
        ("value = 4_800_000", "value = 9_800_000"),
        "population_assumptions[0].value",
        "must lie in",
    ),
    "population low -inf": (("low = 4_500_000", "low = -inf"), "population_assumptions[0].low", "finite"),
    "population year fractional": (
        ("year = 2002\nsource", "year = 2002.7\nsource"),
        "population_assumptions[0].year",
        "whole",
    ),
    "sampler misspelt": (("[sampler]", "[samplr]"), "samplr", "unknown key"),
    "evidence not a table": (("[evidence]", "evidence = 5\n[evidence_old]"), "evidence_old", "unknown key"),
    "unknown key in sampler": (("tune = 1000", "tune = 1000\nwarmup = 5"), "sampler.warmup", "unknown key"),
    "invalid TOML": (("tune = 1000", "tune = "), None, "not valid TOML"),
    "unterminated string": (("tune = 1000", 'tune = "1000'), None, "not valid TOML"),
    "duplicate key": (("tune = 1000", "tune = 1000\ntune = 700"), None, "not valid TOML"),
    "integer of 5,000 digits": (("tune = 1000", "tune = " + "9" * 5000), None, "not valid TOML"),
    "nested 10,000 deep": (("tune = 1000", "tune = " + "[" * 10_000 + "]" * 10_000), None, "not valid TOML"),
}


@pytest.mark.parametrize("case", list(PRIOR_CASES))
def test_malformed_priors_are_exit_2_before_the_fit(case, cli, tmp_path):
    (old, new), key, words = PRIOR_CASES[case]
    assert old in PRIORS, f"the embedded priors changed: {old!r} no longer in them"
    path = tmp_path / "priors.toml"
    path.write_text(PRIORS.replace(old, new, 1), encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = cli("estimate", "--priors", path, "--out", out)
    lines = assert_clean(code, stdout, err, 2, words)
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), lines
    if key:
        assert "key '" in lines[0] and key in lines[0], lines
    assert not out.exists()


PRIOR_FILES = {
    "empty": b"",
    "NUL bytes": b"[sampler]\x00\ndraws = 2000\n",
    "UTF-16": PRIORS.encode("utf-16"),
    "UTF-16 without BOM": PRIORS.encode("utf-16-le"),
    "Latin-1": (PRIORS + "# Engväll\n").encode("latin-1"),
    "binary": bytes(range(256)),
}


@pytest.mark.parametrize("case", list(PRIOR_FILES))
def test_unreadable_priors_file_is_exit_2(case, cli, tmp_path):
    path = tmp_path / "priors.toml"
    path.write_bytes(PRIOR_FILES[case])
    out = tmp_path / "out"
    lines = assert_clean(*cli("estimate", "--priors", path, "--out", out), 2, str(path))
    assert len(lines) == 1
    assert not out.exists()


def test_priors_that_are_a_folder_or_missing(cli, tmp_path):
    out = tmp_path / "out"
    assert_clean(*cli("estimate", "--priors", tmp_path, "--out", out), 2, "is a directory")
    assert_clean(*cli("estimate", "--priors", tmp_path / "none.toml", "--out", out), 2, "file not found")
    assert not out.exists()


@settings(max_examples=200, deadline=None, database=None)
@given(
    key=st.sampled_from(["draws", "tune", "chains", "target_accept"]),
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**25), max_value=10**25),
        st.booleans(),
        st.text(max_size=5),
    ),
)
def test_any_sampler_number_is_read_finite_and_in_range_or_refused(key, value):
    """The TOML reader never lets NaN, inf, a fraction (for a count) or an out-of-range value through."""
    from forecast.core.toml_reader import Reader

    r = Reader(Path("p.toml"), {key: value}, "sampler.")
    ranges = {"draws": (100, 100_000), "tune": (100, 100_000), "chains": (1, 16), "target_accept": (0.5, 0.999)}
    lo, hi = ranges[key]
    try:
        got = r.number(key, lo=lo, hi=hi, integer=key != "target_accept")
    except ConfigError as exc:
        assert f"sampler.{key}" in str(exc)
        return
    assert lo <= got <= hi and got == got
    assert key == "target_accept" or got.is_integer()


# ---------------------------------------------------------------------------------------------
# TOML: scenarios (`forecast scenarios --scenarios FILE`, and the user's models/scenarios/*.toml)

SCENARIO = """[scenarios.mine]
label = "My scenario"
years = 2
drivers = "a user's own assumptions"
[scenarios.mine.indicators.drug_crimes]
growth_pct = [10, 12]
basis = "ministry plan"
"""
GROWTH = "scenarios.mine.indicators.drug_crimes.growth_pct"

SCENARIO_CASES = {
    "growth_pct [nan, 5]": (("[10, 12]", "[nan, 5]"), GROWTH, "finite"),
    "growth_pct [5, nan]": (("[10, 12]", "[5, nan]"), GROWTH, "finite"),
    "growth_pct [-inf, 5]": (("[10, 12]", "[-inf, 5]"), GROWTH, "finite"),
    "growth_pct [5, inf]": (("[10, 12]", "[5, inf]"), GROWTH, "finite"),
    "growth_pct [1e400, 1e401]": (("[10, 12]", "[1e400, 1e401]"), GROWTH, "finite"),
    "growth_pct huge integers": (("[10, 12]", "[1, " + "9" * 400 + "]"), GROWTH, "finite"),
    "growth_pct text cell": (("[10, 12]", '["5", 6]'), GROWTH, "[low, high]"),
    "growth_pct one number": (("[10, 12]", "[5]"), GROWTH, "[low, high]"),
    "growth_pct three numbers": (("[10, 12]", "[1, 2, 3]"), GROWTH, "[low, high]"),
    "growth_pct booleans": (("[10, 12]", "[true, 5]"), GROWTH, "[low, high]"),
    "growth_pct a number": (("[10, 12]", "5"), GROWTH, "[low, high]"),
    "growth_pct low above high": (("[10, 12]", "[12, 10]"), GROWTH, "greater than high"),
    "growth_pct -100": (("[10, 12]", "[-100, 5]"), GROWTH, "plausible"),
    "growth_pct 2000": (("[10, 12]", "[5, 2000]"), GROWTH, "plausible"),
    "indicators = 5": (
        (
            '[scenarios.mine.indicators.drug_crimes]\ngrowth_pct = [10, 12]\nbasis = "ministry plan"\n',
            "indicators = 5\n",
        ),
        "scenarios.mine.indicators",
        "table",
    ),
    "indicators = text": (
        (
            '[scenarios.mine.indicators.drug_crimes]\ngrowth_pct = [10, 12]\nbasis = "ministry plan"\n',
            'indicators = "all"\n',
        ),
        "scenarios.mine.indicators",
        "table",
    ),
    "indicators = list": (
        (
            '[scenarios.mine.indicators.drug_crimes]\ngrowth_pct = [10, 12]\nbasis = "ministry plan"\n',
            "indicators = [1]\n",
        ),
        "scenarios.mine.indicators",
        "table",
    ),
    "an indicator = 5": (
        (
            '[scenarios.mine.indicators.drug_crimes]\ngrowth_pct = [10, 12]\nbasis = "ministry plan"\n',
            "[scenarios.mine.indicators]\ndrug_crimes = 5\n",
        ),
        "indicators.drug_crimes",
        "table",
    ),
    "unknown indicator": (("drug_crimes]", "drug_crime]"), "indicators.drug_crime", "unknown indicator"),
    "follow unknown": (("growth_pct = [10, 12]", 'follow = "trend"'), "follow", "must be"),
    "growth and follow": (
        ("growth_pct = [10, 12]", 'growth_pct = [10, 12]\nfollow = "model"'),
        "growth_pct",
        "exactly one",
    ),
    "neither growth nor follow": (("growth_pct = [10, 12]\n", ""), "growth_pct", "exactly one"),
    "years fractional": (("years = 2", "years = 2.5"), "scenarios.mine.years", "whole number"),
    "years nan": (("years = 2", "years = nan"), "scenarios.mine.years", "finite"),
    "years inf": (("years = 2", "years = inf"), "scenarios.mine.years", "finite"),
    "years 0": (("years = 2", "years = 0"), "scenarios.mine.years", "must lie in"),
    "years 6": (("years = 2", "years = 6"), "scenarios.mine.years", "must lie in"),
    "years text": (("years = 2", 'years = "2"'), "scenarios.mine.years", "number"),
    "years missing": (("years = 2\n", ""), "scenarios.mine.years", "missing"),
    "label a number": (('label = "My scenario"', "label = 5"), "scenarios.mine.label", "text"),
    "label missing": (('label = "My scenario"\n', ""), "scenarios.mine.label", "missing"),
    "drivers missing": (('drivers = "a user\'s own assumptions"\n', ""), "scenarios.mine.drivers", "missing"),
    "basis missing": (('basis = "ministry plan"\n', ""), "basis", "missing"),
    "unknown key": (("years = 2", "years = 2\ncolour = 'red'"), "scenarios.mine.colour", "unknown key"),
    "a name with a dash": (("scenarios.mine", "scenarios.my-sc"), "scenarios.my-sc", "letters, digits"),
    "scenarios = 5": ((SCENARIO, "scenarios = 5\n"), "scenarios", "table"),
    "no scenarios table": ((SCENARIO, "title = 'x'\n"), "title", "unknown key"),
    "invalid TOML": (("years = 2", "years = "), None, "not valid TOML"),
    "a NUL byte": (("years = 2", "years = 2\x00"), None, ""),
}


@pytest.mark.parametrize("case", list(SCENARIO_CASES))
def test_malformed_scenario_file_is_exit_2_naming_the_key(case, cli, tmp_path):
    (old, new), key, words = SCENARIO_CASES[case]
    assert old in SCENARIO
    path = tmp_path / "mine.toml"
    path.write_text(SCENARIO.replace(old, new, 1), encoding="utf-8")
    out = tmp_path / "out"
    lines = assert_clean(*cli("scenarios", "--scenarios", path, "--out", out), 2, words)
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), lines
    if key:
        assert key in lines[0], lines
    assert not out.exists()


INDICATORS_TABLE = '[scenarios.mine.indicators.drug_crimes]\ngrowth_pct = [10, 12]\nbasis = "ministry plan"\n'


@pytest.mark.parametrize(
    "old,new", [(INDICATORS_TABLE, "indicators = 5\n"), ("growth_pct = [10, 12]", "growth_pct = [nan, 5]")]
)
def test_a_broken_user_scenario_in_models_scenarios_is_exit_2(old, new, cli, tmp_path, monkeypatch):
    """User scenarios are read from ./models/scenarios/*.toml: each is validated like the main file."""
    folder = tmp_path / "models" / "scenarios"
    folder.mkdir(parents=True)
    assert old in SCENARIO
    bad = SCENARIO.replace(old, new)
    (folder / "mine.toml").write_text(bad, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    lines = assert_clean(*cli("scenarios", "--out", out), 2, "scenarios.mine.")
    assert "mine.toml" in lines[0]
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# command-line options

OPTION_CASES = {
    "--seed -1": (["scenarios", "--seed", "-1"], "--seed"),
    "--seed 2**32": (["scenarios", "--seed", str(2**32)], "--seed"),
    "--seed text": (["scenarios", "--seed", "abc"], "--seed"),
    "--seed fractional": (["estimate", "--seed", "1.5"], "--seed"),
    "--seed huge": (["run", "--seed", "9" * 40], "--seed"),
    "--horizon 0": (["scenarios", "--horizon", "0"], "--horizon"),
    "--horizon 6": (["run", "--horizon", "6"], "--horizon"),
    "--horizon -1": (["scenarios", "--horizon", "-1"], "--horizon"),
    "--horizon text": (["scenarios", "--horizon", "five"], "--horizon"),
    "--country unknown": (["scenarios", "--country", "Atlantis"], "--country"),
    "--target unknown": (["estimate", "--target", "dealers"], "--target"),
    "--as-of 1800": (["calibrate", "x.csv", "--as-of", "1800"], "--as-of"),
    "calibrate without files": (["calibrate"], "FILES"),
    "unknown option": (["scenarios", "--colour", "red"], "--colour"),
    "unknown command": (["forcast"], "forcast"),
    "--seed without a value": (["scenarios", "--seed"], "--seed"),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_bad_option_is_a_usage_error(case, cli, tmp_path, monkeypatch):
    args, names = OPTION_CASES[case]
    monkeypatch.chdir(tmp_path)  # the default --out (reports/) would be here
    before = snapshot(tmp_path)
    assert_clean(*cli(*args), 2, names)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["scenarios", "backtest", "estimate", "run"])
def test_out_that_is_a_file_is_exit_2(command, cli, tmp_path):
    afile = tmp_path / "results.txt"
    afile.write_text("mine")
    assert_clean(*cli(command, "--out", afile), 2, "--out", str(afile))
    assert afile.read_text() == "mine"


def test_out_inside_a_file_is_exit_2(cli, tmp_path):
    afile = tmp_path / "results.txt"
    afile.write_text("mine")
    assert_clean(*cli("scenarios", "--out", afile / "sub"), 2, "--out", "is a file")


def test_report_out_that_is_a_file_is_exit_2(cli, out, tmp_path):
    afile = tmp_path / "x.html"
    afile.write_text("mine")
    assert_clean(*cli("report", "--from", out, "--out", afile), 2, "--out")


@pytest.mark.parametrize("command", ["scenarios", "backtest", "data show", "history", "run", "estimate"])
def test_data_that_is_a_file_or_missing_is_exit_2(command, cli, tmp_path):
    afile = tmp_path / "observations.csv"
    afile.write_text(obs())
    out = tmp_path / "out"
    assert_clean(
        *cli(
            *command.split(),
            "--data",
            afile,
            *(["--out", out] if "data" not in command and command != "history" else []),
        ),
        2,
        "--data",
    )
    assert_clean(*cli(*command.split(), "--data", tmp_path / "nowhere"), 2, "--data")
    assert not out.exists()


def test_data_folder_without_tables_is_exit_2(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    assert_clean(*cli("scenarios", "--data", empty, "--out", out), 2, "observations.csv", "file not found")
    assert not out.exists()


def test_unknown_vintage_scenario_and_country(cli, tmp_path):
    out = tmp_path / "out"
    assert_clean(*cli("scenarios", "--vintage", "v999", "--out", out), 2, "unknown vintage")
    assert_clean(*cli("scenarios", "--scenario", "utopia", "--out", out), 2, "utopia")
    assert_clean(*cli("history", "--vintage", "v999"), 2, "unknown vintage")
    assert not out.exists()


def test_unwritable_out_is_exit_2_naming_it(cli, tmp_path, monkeypatch):
    """Read-only folders (simulated: the tests may run as root, whom chmod does not stop)."""
    ro = tmp_path / "readonly"
    ro.mkdir()
    deny_writes(monkeypatch, ro)
    for args in (("scenarios", "--out", ro), ("scenarios", "--out", ro / "new"), ("estimate", "--out", ro)):
        assert_clean(*cli(*args), 2, "--out", "permission denied")
    assert list(ro.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_folder_by_chmod(cli, tmp_path):
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert_clean(*cli("scenarios", "--out", ro), 2, "permission denied")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_read_only_data_folder_is_exit_2_for_calibrate(cli, store, tmp_path, monkeypatch):
    new = tmp_path / "new.csv"
    new.write_text(obs(year="2004", value="7000"))
    deny_writes(monkeypatch, store)
    before = snapshot(store)
    assert_clean(
        *cli("calibrate", new, "--data", store, "--out", tmp_path / "out", "--no-refit"), 2, "permission denied"
    )
    assert snapshot(store) == before and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# environment: full disk, a busy --out, the locks, `report --from` an empty folder


def _full_disk(monkeypatch, after: int = 0):
    """Every write after the first ``after`` fails as on a full disk."""
    real = outputs._write_temp
    calls = {"n": 0}

    def write(path, data):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(outputs, "_write_temp", write)


@pytest.mark.parametrize("after", [0, 1, 3])
def test_full_disk_is_exit_1_in_one_line_and_nothing_half_written(after, cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "forecasts.csv").write_text("the previous run's\n")
    before = snapshot(out)
    _full_disk(monkeypatch, after)
    code, stdout, err = cli("scenarios", "--out", out)
    lines = assert_clean(code, stdout, err, 1, "No space left on device")
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}: cannot write the outputs"), lines
    assert snapshot(out) == before


@pytest.mark.slow
def test_full_disk_in_a_new_out_leaves_no_folder(cli, tmp_path, monkeypatch):
    out = tmp_path / "new" / "deeper" / "out"
    _full_disk(monkeypatch, 1)
    assert_clean(*cli("backtest", "--out", out), 1, "No space left on device")
    assert not (tmp_path / "new").exists()


def test_full_disk_during_a_calibration_leaves_the_store_as_it_was(cli, store, tmp_path, monkeypatch):
    new = tmp_path / "2005.csv"
    shutil.copy(DATA / "later" / "2005.csv", new)
    before = {p.relative_to(store) for p in store.rglob("*")}
    tables = snapshot(*(store / name for name in ("observations.csv", "multipliers.csv", "conflicts.csv")))
    _full_disk(monkeypatch, 2)
    code, out, err = cli("calibrate", new, "--data", store, "--out", tmp_path / "out", "--no-refit", "--as-of", "2005")
    lines = assert_clean(code, out, err, 1, "No space left on device")
    assert len(lines) == 1
    from forecast.data.vintages import Store

    assert [v.id for v in Store(store).vintages()] == ["base"] and not Store(store).orphans()
    # only the (empty) vintages folder and its lock file are new: no table, index or vintage
    assert {p.relative_to(store) for p in store.rglob("*")} - before <= {Path("vintages"), Path("vintages/.lock")}
    assert snapshot(*(store / name for name in ("observations.csv", "multipliers.csv", "conflicts.csv"))) == tables
    assert not (tmp_path / "out").exists()


def test_an_out_being_written_by_another_run_is_exit_2(cli, tmp_path):
    from filelock import FileLock

    out = tmp_path / "out"
    out.mkdir()
    (out / "forecasts.csv").write_text("the other run's\n")
    with FileLock(str(out / outputs.LOCK_FILE)):
        before = snapshot(out)
        for args in (("scenarios", "--out", out), ("backtest", "--out", out), ("run", "--out", out)):
            assert_clean(*cli(*args), 2, f"{out}: is being written by another run")
        assert snapshot(out) == before


def test_output_folder_moves_everything_or_nothing(tmp_path):
    out = tmp_path / "out"
    with outputs.output_folder(out) as tmp:
        outputs.write_csv(pd.DataFrame({"a": [1]}), tmp / "a.csv")
        (tmp / "charts").mkdir()
        outputs.atomic_write_bytes(tmp / "charts" / "c.png", b"png")
        assert not (out / "a.csv").exists()
    assert (out / "a.csv").exists() and (out / "charts" / "c.png").read_bytes() == b"png"
    assert [p.name for p in out.iterdir() if p.name.startswith(".tmp-")] == []
    before = snapshot(out)
    with pytest.raises(RuntimeError), outputs.output_folder(out) as tmp:
        outputs.write_csv(pd.DataFrame({"a": [2]}), tmp / "a.csv")
        raise RuntimeError("the fit failed")
    assert snapshot(out) == before
    with pytest.raises(RuntimeError), outputs.output_folder(tmp_path / "fresh") as tmp:
        raise RuntimeError("the fit failed")
    assert not (tmp_path / "fresh").exists()


def test_atomic_write_files_writes_all_or_none(tmp_path, monkeypatch):
    a, b = tmp_path / "report.html", tmp_path / "report.pdf"
    a.write_text("old html")
    _full_disk(monkeypatch, 1)
    with pytest.raises(OSError):
        outputs.atomic_write_files({a: b"new html", b: b"new pdf"})
    assert a.read_text() == "old html" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_report_writes_html_and_pdf_both_or_neither(tmp_path, monkeypatch):
    import forecast.report as report

    monkeypatch.setattr(report, "render_html", lambda *a, **k: "<html></html>")
    monkeypatch.setattr(report, "build_context", lambda *a, **k: {})

    def no_pdf(html, base):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "html_to_pdf", no_pdf)
    with pytest.raises(OSError):
        report.render_report(tmp_path, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_report_from_an_empty_folder_is_exit_2(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean(*cli("report", "--from", empty), 2, f"no results in {empty}", "forecast run")
    assert list(empty.iterdir()) == []
    assert_clean(*cli("report", "--from", tmp_path / "nowhere"), 2, "--from")
    afile = tmp_path / "f"
    afile.write_text("x")
    assert_clean(*cli("report", "--from", afile), 2, "--from")


def test_run_validates_every_input_before_creating_out(cli, tmp_path, monkeypatch, store):
    """Broken priors, scenarios or data: exit 2, and --out never created (no fit runs)."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    models = tmp_path / "models"
    models.mkdir()
    (models / "prevalence.toml").write_text(PRIORS.replace("sd = 1.0 }", "sd = nan }", 1), encoding="utf-8")
    assert_clean(*cli("run", "--out", out), 2, "prevalence.toml", "finite")
    (models / "prevalence.toml").unlink()
    (models / "scenarios.toml").write_text(SCENARIO.replace("[10, 12]", "[nan, 5]"), encoding="utf-8")
    assert_clean(*cli("run", "--out", out), 2, "scenarios.toml", "finite")
    (models / "scenarios.toml").unlink()
    (store / "observations.csv").write_text(obs(value="1e400"), encoding="utf-8")
    assert_clean(*cli("run", "--data", store, "--out", out), 2, "infinity")
    assert not out.exists()


def test_the_calibration_lock_is_a_filelock(store):
    """Store.lock() excludes a second writer through filelock (which works where fcntl is missing)."""
    from filelock import FileLock, Timeout

    from forecast.data.vintages import LOCK_FILE, Store

    s = Store(store)
    held, release = threading.Event(), threading.Event()

    def writer():
        with s.lock():
            held.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(10)
        with pytest.raises(Timeout):
            FileLock(str(s.dir / LOCK_FILE)).acquire(timeout=0)
    finally:
        release.set()
        t.join()
    again = FileLock(str(s.dir / LOCK_FILE))
    again.acquire(timeout=0)  # free again once the writer is done
    again.release()


def test_a_dry_run_writes_nothing_even_with_an_unwritable_out(cli, store, tmp_path, monkeypatch):
    new = tmp_path / "new.csv"
    new.write_text(obs(year="2004", value="7000"))
    ro = tmp_path / "ro"
    ro.mkdir()
    deny_writes(monkeypatch, ro)
    before = snapshot(store, ro)
    code, out, err = cli("calibrate", new, "--data", store, "--out", ro, "--dry-run")
    assert code == 0 and ("Dry run: nothing written" in out or "Nothing new" in out), (out, err)
    assert snapshot(store, ro) == before


@pytest.mark.parametrize(
    "content,words",
    [
        (obs(value="1e400"), "infinity"),
        (mult(value="1e-300"), "out of range"),
        (obs(note=BIG), "131,072"),
        (obs().encode("utf-16-le"), "UTF-16"),
    ],
)
def test_calibrate_refuses_before_writing(content, words, cli, store, tmp_path):
    path = tmp_path / "new.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out"
    before = snapshot(store, out)
    assert_clean(*cli("calibrate", path, "--data", store, "--out", out), 2, words)
    assert snapshot(store, out) == before


def test_data_init_into_an_existing_folder_is_exit_2(cli, tmp_path):
    (tmp_path / "d").mkdir()
    assert_clean(*cli("data", "init", tmp_path / "d"), 2, "already exists")


# ---------------------------------------------------------------------------------------------
# priors x data: an [[exclude]] rule that matches nothing


def test_an_exclude_rule_that_matches_nothing_is_warned_about(tmp_path):
    from forecast.data.dataset import load_dataset
    from forecast.pipeline import warn_unmatched_exclusions
    from forecast.prevalence.config import load_config

    path = tmp_path / "priors.toml"
    rule = '[[exclude]]\ncountry = "Kazakhstan"\nindicator = "registered_users"\nyear = 1961\nreason = "typo"\n'
    path.write_text(PRIORS.replace("\n[users]", f"\n{rule}\n[users]", 1), encoding="utf-8")
    ds = load_dataset(DATA, vintage="base")
    with pytest.warns(InputWarning, match=r"key 'exclude\[1\]': matches no figure"):
        warn_unmatched_exclusions(load_config(path), ds)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        warn_unmatched_exclusions(load_config(), ds)  # the embedded rule matches its figure


# ---------------------------------------------------------------------------------------------
# output safety: CSV formula injection (OWASP)

ATTACKS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1", "\r=1"]


def test_every_csv_writer_neutralises_formulas_but_never_numbers(tmp_path):
    df = pd.DataFrame(
        {
            "source": [*ATTACKS, "-0.5", "'=already quoted", "plain"],
            "value": [-0.5, 1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "count": list(range(-4, 5)),
        }
    )
    path = outputs.write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(path, keep_default_na=False)
    quoted = [f"'{a}".replace("\r", "\n") for a in ATTACKS]  # a lone CR would break the row: a line feed
    assert list(back.source) == quoted + ["-0.5", "'=already quoted", "plain"]
    assert back.value.tolist() == df.value.tolist() and back["count"].tolist() == df["count"].tolist()
    assert path.read_text().splitlines()[1].endswith(",-0.5,-4")
    assert outputs.neutralise_formulas(outputs.neutralise_formulas(df)).equals(outputs.neutralise_formulas(df))


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=20))
def test_neutralising_is_idempotent_and_leaves_no_formula(text):
    once = outputs.neutralise(text)
    assert outputs.neutralise(once) == once
    assert not once.startswith(outputs.FORMULA_START) or outputs.PLAIN_NUMBER.match(once)
    assert "\r" not in once


def test_a_vintage_table_round_trips_without_a_second_quote(tmp_path):
    from forecast.data.contract import load_observations
    from forecast.data.vintages import table_bytes

    first = tmp_path / "observations.csv"
    first.write_text(obs(source=ATTACKS[0], note="-5 kg less than reported"), encoding="utf-8")
    written = table_bytes(load_observations(first))
    assert "'=cmd|" in written.decode() and "'-5 kg" in written.decode()
    again = tmp_path / "again.csv"
    again.write_bytes(written)
    assert table_bytes(load_observations(again)) == written  # stable: no second quote


def test_calibrated_vintage_tables_and_outputs_carry_no_formula(cli, store, tmp_path):
    new = tmp_path / "new.csv"
    new.write_text(obs(year="2004", value="7000", source=ATTACKS[0]), encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = cli("calibrate", new, "--data", store, "--out", out, "--no-refit", "--as-of", "2004")
    assert code == 0, err
    table = (store / "vintages" / "v1" / "observations.csv").read_text(encoding="utf-8")
    assert "'=cmd|" in table and ",=cmd" not in table
    from forecast.data.dataset import load_dataset
    from forecast.data.vintages import table_bytes

    ds = load_dataset(store)
    assert table_bytes(ds.observations) == (store / "vintages" / "v1" / "observations.csv").read_bytes()
    code, _, err = cli("scenarios", "--data", store, "--out", out, "--horizon", "1")
    assert code == 0, err
    history = (out / "history.csv").read_text(encoding="utf-8")
    assert "'=cmd|" in history and ",=cmd" not in history


# ---------------------------------------------------------------------------------------------
# after the fit: a full disk ends in one line and no partial outputs (slow: a short Bayesian fit)


@pytest.mark.slow
def test_a_full_disk_after_the_fit_is_exit_1_and_leaves_out_as_it_was(tmp_path):
    """The issue's segfault: HDF5 writing posterior.nc on a full disk. Run in a fresh interpreter,
    so that a crash at exit (exit 139) would show."""
    import subprocess
    import sys

    priors = tmp_path / "priors.toml"
    quick = PRIORS.replace(DRAWS, "draws = 200").replace("tune = 1000", "tune = 200")
    priors.write_text(quick.replace("chains = 4", "chains = 2"), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "estimates.csv").write_text("the previous run's\n")
    before = snapshot(out)
    code = (
        "import errno; from forecast.core import outputs; real = outputs._write_temp\n"
        "def write(path, data):\n"
        "    if path.name == 'posterior.nc':\n"
        "        raise OSError(errno.ENOSPC, 'No space left on device', str(path))\n"
        "    return real(path, data)\n"
        "outputs._write_temp = write\n"
        "from forecast.cli import main\n"
        f"main(['estimate', '--priors', {str(priors)!r}, '--out', {str(out)!r}], prog_name='forecast')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error")]
    assert errors == [f"error: {out}: cannot write the outputs (No space left on device); the folder is left as it was"]
    assert snapshot(out) == before


@pytest.mark.slow
def test_report_from_real_results_writes_both_files_or_neither(cli, tmp_path, monkeypatch):
    import forecast.report as report

    results = tmp_path / "results"
    shutil.copytree(Path(__file__).parent / "fixtures" / "results", results)
    out = tmp_path / "out"

    def no_pdf(html, base):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "html_to_pdf", no_pdf)
    before = snapshot(results)
    lines = assert_clean(*cli("report", "--from", results, "--out", out, "--data", DATA), 1, "No space left")
    assert len(lines) == 1
    assert snapshot(results) == before and not out.exists()
