"""Every page type passes axe-core's WCAG 2.1 A and AA rules with no serious or critical violation, in the light
and the dark theme, in Chromium under the site's CSP; charts are reachable by keyboard and named, and the pages
respect prefers-reduced-motion.

axe-core is the pinned npm devDependency in package-lock.json (installed by `npm ci`, as Chart.js is; never
shipped in a site). It is run through the browser's debugging protocol, which the page's CSP does not govern.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from generator.site.export import slug
from tests.test_browser import Visit

ROOT = Path(__file__).resolve().parent.parent
PAGE_TYPES = ["index.html", "usage-7d.html", "usage-1d.html", "usage-mtd.html", "matrix-7d.html", "pricing.html",
              f"person/{slug('peterdir')}.html", f"team/{slug('platform')}.html"]  # fmt: skip
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="session")
def axe() -> Iterator[str]:
    sys.path.insert(0, str(ROOT))
    try:
        import hatch_build
    finally:
        sys.path.remove(str(ROOT))
    if not hatch_build.installed(ROOT, "axe-core"):
        pytest.fail("axe-core is not installed and npm is missing: install Node.js and npm, then run `npm ci`")
    yield (ROOT / "node_modules/axe-core/axe.min.js").read_text()


def violations(visit: Visit, axe: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.1 AA violations on the page, each with where it happened."""
    visit.page.evaluate(axe)
    found: list[dict[str, Any]] = visit.page.evaluate(
        """rules => axe.run(document, {runOnly: {type: 'tag', values: rules}, resultTypes: ['violations']})
          .then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
          .map(v => ({id: v.id, impact: v.impact, help: v.help,
                      where: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)})))""",
        RULES,
    )
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("name", PAGE_TYPES)
def test_no_serious_accessibility_violation(browser: Browser, base_url: str, axe: str, name: str, scheme: str) -> None:
    visit = Visit(browser, f"{base_url}/{name}", scheme=scheme)
    for details in visit.page.locator("details").all():  # folded content is checked too
        details.evaluate("d => d.open = true")
    assert violations(visit, axe) == []
    visit.check_clean()
    visit.page.close()


@pytest.mark.parametrize("name", ["index.html", "usage-7d.html", "usage-1d.html", f"person/{slug('peterdir')}.html"])
def test_every_chart_is_reachable_by_keyboard_with_its_numbers(browser: Browser, base_url: str, name: str) -> None:
    """Each canvas takes focus and is named; under it, a folded table gives every bar's value, series by column."""
    visit = Visit(browser, f"{base_url}/{name}")
    page = visit.page
    canvases = page.locator("canvas")
    assert canvases.count() >= 1
    focused = set()
    for _ in range(80):  # Tab, from the top of the page, walks through every chart
        page.keyboard.press("Tab")
        focused.add(page.evaluate("document.activeElement.id"))
    assert {canvases.nth(i).get_attribute("id") for i in range(canvases.count())} <= focused
    for i in range(canvases.count()):
        canvas = canvases.nth(i)
        assert canvas.get_attribute("tabindex") == "0" and (canvas.get_attribute("aria-label") or "").strip()
        labels = page.evaluate("id => Chart.getChart(document.getElementById(id)).data.labels.length",
                               canvas.get_attribute("id"))  # fmt: skip
        table = canvas.locator("xpath=ancestor::figure").locator(".chart-table")
        assert table.count() == 1
        table.locator("summary").focus()
        page.keyboard.press("Enter")
        assert table.locator("tbody tr").count() == labels > 0
    visit.check_clean()
    visit.page.close()


def test_reduced_motion_is_respected(browser: Browser, base_url: str) -> None:
    page = browser.new_page(reduced_motion="reduce")
    page.goto(f"{base_url}/usage-7d.html")
    page.wait_for_function("document.documentElement.dataset.chartsDrawn !== undefined")
    assert page.evaluate("Chart.defaults.animation") is False
    assert page.evaluate("matchMedia('(prefers-reduced-motion: reduce)').matches")
    durations = page.evaluate("Array.from(document.querySelectorAll('*')).map(e => getComputedStyle(e)"
                              ".transitionDuration).filter(d => d !== '0s')")  # fmt: skip
    assert durations == []
    page.close()
