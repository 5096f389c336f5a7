"""The report: one Jinja2 template rendered to a self-contained HTML file and, through WeasyPrint, a PDF.

    from forecast.report import render_report
    paths = render_report(Path("reports"))      # reads the results folder; refits nothing

Rendering reads only the files a run wrote (``estimates.csv``, ``forecasts.csv`` ...) and the data
folder; it never imports the samplers, so a report re-renders in seconds from any results folder.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import jinja2

from forecast.core.outputs import atomic_write_files
from forecast.data.dataset import Dataset
from forecast.report.context import build_context
from forecast.report.words import short_ref

TEMPLATE = "template.html.j2"
HTML_FILE = "report.html"
PDF_FILE = "report.pdf"


def slug(text: str) -> str:
    """An HTML id from any text: ascii letters, digits and dashes."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(str(svg).encode("utf-8")).decode("ascii")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["slug"] = slug
    env.filters["data_uri"] = data_uri
    env.filters["short_ref"] = short_ref
    return env


def render_html(
    results_dir: Path, data_dir: Path | str | None = None, *, pdf: bool = False, context: dict | None = None
) -> str:
    """The report as one HTML string; ``pdf=True`` gives the variant WeasyPrint lays out."""
    context = context if context is not None else build_context(Path(results_dir), data_dir=data_dir)
    return environment().get_template(TEMPLATE).render(**context, pdf=pdf)


def no_network_fetcher():
    """WeasyPrint URL fetcher that serves data: URLs only: the report must never fetch anything."""
    from weasyprint import urls

    if hasattr(urls, "URLFetcher"):  # WeasyPrint >= 68
        return urls.URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)

    def fetch(url: str, *args, **kwargs):  # older WeasyPrint: a plain function
        if not url.startswith("data:"):
            raise ValueError(f"report.pdf refuses to fetch {url!r}: the report must be self-contained")
        return urls.default_url_fetcher(url, *args, **kwargs)

    return fetch


#: PDF/UA-1: a tagged PDF (structure tree, reading order, alt texts, document title and language)
#: that screen readers can read; WeasyPrint >= 59 writes it with ``pdf_variant``.
PDF_VARIANT = "pdf/ua-1"


def html_to_pdf(html: str, base_dir: Path) -> bytes:
    import weasyprint

    document = weasyprint.HTML(string=html, base_url=str(base_dir), url_fetcher=no_network_fetcher())
    return document.write_pdf(pdf_variant=PDF_VARIANT)


def render_report(
    results_dir: Path,
    out_dir: Path | None = None,
    data_dir=None,
    dataset: Dataset | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write report.html and report.pdf for a results folder (into it, unless ``out_dir`` is given).

    ``dataset`` is the run's own data (the pipeline passes it); without it, the data folder and
    vintage that run.json names are loaded. Charts are drawn once and used by both files.
    ``on_stage`` hears a line per step (charts and tables; PDF layout).
    """
    say = on_stage or (lambda msg: None)
    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir else results_dir
    say("charts and tables")
    context = build_context(results_dir, dataset=dataset, data_dir=data_dir)
    paths = {"html": out_dir / HTML_FILE, "pdf": out_dir / PDF_FILE}
    html = render_html(results_dir, context=context).encode("utf-8")
    say("PDF layout (tagged, PDF/UA-1)")
    pdf = html_to_pdf(render_html(results_dir, pdf=True, context=context), out_dir)
    atomic_write_files({paths["html"]: html, paths["pdf"]: pdf})  # both files or neither
    return paths
