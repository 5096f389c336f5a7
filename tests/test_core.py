"""The foundations: one number formatter, one band summary, where the embedded files are found."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from forecast.core import resources
from forecast.core.bands import BAND_COLUMNS, band_frame, band_summary
from forecast.core.formatting import band, count, figure, number


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (12_345, "12,300"),
        (0.4234, "0.423"),
        (70.6, "70.6"),
        (0, "0"),
        (-1520, "-1,520"),
        (None, "–"),
        (math.nan, "–"),
        (math.inf, "–"),
        ("x", "–"),
        (3_100_000, "3,100,000"),
    ],
)
def test_number_three_significant_figures(x, text):
    assert number(x) == text


@pytest.mark.parametrize(("x", "text"), [(6243, "6,243"), (12345.6, "12,346"), (70.6, "70.6"), (0.42, "0.42")])
def test_count_keeps_a_recorded_figure(x, text):
    assert count(x) == text


def test_figure_reads_as_the_source_states_it():
    assert figure(6243) == "6,243"
    assert figure(None, 45000, 55000) == "45,000–55,000"
    assert figure(math.nan, 100000, math.nan) == "≥ 100,000"
    assert figure(None, None, 3) == "≤ 3"
    assert figure(6243, 5000, 7000) == "6,243 (5,000–7,000)"
    assert figure(None) == "–"
    assert band(12_345, 40_000) == "12,300–40,000"


def test_band_summary_is_the_quantiles_and_mean_of_the_draws():
    rng = np.random.default_rng(3)
    x = rng.lognormal(size=(4000, 3))
    s = band_summary(x)
    assert list(s) == list(BAND_COLUMNS)
    np.testing.assert_allclose(s["median"], np.median(x, axis=0))
    np.testing.assert_allclose(s["hi_95"], np.quantile(x, 0.975, axis=0))
    assert (s["lo_95"] < s["lo_80"]).all() and (s["lo_80"] < s["median"]).all() and (s["hi_80"] < s["hi_95"]).all()
    f = band_frame(x, year=[2001, 2002, 2003])
    assert list(f.columns) == ["year", *BAND_COLUMNS] and len(f) == 3


def test_embedded_files_ship_inside_the_package():
    assert (resources.EMBEDDED_DATA_DIR / "observations.csv").is_file()
    assert (resources.EMBEDDED_MODELS_DIR / "prevalence.toml").is_file()
    assert (resources.EMBEDDED_MODELS_DIR / "scenarios.toml").is_file()


def test_a_users_own_data_and_models_in_the_current_folder_take_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resources.default_data_dir() == resources.EMBEDDED_DATA_DIR
    assert resources.models_file("prevalence.toml") == resources.EMBEDDED_MODELS_DIR / "prevalence.toml"
    (tmp_path / "data").mkdir()
    assert resources.default_data_dir() == resources.EMBEDDED_DATA_DIR  # no observations.csv: not a data folder
    shutil.copy(resources.EMBEDDED_DATA_DIR / "observations.csv", tmp_path / "data")
    assert resources.default_data_dir() == (tmp_path / "data").resolve()
    (tmp_path / "models").mkdir()
    shutil.copy(resources.EMBEDDED_MODELS_DIR / "scenarios.toml", tmp_path / "models")
    assert resources.models_file("scenarios.toml") == (tmp_path / "models" / "scenarios.toml").resolve()
    assert resources.models_file("prevalence.toml") == resources.EMBEDDED_MODELS_DIR / "prevalence.toml"
