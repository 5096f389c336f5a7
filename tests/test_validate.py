"""Every validation rule: a bad file fails with one clear line naming file, row, column; exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import GOOD_ROW, OBS_HEADER

MULT_HEADER = "id,country,target,year,value,low,high,method,source,ref,note"
GOOD_MULT = "m1,Tajikistan,users,2001,12,,,field_sampling,Engvall 2005,000_3f802e5698f8ab93.txt:1771,"


def obs(*rows: str, header: str = OBS_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


BAD_FILES = {
    # name: (file content, expected row, expected column or None, words the message must contain)
    "unknown_country": (
        obs("Tajikstan,registered_users,2001,6243,,,official,s,r,"),
        2,
        "country",
        ["unknown country 'Tajikstan'", "Tajikistan", "Uzbekistan"],
    ),
    "unknown_indicator": (
        obs("Tajikistan,registerd_users,2001,6243,,,official,s,r,"),
        2,
        "indicator",
        ["unknown indicator 'registerd_users'", "registered_users"],
    ),
    "unknown_kind": (
        obs("Tajikistan,registered_users,2001,6243,,,oficial,s,r,"),
        2,
        "kind",
        ["unknown kind 'oficial'", "official", "estimate"],
    ),
    "negative_value": (obs("Tajikistan,registered_users,2001,-5,,,official,s,r,"), 2, "value", ["negative"]),
    "negative_low": (obs("Tajikistan,estimated_users,2001,,-1,5,estimate,s,r,"), 2, "low", ["negative"]),
    "decimal_comma": (
        obs('Kazakhstan,registered_users_per_100k,2002,"70,6",,,official,s,r,'),
        2,
        "value",
        ["'70,6'", "decimal comma", "70.6"],
    ),
    "thousands_dots": (
        obs("Kazakhstan,population,2002,14.869.021,,,official,s,r,"),
        2,
        "value",
        ["thousands separator", "14869021"],
    ),
    "thousands_space": (
        obs("Tajikistan,estimated_users,2003,100 000,,,estimate,s,r,"),
        2,
        "value",
        ["thousands separator", "100000"],
    ),
    "thousands_comma": (
        obs('Tajikistan,registered_users,2001,"6,243",,,official,s,r,'),
        2,
        "value",
        ["'6,243'", "6243"],
    ),
    "percent_sign": (obs("Tajikistan,hiv_idu_share_pct,2001,91%,,,official,s,r,"), 2, "value", ["percent sign"]),
    "not_a_number": (
        obs("Tajikistan,registered_users,2001,many,,,official,s,r,"),
        2,
        "value",
        ["'many' is not a number"],
    ),
    "bad_year_text": (obs("Tajikistan,registered_users,early 2003,8813,,,official,s,r,"), 2, "year", ["not a year"]),
    "year_out_of_range": (
        obs("Tajikistan,registered_users,1066,8813,,,official,s,r,"),
        2,
        "year",
        ["year 1066 is outside"],
    ),
    "low_above_high": (
        obs("Kazakhstan,estimated_users,2002,,186000,165000,estimate,s,r,"),
        2,
        None,
        ["low is greater than high"],
    ),
    "value_outside_range": (
        obs("Kazakhstan,estimated_users,2002,200000,165000,186000,estimate,s,r,"),
        2,
        None,
        ["outside its own low-high range"],
    ),
    "no_figure": (obs("Kazakhstan,estimated_users,2002,,,,estimate,s,r,"), 2, None, ["no figure"]),
    "empty_source": (obs("Tajikistan,registered_users,2001,6243,,,official,,r,"), 2, "source", ["empty but required"]),
    "duplicate_key": (obs(GOOD_ROW, GOOD_ROW), 3, None, ["duplicate of row 2"]),
    "missing_column": (
        obs(
            "Tajikistan,registered_users,2001,6243,,,official,s,r",
            header="country,indicator,year,value,low,high,kind,source,ref",
        ),
        1,
        None,
        ["missing column(s) note"],
    ),
    "unknown_column": (obs(GOOD_ROW + ",x", header=OBS_HEADER + ",comment"), 1, None, ["unknown column(s) comment"]),
    "ragged_row": (obs(GOOD_ROW + ",extra"), 2, None, ["has 11 fields, the header has 10"]),
    "header_only": (obs(), None, None, ["no data rows"]),
    "empty_file": ("", None, None, ["file is empty"]),
    "unknown_target": (
        obs("m1,Tajikistan,drugs,2001,12,,,field_sampling,s,r,", header=MULT_HEADER),
        2,
        "target",
        ["unknown target 'drugs'", "plhiv", "users"],
    ),
    "zero_multiplier": (
        obs("m1,Tajikistan,users,2001,0,,,field_sampling,s,r,", header=MULT_HEADER),
        2,
        "value",
        ["must be > 0"],
    ),
    "duplicate_evidence_id": (obs(GOOD_MULT, GOOD_MULT, header=MULT_HEADER), 3, None, ["duplicate of row 2"]),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_one_clear_line_and_exit_2(name, cli, write_csv):
    content, row, column, words = BAD_FILES[name]
    path = write_csv(content)
    code, out, err = cli("data", "check", path)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"error: {path}")
    if row is not None:
        assert f"row {row}" in line
    if column is not None:
        assert f"column '{column}'" in line
    for w in words:
        assert w in line, (w, line)
    assert "Traceback" not in out + err


def test_wrong_encoding_names_the_line(cli, write_csv):
    path = write_csv((OBS_HEADER + "\n" + GOOD_ROW.replace("Engvall", "Engv\xe4ll") + "\n").encode("latin-1"))
    code, _, err = cli("data", "check", path)
    assert code == 2
    assert "row 2" in err and "not UTF-8" in err


def test_missing_file(cli, tmp_path):
    code, _, err = cli("data", "check", tmp_path / "nope.csv")
    assert code == 2 and "file not found" in err


def test_every_problem_is_reported_not_just_the_first(cli, write_csv):
    path = write_csv(
        obs(
            "Tajikstan,registered_users,2001,6243,,,official,s,r,",
            "Tajikistan,registered_users,2001,-1,,,official,s,r,",
        )
    )
    code, _, err = cli("data", "check", path)
    assert code == 2
    assert len(err.strip().splitlines()) == 2


def test_good_file_passes(cli, write_csv):
    code, out, _ = cli("data", "check", write_csv(obs(GOOD_ROW)))
    assert code == 0 and "OK" in out and "1 observations rows" in out


def test_values_are_parsed_as_numbers_not_misread(write_csv):
    from forecast.data.contract import load_observations

    df = load_observations(write_csv(obs("Kazakhstan,registered_users_per_100k,2002,70.6,,,official,s,r,")))
    assert df.value.iloc[0] == pytest.approx(70.6)
    assert df.year.iloc[0] == 2002


def test_console_script_exit_code_and_no_traceback(write_csv):
    """The installed entry point (not just the in-process runner) exits 2 with no traceback."""
    path = write_csv(obs("Tajikistan,registered_users,2001,-5,,,official,s,r,"))
    r = subprocess.run([sys.executable, "-m", "forecast", "data", "check", str(path)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "negative" in r.stderr
