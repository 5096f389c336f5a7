"""report.html in a real browser (headless Chromium), offline: nothing to fetch, everything drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found (Debian packages chromium, chromium-driver)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) not installed")


@pytest.fixture(scope="module")
def page_report(tmp_path_factory):
    """report.html of the fixture results folder, opened from disk with every non-file request aborted."""
    from forecast.report import HTML_FILE, render_html

    path = tmp_path_factory.mktemp("browser") / HTML_FILE
    path.write_text(render_html(FIXTURE), encoding="utf-8")
    seen = {"blocked": [], "failed": [], "errors": []}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})

            def route(r):
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    seen["blocked"].append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("requestfailed", lambda req: seen["failed"].append(req.url))
            page.on("console", lambda msg: msg.type == "error" and seen["errors"].append(msg.text))
            page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
            page.goto(path.as_uri(), wait_until="load")
            yield page, seen
        finally:
            browser.close()


def test_no_request_leaves_the_disk_and_none_fails(page_report):
    _page, seen = page_report
    assert seen == {"blocked": [], "failed": [], "errors": []}


def test_page_renders_tables_and_charts(page_report):
    page, _seen = page_report
    assert page.locator("script").count() == 0
    summary = page.locator("#summary-table")
    assert summary.is_visible()
    box = summary.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 50
    assert summary.locator("tbody tr").count() >= 5
    assert summary.locator("caption").inner_text().strip()
    # the summary links to its sections, and every link lands on an element of the page
    links = page.locator("nav.jump a")
    assert links.count() >= 5
    for i in range(links.count()):
        target = links.nth(i).get_attribute("href")
        assert target.startswith("#") and page.locator(target).count() == 1, target
    svgs = page.locator("figure svg")
    assert svgs.count() >= 6  # fewer charts: small multiples, one per indicator
    for i in range(svgs.count()):
        b = svgs.nth(i).bounding_box()
        assert b and b["width"] > 100 and b["height"] > 50, i
        assert svgs.nth(i).get_attribute("aria-label"), i  # an accessible name
    for section in ("#summary", "#prevalence", "#forecasts", "#evaluation", "#methods", "#glossary", "#annexes"):
        assert page.locator(section).is_visible(), section
    # nothing overflows the page sideways
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
