"""The report renders from a results folder alone: every section, escaped text, a paginated PDF, no refit."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from forecast.report import charts
from forecast.scenarios.definitions import load_scenarios
from tests.conftest import BASE_ONLY

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "results"
DATA = ROOT / "data"
EVIL = "<script>alert(1)</script>"
SECTIONS = ["summary", "prevalence", "forecasts", "evaluation", "methods", "appendix"]
SAMPLERS = ["pymc", "nutpie", "pytensor"]


def _inject(path: Path, column: str, row: int = 0) -> None:
    """Put a script tag into one text cell of a CSV copy (as a hostile or careless source field would)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[row, column] = EVIL
    df.to_csv(path, index=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One full render (HTML + PDF) in a fresh interpreter, from copies holding a hostile source field."""
    tmp = tmp_path_factory.mktemp("report")
    results, data, out = tmp / "results", tmp / "data", tmp / "out"
    shutil.copytree(FIXTURE, results)
    shutil.copytree(DATA, data, ignore=BASE_ONLY)
    est = pd.read_csv(results / "estimates.csv")
    _inject(results / "estimates.csv", "source", int(est.index[est.method.str.startswith("multiplier:")][0]))
    _inject(data / "observations.csv", "source")
    code = (
        "import json, sys; from pathlib import Path; from forecast.report import render_report; "
        f"paths = render_report(Path({str(results)!r}), Path({str(out)!r}), data_dir=Path({str(data)!r})); "
        f"print(json.dumps({{'paths': {{k: str(v) for k, v in paths.items()}}, "
        f"'samplers': [m for m in {SAMPLERS!r} if m in sys.modules]}}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    html = Path(info["paths"]["html"]).read_text(encoding="utf-8")
    return {"html": html, "pdf": Path(info["paths"]["pdf"]), "samplers": info["samplers"], "results": results}


def _pdftotext(pdf: Path, *args: str) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext not installed (Debian package poppler-utils)")
    return subprocess.run(["pdftotext", *args, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_html_has_every_section_and_a_figure_per_country_and_series(rendered):
    html = rendered["html"]
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    est = pd.read_csv(rendered["results"] / "estimates.csv")
    for country in est.loc[est.method == "synthesis", "country"].unique():
        slug = re.sub(r"[^a-z0-9]+", "-", country.lower())
        figure = re.search(rf'<figure id="prev-{slug}".*?</figure>', html, re.S)
        assert figure and "<svg" in figure.group(0), country
    fc = pd.read_csv(rendered["results"] / "forecasts.csv")
    fans = re.findall(r'<figure id="fan-[^"]+" class="fan-figure">.*?</figure>', html, re.S)
    n_obs = fc.groupby(["country", "indicator"]).n_obs.first()
    assert len(fans) == (n_obs >= 3).sum() and all("<svg" in f for f in fans)  # 1-2 points: no fan chart
    assert (n_obs < 3).any() and 'id="scenario-arithmetic"' in html and 'id="fan-kyrgyzstan-drug-crimes"' not in html
    assert 'id="sensitivity-chart"' in html and 'id="coverage-chart"' in html
    assert "No calibration yet" not in html and "MODEL DIAGNOSTICS FAILED" not in html


def test_html_is_self_contained(rendered):
    html = rendered["html"]
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(?!#)', html), "external resource or link"
    assert "http://" not in re.sub(r'xmlns(:\w+)?="http://[^"]+"', "", html)


def test_csv_text_is_escaped(rendered):
    html = rendered["html"]
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("&lt;script&gt;") >= 2  # one from the results folder, one from the data folder
    assert EVIL in _pdftotext(rendered["pdf"])  # shown as text, not swallowed


def test_pdf_has_contents_page_numbers_and_text(rendered):
    text = _pdftotext(rendered["pdf"], "-layout")
    pages = text.count("\f")
    assert pages >= 10
    assert "Contents" in text
    assert f"page 1 of {pages}" in text and f"page {pages} of {pages}" in text
    toc = re.findall(
        r"^\s*(\d) (Summary|Prevalence|Forecasts|Evaluation|Methods|Data appendix)\D*?(\d+)\s*$", text, re.M
    )
    assert [t[1] for t in toc] == ["Summary", "Prevalence", "Forecasts", "Evaluation", "Methods", "Data appendix"]
    numbers = [int(t[2]) for t in toc]
    assert numbers == sorted(numbers) and 1 < numbers[0] and numbers[-1] < pages
    for phrase in (
        "True users and people living with HIV",
        "Scenario outlook",
        "Fan charts",
        "Model diagnostics",
        "Recorded conflicts",
        "from forecasts.csv",
    ):
        assert phrase in text, phrase


def test_render_never_imports_the_samplers(rendered):
    assert rendered["samplers"] == []


def test_missing_optional_files_and_failed_diagnostics_are_said_plainly(tmp_path):
    from forecast.report import render_html

    for name in ("estimates.csv", "detection.csv", "evidence_used.csv"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    diag = pd.read_csv(FIXTURE / "diagnostics.csv")
    diag.loc[0, ["r_hat_max", "pass"]] = [1.08, False]
    diag.to_csv(tmp_path / "diagnostics.csv", index=False)
    html = render_html(tmp_path, DATA)
    assert "MODEL DIAGNOSTICS FAILED" in html and 'class="alert"' in html
    assert "No calibration yet" in html
    for file in ("forecasts.csv", "backtest_summary.csv", "prevalence_conflicts.csv", "evidence_left_out.csv"):
        assert f"({file} is not in the results folder)" in html, file
    assert 'id="prev-tajikistan"' in html


def test_fan_chart_svg_is_inline_small_and_ids_do_not_clash():
    fc = pd.read_csv(FIXTURE / "forecasts.csv")
    hist = pd.read_csv(FIXTURE / "history.csv")
    key = ("Central Asia", "seizures_opiates_kg")
    g = fc[(fc.country == key[0]) & (fc.indicator == key[1])]
    h = hist[(hist.country == key[0]) & (hist.indicator == key[1])]
    fig = charts.fan_chart(h, g, load_scenarios(), "Central Asia: opiate seizures", "kilograms")
    a, b = charts.to_svg(fig), charts.to_svg(fig)
    assert a.startswith("<svg") and "<?xml" not in a and len(a) < 80_000
    ids_a, ids_b = set(re.findall(r'id="([^"]+)"', a)), set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and not ids_a & ids_b
    labels = re.findall(r">(\d{4})</text>", a)
    assert labels and all(1990 <= int(y) <= 2020 for y in labels)  # years as integers
    assert "kilograms" in a and "baseline" in a


def test_data_appendix_shows_the_vintage_the_run_used(cli, tmp_path):
    """run.json names a calibrated vintage: the appendix lists that vintage's figures, not the base files'."""
    from forecast.report.context import build_context

    data, results = tmp_path / "data", tmp_path / "results"
    shutil.copytree(DATA, data, ignore=shutil.ignore_patterns("vintages"))
    new = tmp_path / "new.csv"
    header = "country,indicator,year,value,low,high,kind,source,ref,note"
    new.write_text(f"{header}\nKyrgyzstan,registered_users,2004,7777,,,official,Vintage test source,,\n")
    code, _, err = cli("calibrate", new, "--data", data, "--out", tmp_path / "cal", "--no-refit")
    assert code == 0, err
    shutil.copytree(FIXTURE, results)
    run = json.loads((results / "run.json").read_text())
    (results / "run.json").write_text(json.dumps({**run, "data_dir": str(data), "vintage": "v1"}))
    rows = build_context(results)["data"]["observations"].rows
    assert any("Vintage test source" in str(cell) for row in rows for cell in row)
    run["vintage"] = "base"
    (results / "run.json").write_text(json.dumps({**run, "data_dir": str(data)}))
    rows = build_context(results)["data"]["observations"].rows
    assert not any("Vintage test source" in str(cell) for row in rows for cell in row)
