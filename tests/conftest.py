from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from forecast.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
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
