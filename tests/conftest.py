from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from forecast.cli import main

# Every test that fits the synthesis samples it: no posterior is reused from the user's cache
# (forecast/prevalence/cache.py); tests/test_cache.py switches the cache on in a temporary folder.
os.environ["FORECAST_CACHE"] = "off"

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
#: copy a data folder's base vintage only (the seed documents), not its replayed calibrations
BASE_ONLY = shutil.ignore_patterns("vintages", "later")
SEEDS = ROOT.parent / "shared" / "seeds"

OBS_HEADER = "country,indicator,year,value,low,high,kind,source,ref,note"
GOOD_ROW = "Tajikistan,registered_users,2001,6243,,,official,Engvall 2005,000_3f802e5698f8ab93.txt:1713,"


@pytest.fixture
def cli():
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    runner = CliRunner()

    def run(*args):
        r = runner.invoke(main, [str(a) for a in args])
        return r.exit_code, r.stdout, r.stderr

    return run


@pytest.fixture
def write_csv(tmp_path):
    def write(text: str | bytes, name: str = "obs.csv") -> Path:
        p = tmp_path / name
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
        return p

    return write


# ---------------------------------------------------------------------------------------------
# a writable copy of the data store and a results folder, for calibration and vintage tests


def tree_hash(folder: Path) -> str:
    """Every file and folder under ``folder`` (names and bytes): equal hashes, identical trees."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode() + (b"/" if p.is_dir() else b""))
        if p.is_file():
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def prime(root: Path, out: Path, forecasts: pd.DataFrame) -> Path:
    """A results folder as `forecast run` leaves it on vintage base of ``root``."""
    out.mkdir(parents=True, exist_ok=True)
    forecasts.to_csv(out / "forecasts.csv", index=False)
    (out / "run.json").write_text(json.dumps({"data_dir": str(root), "vintage": "base"}))
    return out


@pytest.fixture(scope="session")
def base_forecast() -> pd.DataFrame:
    """The scenario forecast of the embedded data, computed once (stands in for a stored one)."""
    from forecast.data.dataset import load_dataset
    from forecast.scenarios.definitions import load_scenarios
    from forecast.scenarios.forecasts import scenario_forecasts

    return scenario_forecasts(load_dataset(DATA, vintage="base"), 5, load_scenarios())[0]


@pytest.fixture
def store(tmp_path) -> Path:
    """A copy of the embedded data folder (the real one is never written by tests)."""
    root = tmp_path / "data"
    shutil.copytree(DATA, root, ignore=BASE_ONLY)
    return root


@pytest.fixture
def out(tmp_path, store, base_forecast) -> Path:
    return prime(store, tmp_path / "out", base_forecast)


@pytest.fixture(scope="session")
def quick_priors(tmp_path_factory) -> Path:
    """The embedded priors with a short sampler (2 x 300 draws): for tests of plumbing (byte
    identity, files written), where the estimates' precision does not matter."""
    from forecast.prevalence.config import DEFAULT_PRIORS

    text = DEFAULT_PRIORS.read_text(encoding="utf-8")
    quick = re.sub(r"(?m)^draws = \d+.*$", "draws = 300", text)
    quick = re.sub(r"(?m)^tune = \d+.*$", "tune = 300", quick)
    quick = re.sub(r"(?m)^chains = \d+.*$", "chains = 2", quick)
    assert quick.count("= 300") == 2, "the [sampler] keys of models/prevalence.toml moved: update this fixture"
    path = tmp_path_factory.mktemp("quick") / "prevalence.toml"
    path.write_text(quick, encoding="utf-8")
    return path


def with_pwid_link(text: str) -> str:
    """A priors text with the PLHIV <- PWID link switched on the way models/prevalence.toml tells a
    user to (its "#> " removed)."""
    assert "\n#> [[plhiv.pwid_link]]" in text, "the commented link tables moved: update the test"
    return re.sub(r"(?m)^#> ?", "", text)


@pytest.fixture(scope="session")
def linked(tmp_path_factory):
    """The synthesis' inputs on the data to 2025 with the PLHIV <- PWID link on (off by default)."""
    from forecast.data.dataset import load_dataset
    from forecast.prevalence.config import DEFAULT_PRIORS, load_config
    from forecast.prevalence.inputs import prepare

    path = tmp_path_factory.mktemp("link") / "prevalence.toml"
    path.write_text(with_pwid_link(DEFAULT_PRIORS.read_text(encoding="utf-8")), encoding="utf-8")
    return prepare(load_dataset(), load_config(path))
