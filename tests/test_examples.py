"""Every script in examples/ runs to the end (the README shows one of them)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script, tmp_path):
    r = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "wrote" in r.stdout.lower() or "report" in r.stdout.lower()
    assert "Traceback" not in r.stderr
