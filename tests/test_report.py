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

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "results"
DATA = ROOT / "data"
EVIL = "<script>alert(1)</script>"
SECTIONS = [
    "summary",
    "groups",
    "prevalence",
    "forecasts",
    "evaluation",
    "methods",
    "glossary",
    "bibliography",
    "annexes",
]
COUNTRIES = ["Kazakhstan", "Kyrgyzstan", "Tajikistan", "Turkmenistan", "Uzbekistan", "Central Asia"]
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
    shutil.copytree(DATA, data, ignore=shutil.ignore_patterns("later"))  # with the vintage run.json names
    est = pd.read_csv(results / "estimates.csv")
    _inject(results / "estimates.csv", "source", int(est.index[est.method.str.startswith("multiplier:")][0]))
    _inject(_vintage_folder(data, results) / "observations.csv", "source")
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


def _vintage_folder(data: Path, results: Path) -> Path:
    """The folder of the data vintage a results folder's run.json names (the data folder for "base")."""
    vintage = json.loads((results / "run.json").read_text()).get("vintage") or "base"
    return data if vintage == "base" else data / "vintages" / vintage


def _pdftotext(pdf: Path, *args: str) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext not installed (Debian package poppler-utils)")
    return subprocess.run(["pdftotext", *args, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
def test_html_has_every_section_and_a_figure_per_target_and_indicator(rendered):
    html = rendered["html"]
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    for target in ("users", "plhiv"):  # small multiples: one chart per target, a panel per country
        figure = re.search(rf'<figure id="prev-{target}".*?</figure>', html, re.S)
        assert figure and "<svg" in figure.group(0), target
    fc = pd.read_csv(rendered["results"] / "forecasts.csv")
    fans = re.findall(r'<figure id="fan-[^"]+" class="fan-figure">.*?</figure>', html, re.S)
    n_obs = fc.groupby(["country", "indicator"]).n_obs.first()
    # 1-2 points: no fan chart; forecasts of true numbers (from the synthesis, no n_obs) always have one
    with_fan = {ind for (_c, ind), n in n_obs.items() if n >= 3 or pd.isna(n)}
    assert len(fans) == len(with_fan) and all("<svg" in f for f in fans)
    assert 'id="sensitivity-chart"' in html and 'id="coverage-chart"' in html
    assert "No calibration yet" not in html and "MODEL DIAGNOSTICS FAILED" not in html


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
def test_html_is_self_contained(rendered):
    html = rendered["html"]
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(?!#)', html), "external resource or link"
    # a source's web address is printed as text (sources must name theirs), never fetched: no
    # attribute and no stylesheet url() points anywhere but inside the page
    assert not re.search(r'=\s*"(https?:)?//', re.sub(r'xmlns(:\w+)?="http://[^"]+"', "", html))
    assert not re.search(r"url\((?!#|data:)", html)


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
def test_ids_are_unique_and_every_link_lands(rendered):
    html = rendered["html"]
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert set(re.findall(r'href="#([^"]+)"', html)) <= set(ids)


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
def test_csv_text_is_escaped(rendered):
    html = rendered["html"]
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("&lt;script&gt;") >= 2  # one from the results folder, one from the data folder
    from forecast.report import render_html

    pdf_html = render_html(rendered["results"], DATA, pdf=True)  # the PDF's long tables are in the HTML only
    assert EVIL not in pdf_html and "<script" not in pdf_html.lower()


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
def test_pdf_has_contents_page_numbers_and_text(rendered):
    text = _pdftotext(rendered["pdf"], "-layout")
    pages = text.count("\f")
    assert 8 <= pages <= 30
    assert "Contents" in text
    assert f"page 1 of {pages}" in text and f"page {pages} of {pages}" in text
    chapters = r"Summary|Who is counted|Prevalence|Forecasts|How good|Methods|Glossary|Sources"
    toc = re.findall(rf"^\s*(\d) ({chapters})\D*?(\d+)\s*$", text[text.index("Contents") :], re.M)[:8]
    assert [t[1] for t in toc] == [
        "Summary", "Who is counted", "Prevalence", "Forecasts", "How good", "Methods", "Glossary", "Sources"
    ]  # fmt: skip
    numbers = [int(t[2]) for t in toc]
    assert numbers == sorted(numbers) and numbers[0] == 1 and numbers[-1] < pages
    for phrase in ("True numbers", "Outlook", "forecast by country", "Did the Bayesian fit converge", "Glossary",
                   "Engvall, Johan", "from forecasts.csv"):  # fmt: skip
        assert phrase in text, phrase


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
def test_page_1_carries_the_findings(rendered):
    """Page 1 is the answer: true numbers per country with likely ranges and evidence strength, the
    dated outlook per scenario with the most likely one named, and the latest calibration."""
    page1 = " ".join(_pdftotext(rendered["pdf"], "-f", "1", "-l", "1").split())
    for country in COUNTRIES:
        assert country in page1, country
    for phrase in ("People who use drugs", "People living with HIV", "likely", "Per 1,000", "Rests on",
                   "most likely", "Since the last calibration"):  # fmt: skip
        assert phrase in page1, phrase
    assert re.search(r"Outlook (\d{4})–(\d{4})", page1), "the outlook is dated"
    assert re.search(r"own data|pooling|prior only", page1)
    assert re.search(r"likely \d[\d,.]*\s*–\s*\d", page1.replace("\u2060", ""))


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
def test_pdf_is_tagged_pdf_ua(rendered):
    if not shutil.which("pdfinfo"):
        pytest.skip("pdfinfo not installed (Debian package poppler-utils)")
    info = subprocess.run(["pdfinfo", str(rendered["pdf"])], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Tagged:\s+yes", info, re.M), info
    meta = subprocess.run(["pdfinfo", "-meta", str(rendered["pdf"])], capture_output=True, text=True).stdout
    assert 'pdfuaid:part="1"' in meta and "<dc:title>" in meta  # PDF/UA-1, with the document's title
    tree = subprocess.run(["pdfinfo", "-struct", str(rendered["pdf"])], capture_output=True, text=True).stdout
    for element in ("H1", "Table", "Figure", "Link"):  # the structure tree a screen reader walks
        assert re.search(rf"^\s*{element}\b", tree, re.M), element


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
def test_every_chart_and_table_has_an_accessible_name(rendered):
    from forecast.report import render_html

    html = rendered["html"]
    svgs = re.findall(r"<svg\b[^>]*>\s*(?:<title>([^<]*)</title>)?", html)
    assert len(svgs) >= 6
    for tag in re.findall(r"<svg\b[^>]*>", html):
        assert re.search(r'aria-label="[^"]{10,}"', tag) and 'role="img"' in tag, tag
    assert all(title and len(title) >= 10 for title in svgs), svgs
    pdf_html = render_html(rendered["results"], DATA, pdf=True)
    imgs = re.findall(r"<img\b[^>]*>", pdf_html)
    assert len(imgs) >= 6 and all(re.search(r'alt="[^"]{10,}"', i) for i in imgs)
    for page in (html, pdf_html):
        tables = re.findall(r"<table\b.*?</table>", page, re.S)
        assert tables
        for t in tables:
            caption = re.search(r"<caption>([^<]+)</caption>", t)
            assert caption and caption.group(1).strip(), t[:200]
            assert all('scope="' in th for th in re.findall(r"<th\b[^>]*>", t)), t[:200]


def _populations() -> dict[str, float]:
    """Each country's largest population in the data of the fixture's vintage (and their sum)."""
    obs = pd.read_csv(_vintage_folder(DATA, FIXTURE) / "observations.csv")
    pop = obs[obs.indicator == "population"].groupby("country").value.max()
    return {**pop.to_dict(), "Central Asia": float(pop.drop(labels=["Afghanistan"], errors="ignore").sum())}


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
def test_no_number_in_the_report_tables_exceeds_its_country_population(rendered):
    """A true number, a band end or a forecast above the whole population is impossible: the report
    must never print one (the model's structure keeps the bands below it)."""
    import html as html_lib

    population = _populations()
    checked = 0
    for table in re.findall(r"<tbody>(.*?)</tbody>", rendered["html"], re.S):
        for row in re.findall(r"<tr\b[^>]*>(.*?)</tr>", table, re.S):
            cells = [
                html_lib.unescape(re.sub(r"<[^>]+>", "", c))
                for c in re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", row, re.S)
            ]
            if not cells:
                continue
            country = next((c for c in COUNTRIES if cells[0].startswith(c)), None)
            if country is None or country not in population:
                continue
            for cell in cells[1:]:
                text = re.sub(r"\[[^\]]*\]", "", cell.replace("\u2060", ""))  # not a source's [address]
                for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text):
                    value = float(n.replace(",", ""))
                    assert value <= population[country], (country, cells)
                    checked += 1
    assert checked > 100


@pytest.mark.slow  # a full HTML + PDF render in a fresh interpreter (the module's `rendered`)
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
    for file in (
        "forecasts.csv",
        "backtest_summary.csv",
        "prevalence_conflicts.csv",
        "method_biases.csv",
        "evidence_left_out.csv",
    ):
        assert f"({file} is not in the results folder)" in html, file
    assert 'id="prev-users"' in html


def test_a_series_with_one_or_two_figures_gets_scenario_arithmetic_not_a_fan_chart(tmp_path):
    from forecast.report import render_html

    shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
    fc = pd.read_csv(tmp_path / "forecasts.csv")
    crimes = fc.indicator == "drug_crimes"
    assert crimes.any() and (fc[crimes].n_obs >= 3).all()  # the fixture's has a fan chart (first test)
    fc.loc[crimes, "n_obs"] = 2
    fc.to_csv(tmp_path / "forecasts.csv", index=False)
    html = render_html(tmp_path, DATA)
    assert 'id="scenario-arithmetic"' in html and 'id="fan-drug-crimes"' not in html


def test_fan_chart_svg_is_inline_small_named_and_ids_do_not_clash():
    fc = pd.read_csv(FIXTURE / "forecasts.csv")
    hist = pd.read_csv(FIXTURE / "history.csv")
    key = ("Kazakhstan", "seizures_total_kg")
    g = fc[(fc.country == key[0]) & (fc.indicator == key[1])]
    h = hist[(hist.country == key[0]) & (hist.indicator == key[1])]
    assert len(g) and len(h)
    fig = charts.fan_chart(h, g, load_scenarios(), "Kazakhstan: drug seizures", "kilograms")
    a, b = charts.to_svg(fig, "Opiate seizures <forecast>"), charts.to_svg(fig, "Opiate seizures")
    assert a.startswith("<svg") and "<?xml" not in a and len(a) < 80_000
    assert (
        'aria-label="Opiate seizures &lt;forecast&gt;"' in a and "<title>Opiate seizures &lt;forecast&gt;</title>" in a
    )
    ids_a, ids_b = set(re.findall(r'id="([^"]+)"', a)), set(re.findall(r'id="([^"]+)"', b))
    assert ids_a and not ids_a & ids_b
    labels = re.findall(r">(\d{4})</text>", a)
    assert labels and all(1990 <= int(y) <= 2035 for y in labels)  # years as integers
    assert "kilograms" in a and "baseline" in a and "log scale" in a


def test_charts_use_the_okabe_ito_palette_and_tell_scenarios_apart_by_line_style():
    names = ["baseline", "optimistic", "pessimistic", "mine"]
    colours, dashes = charts.scenario_colours(names), charts.scenario_dashes(names)
    assert set(colours.values()) <= set(charts.OKABE_ITO.values()) and len(set(colours.values())) == 4
    assert len({str(d) for d in dashes.values()}) == 4


def test_the_50_band_lies_inside_the_80_band():
    lo, hi = charts.band_50([100.0, 10.0], [50.0, 2.0], [300.0, 40.0])
    assert (lo > [50, 2]).all() and (hi < [300, 40]).all() and (lo < [100, 10]).all() and (hi > [100, 10]).all()


def test_every_cited_document_resolves_to_author_title_and_year():
    from forecast.report import words

    data = pd.concat([pd.read_csv(DATA / f) for f in ("observations.csv", "multipliers.csv")])
    docs = words.documents_cited(data["ref"].dropna())
    assert len(docs) >= 3 and all(d.author and d.title and d.year for d in docs)
    seeds = sorted(p.name for p in (ROOT.parent / "shared" / "seeds").glob("*.txt"))
    assert all(name in words.BY_FILE for name in seeds), seeds


def test_csv_numbers_are_never_in_scientific_notation():
    from forecast.core.outputs import csv_bytes

    text = csv_bytes(pd.DataFrame({"x": [1.09591e6, 1e-5, 123.456789, float("nan")], "t": list("abcd")})).decode()
    assert text.splitlines()[1:] == ["1095910,a", "0.00001,b", "123.457,c", ",d"]


def test_xlsx_workbook_holds_every_sheet_as_numbers_and_text(tmp_path):
    import zipfile

    from forecast.core.outputs import xlsx_bytes

    data = xlsx_bytes({"estimates": pd.DataFrame({"country": ["Kazakhstan", "=cmd()"], "median": [1.5e6, None]})})
    z = zipfile.ZipFile(__import__("io").BytesIO(data))
    assert z.testzip() is None
    sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<v>1500000</v>" in sheet and 'name="estimates"' in z.read("xl/workbook.xml").decode()
    assert "<f>" not in sheet and "=cmd()" in sheet  # text is inline text, never a formula


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


def test_conflict_rows_show_the_method_and_the_range_the_rest_of_the_evidence_expects():
    from forecast.report.context import _expected, _method

    row = pd.Series({"method": "rapid_assessment", "expected_low": 41_234.0, "expected_high": 150_000.0})
    assert _method(row) == "rapid assessment"
    assert _expected(row) == "expected 41,200–150,000"
    # "at least X" can only be flagged for being too high, "at most X" for being too low
    assert _expected(row.drop("expected_low")) == "expected ≤ 150,000"
    assert _expected(pd.Series({"expected_low": 3.0, "expected_high": float("nan")})) == "expected ≥ 3"
    # results written before these columns existed render without them
    assert _expected(pd.Series({"flag": ""})) == "" and _method(pd.Series({"flag": ""})) == ""


def test_the_method_table_shows_prior_and_posterior_and_marks_a_flagged_method(tmp_path):
    from forecast.prevalence.methods import COLUMNS
    from forecast.report import render_html

    for name in ("estimates.csv", "detection.csv", "evidence_used.csv", "diagnostics.csv"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    flag = "CONFLICT: its figures run further above the rest of the evidence than its prior allows"
    pd.DataFrame(
        [
            ["rapid_assessment", 6, "Kazakhstan, Kyrgyzstan", 1.35, 0.26, 6.99, 27.4, 15.2, 49.9, 0.25, 0.001, flag],
            ["norm", 1, "Tajikistan", 1.0, 0.037, 26.8, 5.5, 2.0, 13.5, 0.3, 0.39, ""],
        ],
        columns=COLUMNS,
    ).to_csv(tmp_path / "method_biases.csv", index=False)
    html = render_html(tmp_path, DATA)
    section = html[html.index('id="method-biases"') :]
    section = section[: section.index("</table>")]
    assert "rapid assessment" in section and "15.2–49.9" in section and "0.26–6.99" in section
    assert section.count('class="conflict"') == 1 and flag in section
