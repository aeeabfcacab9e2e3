"""The built site in a real browser: Debian's Chromium driven by Playwright, served with the CSP."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page

from generator.build import build
from generator.config import load_settings
from generator.site.export import slug
from generator.usage import WINDOW_KEYS
from tests.conftest import NOW_ISO, serve

PAGES = ["index.html", "pricing.html"] + [f"{k}-{w}.html" for k in ("usage", "matrix") for w in WINDOW_KEYS]
PAGES += [
    f"person/{slug('peterdir')}.html",
    f"person/{slug('alice@example.com')}.html",
    f"team/{slug('platform')}.html",
]
ARTIFACTS = Path(os.environ.get("BEDROCK_USAGE_ARTIFACTS", Path(tempfile.gettempdir()) / "bedrock-usage-screenshots"))
HOSTILE = ["<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>"]


class Visit:
    """A page with every console error, page error, CSP violation and dialog recorded."""

    def __init__(self, browser: Browser, url: str, scheme: str = "light", width: int = 1280) -> None:
        self.page: Page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        response = self.page.goto(url)
        assert response is not None and response.ok, url
        assert "script-src 'self'" in response.headers["content-security-policy"]
        self.page.wait_for_function("document.documentElement.dataset.chartsDrawn !== undefined")

    def check_clean(self) -> None:
        csp = self.page.evaluate("window.__csp")
        assert (self.problems, csp, self.dialogs) == ([], [], [])

    def close(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        self.page.close()


ROW_VALUES = "rows => rows.map(r => Array.from(r.querySelectorAll('td')).map(c => Number(c.dataset.sort)))"
PAINTED = """() => Array.from(document.querySelectorAll('canvas')).map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return [c.id, n];
})"""


@pytest.mark.parametrize("name", PAGES)
def test_every_page_loads_clean(browser: Browser, base_url: str, name: str) -> None:
    visit = Visit(browser, f"{base_url}/{name}")
    visit.check_clean()
    if name.startswith(("usage", "index")):
        charts = {"usage-1d.html": 7, "index.html": 1}.get(name, 8)  # 1d: one hourly chart for the two daily ones
        assert visit.page.evaluate("document.documentElement.dataset.chartsDrawn") == str(charts)
        painted = visit.page.evaluate(PAINTED)
        assert len(painted) == charts
        assert all(n > 500 for _, n in painted), painted
    visit.close(name.removesuffix(".html").replace("/", "-"))


def test_dark_mode_and_phone_width(browser: Browser, base_url: str) -> None:
    visit = Visit(browser, f"{base_url}/index.html", scheme="dark", width=390)
    visit.check_clean()
    background = visit.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 20, 24)"
    assert visit.page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways page scroll
    visit.close("index-dark-phone")


def column(table: Locator, index: int) -> list[str]:
    return table.locator("tbody tr").evaluate_all(
        f"rows => rows.map(r => r.cells[{index}].dataset.sort ?? r.cells[{index}].textContent.trim())"
    )


def test_sorting_reorders_rows(browser: Browser, base_url: str) -> None:
    visit = Visit(browser, f"{base_url}/usage-30d.html")
    table = visit.page.locator("#by-models")  # by model: the most rows
    header = table.locator("thead th").nth(4)  # invocations (after cost, change and share)
    header.click()
    values = [float(v) for v in column(table, 4)]
    assert len(values) > 5
    assert values == sorted(values, reverse=True) and header.get_attribute("aria-sort") == "descending"
    header.click()
    values = [float(v) for v in column(table, 4)]
    assert values == sorted(values) and header.get_attribute("aria-sort") == "ascending"
    table.locator("thead th").nth(0).click()
    names = column(table, 0)
    assert names == sorted(names, key=str.lower)
    visit.check_clean()
    visit.close("sorted")


def test_window_links_lead_to_the_right_page(browser: Browser, base_url: str) -> None:
    visit = Visit(browser, f"{base_url}/usage-7d.html")
    for key, label in (("30d", "Last 30 days"), ("mtd", "Month to date"), ("last-month", "Last month")):
        visit.page.get_by_role("navigation", name="Time window").get_by_role("link", name=label, exact=True).click()
        visit.page.wait_for_url(f"**/usage-{key}.html")
        assert label in visit.page.locator("h1").inner_text()
    visit.page.get_by_role("link", name="Cost matrix").click()
    visit.page.wait_for_url("**/matrix-last-month.html")
    visit.close("links")


@pytest.mark.parametrize("window", ["7d", "90d"])
def test_matrix_totals_equal_the_sum_of_cells(browser: Browser, base_url: str, window: str) -> None:
    visit = Visit(browser, f"{base_url}/matrix-{window}.html")
    grid = visit.page.eval_on_selector_all("#matrix tbody tr", ROW_VALUES)
    footer = visit.page.eval_on_selector_all("#matrix tfoot td", "cells => cells.map(c => Number(c.dataset.sort))")
    assert visit.page.locator("#matrix thead th").nth(1).inner_text() == "Total"  # the total comes first
    assert grid and all(abs(sum(row[1:]) - row[0]) < 1e-6 for row in grid)
    columns = list(zip(*grid, strict=True))
    assert all(abs(sum(col) - total) < 1e-6 for col, total in zip(columns, footer, strict=True))
    visit.page.locator("#matrix thead th").last.click()  # sort by a model, then by the total: footer stays last
    visit.page.locator("#matrix thead th").nth(1).click()
    totals = [row[0] for row in visit.page.eval_on_selector_all("#matrix tbody tr", ROW_VALUES)]
    assert totals == sorted(totals, reverse=True)
    visit.check_clean()
    visit.close(f"matrix-{window}-checked")


def test_price_filter(browser: Browser, base_url: str) -> None:
    visit = Visit(browser, f"{base_url}/pricing.html")
    assert not visit.page.locator("#all-prices").evaluate("d => d.open")  # the site's own models first
    visit.page.fill("#price-filter", "titan global")
    assert visit.page.locator("#prices tbody tr:visible").count() == 0
    visit.page.fill("#price-filter", "nova")
    visible = visit.page.locator("#prices tbody tr:visible").all_inner_texts()
    assert visible and all("nova" in row.lower() for row in visible)
    # a search reaches every other price too, and the captions count what matches
    visit.page.fill("#price-filter", "kimi")
    assert visit.page.locator("#prices tbody tr:visible").count() == 0
    assert visit.page.locator("#all-prices").evaluate("d => d.open")
    found = visit.page.locator("#prices-all tbody tr:visible").count()
    assert found > 0 and visit.page.locator("#prices-all caption").inner_text().startswith(f"{found} of ")
    visit.check_clean()
    visit.close("pricing-filtered")


def test_hostile_names_render_as_text(browser: Browser, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    records = [
        {"timestamp": "2026-11-26T10:00:00Z", "identity": {"arn": f"arn:aws:sts::123456789012:federated-user/{name}"},
         "modelId": model, "input": {"inputTokenCount": 1000}, "output": {"outputTokenCount": 100}}
        for name in HOSTILE for model in ("amazon.nova-lite-v1:0", f"acme.{name}")
    ]  # fmt: skip
    (logs / "evil.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = tmp_path / "site"
    build(load_settings({"out": out, "logs": (logs,), "now": NOW_ISO}, environ={}, env_file=None))
    url, server = serve(out)
    try:
        for name in ("index.html", "usage-7d.html", "matrix-7d.html", "usage-1d.html"):
            visit = Visit(browser, f"{url}/{name}")
            for hostile in HOSTILE:
                assert visit.page.get_by_role("rowheader", name=hostile, exact=True).count() >= 1
            assert visit.page.locator("img").count() == 0
            visit.check_clean()
            visit.close(f"hostile-{name.removesuffix('.html')}")
    finally:
        server.shutdown()


UNPRICED_MODELS = ("provisioned-model/q7h2k9x4m1ab",)


@pytest.mark.parametrize("window", ["7d", "30d"])
def test_no_unpriced_cost_reads_zero(browser: Browser, base_url: str, window: str) -> None:
    visit = Visit(browser, f"{base_url}/usage-{window}.html")
    models = visit.page.locator("#by-models")
    rows = models.locator("tbody tr")
    seen = 0
    for i in range(rows.count()):
        row = rows.nth(i)
        if row.locator("th span").get_attribute("title") in UNPRICED_MODELS:
            cost = row.locator("td").nth(0).inner_text()  # the cost comes first after the name
            assert cost == "unpriced" or cost.endswith("+ unpriced"), cost
            seen += 1
    assert seen == 1
    kpi = visit.page.locator(".kpi", has_text="Estimated cost").locator(".value").inner_text()
    assert kpi.endswith("+ unpriced"), kpi
    visit.check_clean()
    visit.page.goto(f"{base_url}/matrix-{window}.html")
    headers = visit.page.locator("#matrix thead th").all_inner_texts()
    canvas = next(i for i, h in enumerate(headers) if "provisioned" in h.lower())
    cells = visit.page.locator("#matrix tbody tr").evaluate_all(
        f"rows => rows.map(r => r.children[{canvas}].textContent.trim())"
    )
    assert "unpriced" in cells and "$0.00" not in cells  # a used-but-unpriced cell is never a dash or $0.00
    totals = visit.page.locator("#matrix tfoot td").all_inner_texts()
    assert totals[canvas - 1] == "unpriced" and totals[0].endswith("+ unpriced")  # the grand total comes first
    visit.check_clean()
    visit.close(f"unpriced-{window}")


def test_hostile_request_metadata_renders_as_text(browser: Browser, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    values = [*HOSTILE, "bell\x07\x1b[31m\u202eevil", "x" * 256]
    records = [
        {"timestamp": "2026-11-26T10:00:00Z", "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/gw/gw"},
         "modelId": "amazon.nova-lite-v1:0", "input": {"inputTokenCount": 1000}, "output": {"outputTokenCount": 100},
         "requestMetadata": {"user_id": value, "application_name": value}}
        for value in values
    ]  # fmt: skip
    (logs / "evil.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = tmp_path / "site"
    env = {"PERSON_KEY": "user_id", "TAGS": "application_name"}
    build(load_settings({"out": out, "logs": (logs,), "now": NOW_ISO}, environ=env, env_file=None))
    url, server = serve(out)
    try:
        for name in ("usage-7d.html", f"person/{slug(HOSTILE[0])}.html"):
            visit = Visit(browser, f"{url}/{name}")
            assert visit.page.locator("img").count() == 0
            if name == "usage-7d.html":
                for hostile in HOSTILE:
                    assert visit.page.get_by_role("rowheader", name=hostile, exact=True).count() == 1  # the app
                    assert visit.page.get_by_role("rowheader", name=f"{hostile} via gw", exact=True).count() == 1
                assert visit.page.get_by_text("bell\\x07\\x1b[31m\\u202eevil").count() >= 2  # escaped, not run
                assert not {"\x07", "\x1b", "\u202e"} & set(visit.page.content())
            else:
                assert visit.page.get_by_text("via gw").count() == 0  # the person page lists it in its table
                assert visit.page.locator("#person-via").get_by_role("rowheader", name="gw").count() == 1
            visit.check_clean()
            visit.close(f"hostile-metadata-{'usage' if name == 'usage-7d.html' else 'person'}")
    finally:
        server.shutdown()
