"""The dashboard's decisions in a real browser (Chromium under the CSP): stable colours, partial days, person
pages for any name, budgets, small screens and labelled bars; and the JSON that carries them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from generator.build import build
from generator.config import load_settings
from generator.site.export import slug
from generator.usage import WINDOW_KEYS
from tests.conftest import NOW_ISO, serve
from tests.test_browser import Visit

COLOUR_OF = """([id, label]) => {
  const chart = Chart.getChart(document.getElementById(id));
  const d = chart.data.datasets.find(s => s.label === label);
  return d ? d.borderColor : null;
}"""

LEGEND = """id => {
  const chart = Chart.getChart(document.getElementById(id));
  return chart.legend.legendItems.map(i => [i.fillStyle, chart.data.datasets[i.datasetIndex].borderColor]);
}"""


def test_a_person_keeps_their_colour_on_every_window(browser: Browser, base_url: str) -> None:
    seen = set()
    for page, chart in (("usage-1d.html", "chart-hourly-cost"), ("usage-90d.html", "chart-daily-cost"),
                        ("usage-7d.html", "chart-model-by-person")):  # fmt: skip
        visit = Visit(browser, f"{base_url}/{page}")
        seen.add(visit.page.evaluate(COLOUR_OF, [chart, "peterdir"]))
        visit.check_clean()
        visit.page.close()
    assert len(seen) == 1 and None not in seen, seen


def test_partial_days_are_marked_and_1d_draws_hours(browser: Browser, base_url: str) -> None:
    visit = Visit(browser, f"{base_url}/usage-7d.html")
    labels = visit.page.evaluate("Chart.getChart(document.getElementById('chart-daily-cost')).data.labels")
    assert labels[0].endswith("(partial)") and labels[-1].endswith("(partial)") and "(partial)" not in labels[3]
    colours = visit.page.evaluate("Chart.getChart(document.getElementById('chart-daily-cost')).getDatasetMeta(0)"
                                  ".data.map(bar => bar.options.backgroundColor)")  # fmt: skip
    assert colours[0].endswith("66") and not colours[3].endswith("66")  # a partial day's bar is lighter
    swatches = visit.page.evaluate(LEGEND, "chart-daily-cost")  # the legend keeps the full colour
    assert swatches and all(fill == full and not fill.endswith("66") for fill, full in swatches), swatches
    notes = visit.page.locator("#notes")  # the notes fold into one line that opens them
    assert notes.locator("summary").inner_text().endswith("partial days")
    assert not visit.page.locator(".partial-days").is_visible()
    notes.locator("summary").click()
    assert "Partial days" in visit.page.locator(".partial-days").inner_text()
    visit.page.close()
    person = Visit(browser, f"{base_url}/person/{slug('peterdir')}.html")  # its 90 days begin on a partial day
    assert person.page.evaluate(
        "Chart.getChart(document.getElementById('chart-person-daily')).data.labels[0]"
    ).endswith("(partial)")
    swatches = person.page.evaluate(LEGEND, "chart-person-daily")
    assert swatches and all(fill == full and not fill.endswith("66") for fill, full in swatches), swatches
    person.page.close()
    hours = Visit(browser, f"{base_url}/usage-1d.html")
    labels = hours.page.evaluate("Chart.getChart(document.getElementById('chart-hourly-cost')).data.labels")
    assert len(labels) == 24 and labels[0].endswith(":00")
    hours.check_clean()
    hours.close("hourly-1d")


def test_the_month_page_flags_a_person_over_budget(browser: Browser, base_url: str) -> None:
    visit = Visit(browser, f"{base_url}/usage-mtd.html")
    over = visit.page.locator("#budgets tr.level-over")  # over, or over by the month's end
    rows = {t.split("\t")[0]: t.split("\t")[-1] for t in over.all_inner_texts()}
    assert rows["peterdir"] == "over budget" and set(rows.values()) == {"over budget", "near budget, forecast over"}
    badge = visit.page.locator("#by-users tbody tr", has_text="peterdir").locator(".budget-over")
    assert badge.inner_text() == "over budget"
    assert "Month-end forecast" in visit.page.locator(".kpis").inner_text()
    headers = visit.page.locator("#by-users thead th").all_inner_texts()
    forecast = next(i for i, h in enumerate(headers) if h.startswith("Forecast"))
    row = visit.page.locator("#by-users tbody tr", has_text="peterdir")
    assert row.locator("td").nth(forecast - 1).inner_text() == "$190.87"  # per person, as in usage-mtd.json
    visit.check_clean()
    visit.close("budgets-mtd")


PHONE_PAGES = ["index.html", "usage-7d.html", "usage-mtd.html", "usage-90d.html", "matrix-30d.html", "pricing.html",
               f"person/{slug('peterdir')}.html", f"team/{slug('platform')}.html"]  # fmt: skip


@pytest.mark.parametrize("name", PHONE_PAGES)
def test_no_horizontal_overflow_on_a_phone(browser: Browser, base_url: str, name: str) -> None:
    visit = Visit(browser, f"{base_url}/{name}", width=390)
    width = visit.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{name} is {width}px wide at 390"
    if name.startswith("usage"):
        cost = visit.page.locator("#by-users thead th").nth(1).inner_text()
        assert cost.startswith("Cost")  # the cost column comes right after the name
        box = visit.page.locator("#by-users thead th").nth(1).bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
    visit.check_clean()
    visit.close(f"phone-{name.removesuffix('.html')}")


def test_every_bar_is_labelled_and_axes_are_compact(browser: Browser, base_url: str) -> None:
    visit = Visit(browser, f"{base_url}/usage-90d.html", width=390)
    for chart in ("chart-person-by-model", "chart-model-by-person", "chart-person-tokens", "chart-person-invocations"):
        shown, labels = visit.page.evaluate(
            "id => { const c = Chart.getChart(document.getElementById(id));"
            " return [c.scales.y.ticks.length, c.data.labels.length]; }", chart)  # fmt: skip
        assert shown == labels, f"{chart}: {shown} of {labels} bars labelled"
    ticks = visit.page.evaluate("Chart.getChart(document.getElementById('chart-person-tokens'))"
                                ".scales.x.ticks.map(t => t.label)")  # fmt: skip
    assert any(t.endswith(("K", "M", "B")) for t in ticks) and not any("," in t and len(t) > 7 for t in ticks), ticks
    counts = visit.page.evaluate("Chart.getChart(document.getElementById('chart-person-invocations'))"
                                 ".scales.x.ticks.map(t => t.value)")  # fmt: skip
    assert all(float(v).is_integer() for v in counts)
    doughnut = visit.page.evaluate("Chart.getChart(document.getElementById('chart-model-invocations')).data")
    values = doughnut["datasets"][0]["data"]
    named = [v for label, v in zip(doughnut["labels"], values, strict=True) if label != "other"]
    assert named == sorted(named, reverse=True)  # ranked by invocations, so "other" is never the biggest for it
    visit.check_clean()
    visit.page.close()


def test_a_person_page_exists_for_a_hostile_name(browser: Browser, tmp_path: Path) -> None:
    names = ["../../etc/passwd", "<img src=x onerror=alert(1)>", "Zoë Ångström", "a" * 300, "CON"]
    logs = tmp_path / "logs"
    logs.mkdir()
    records = [
        {"timestamp": "2026-11-26T10:00:00Z", "identity": {"arn": f"arn:aws:sts::123456789012:federated-user/{n}"},
         "modelId": "amazon.nova-lite-v1:0", "input": {"inputTokenCount": 1000}, "output": {"outputTokenCount": 10}}
        for n in names
    ]  # fmt: skip
    (logs / "people.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = tmp_path / "site"
    build(load_settings({"out": out, "logs": (logs,), "now": NOW_ISO}, environ={}, env_file=None))
    slugs = {slug(n) for n in names}
    assert len(slugs) == len(names) and all(s.replace("-", "").isalnum() and s.islower() for s in slugs)
    assert {p.stem for p in (out / "person").iterdir()} == slugs
    url, server = serve(out)
    try:
        visit = Visit(browser, f"{url}/usage-7d.html")
        assert "Logs start" in (visit.page.locator("#logs-start").text_content() or "")  # the data begins mid-window
        link = visit.page.locator("#by-users a", has_text="<img src=x onerror=alert(1)>")
        link.click()
        visit.page.wait_for_load_state()
        assert visit.page.url.endswith(f"/person/{slug(names[1])}.html")
        assert visit.page.locator("h1").inner_text() == names[1] and visit.page.locator("img").count() == 0
        visit.page.wait_for_selector("html[data-charts-drawn]", state="attached")  # a selector: the CSP forbids eval
        assert visit.page.get_attribute("html", "data-charts-drawn") == "1"  # the person's daily chart
        visit.check_clean()
        visit.close("person-hostile")
    finally:
        server.shutdown()


def test_person_and_team_files_carry_what_their_pages_show(demo_site: Path) -> None:
    usage = json.loads((demo_site / "data/usage-30d.json").read_text())
    peter = next(u for u in usage["users"] if u["name"] == "peterdir")
    doc: dict[str, Any] = json.loads((demo_site / "data" / peter["person_file"]).read_text())
    assert doc["team"] == "platform" and doc["windows"]["30d"]["cost_usd"] == peter["cost_usd"]
    assert 0 < doc["windows"]["30d"]["share_of_team"] <= 1 and doc["windows"]["mtd"]["budget"]["level"] == "over"
    assert doc["daily_window"] == "90d" and all(len(m["cost_usd"]) == len(doc["days"]) for m in doc["daily"])
    assert doc["windows"]["90d"]["cache_savings_usd"] > 0
    total = sum(sum(m["cost_usd"]) for m in doc["daily"])
    assert round(total, 4) == round(doc["windows"]["90d"]["cost_usd"], 4)
    assert sum(sum(m["invocations"]) for m in doc["daily"]) == doc["windows"]["90d"]["invocations"]
    team = json.loads((demo_site / f"data/team/{slug('platform')}.json").read_text())
    assert {p["name"] for p in team["windows"]["30d"]["people"]} <= {"peterdir", "bob", "support-bot-lambda"}
    assert usage["previous_period"]["complete"] is True and usage["totals"]["previous"]["invocations"] > 0
    mtd = json.loads((demo_site / "data/usage-mtd.json").read_text())
    fc = mtd["forecast"]["total"]
    assert fc["low_usd"] <= fc["projected_usd"] <= fc["high_usd"] and fc["actual_usd"] <= fc["low_usd"]
    wide = json.loads((demo_site / "data/usage-90d.json").read_text())
    assert wide["previous_period"]["complete"] is False  # the demo's logs start 90 days back
    for key in WINDOW_KEYS:
        assert (demo_site / f"data/daily-{key}.csv").read_text().startswith("window,date,model,model_name")


@pytest.mark.parametrize("width", [390, 1440])
def test_prices_are_on_screen_without_scrolling(browser: Browser, base_url: str, width: int) -> None:
    visit = Visit(browser, f"{base_url}/pricing.html", width=width)
    box = visit.page.locator("#prices tbody tr").first.locator("td").nth(1).bounding_box()  # output price
    assert box is not None and box["x"] + box["width"] <= width, box
    visit.check_clean()
    visit.close(f"pricing-{width}")


@pytest.mark.parametrize("width", [390, 1440, 1920])
def test_the_landing_page_answers_first(browser: Browser, base_url: str, demo_site: Path, width: int) -> None:
    """index.html: the month's spend against the budget, the forecast and who is over or near, on the first
    screen of a phone; the same status the month's JSON gives; the pace chart with its numbers a key away."""
    doc = json.loads((demo_site / "data/usage-mtd.json").read_text())
    visit = Visit(browser, f"{base_url}/index.html", width=width)
    page = visit.page
    page.set_viewport_size({"width": width, "height": 844})
    headline = page.locator(".headline").inner_text()
    total = next(b for b in doc["budgets"] if b["scope"] == "total")
    assert f"${doc['totals']['cost_usd']:,.2f}" in headline and total["status"] in headline
    assert f"${doc['forecast']['total']['projected_usd']:,.2f}" in headline
    flagged = page.locator(".flagged-list li")
    expected = [b for b in doc["budgets"] if b["scope"] != "total" and b["severity"] != "ok"]
    assert flagged.count() == len(expected) > 0
    for b in expected:
        assert (
            page.locator(".flagged-list li", has_text=b["name"]).locator(f".budget-{b['severity']}").inner_text()
            == b["status"]
        )
    for part in (page.locator(".headline"), flagged.last):  # all of it without scrolling
        box = part.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 844, (width, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    assert page.evaluate("Chart.getChart(document.getElementById('chart-month-pace')).data.datasets.length") == 2
    page.keyboard.press("Tab")  # the chart's numbers are a keyboard's reach away
    page.locator(".chart-table summary").focus()
    page.keyboard.press("Enter")
    assert page.locator(".chart-table table").is_visible()
    visit.check_clean()
    visit.close(f"home-{width}")


def test_without_the_month_the_index_is_the_week(tmp_path: Path) -> None:
    out = tmp_path / "site"
    build(load_settings({"out": out, "now": NOW_ISO, "source": "demo", "windows": "7d,30d"}, environ={}, env_file=None))
    assert (out / "index.html").read_bytes() == (out / "usage-7d.html").read_bytes()


@pytest.mark.parametrize("width", [390, 1440, 1920])
def test_tables_fit_and_fold_their_detail_first(browser: Browser, base_url: str, width: int) -> None:
    """By person and by model fit their column at 1,440 and 1,920 px (1,920: with every column); cost and change
    always show; the token detail folds first, and a button brings every column back."""
    visit = Visit(browser, f"{base_url}/usage-7d.html", width=width)
    page = visit.page
    for table_id in ("by-users", "by-models"):
        table = page.locator(f"#{table_id}")
        box = table.locator("xpath=..")
        fits = box.evaluate("b => b.scrollWidth <= b.clientWidth + 1")
        headers = table.locator("thead th")
        for i in (1, 2):  # cost and vs previous
            edge = headers.nth(i).bounding_box()
            assert headers.nth(i).is_visible() and edge is not None and edge["x"] + edge["width"] <= width
        detail = table.locator("thead th.p3").first
        if width >= 1440:
            assert fits, (table_id, width)
        if width == 1920:
            assert detail.is_visible()  # room for everything: nothing folds
        if not detail.is_visible():
            assert table.evaluate("t => t.classList.contains('fold-3')")
            page.locator(
                f"#{table_id} ~ button.unfold, #{table_id} >> xpath=../following-sibling::button[1]"
            ).first.click()
            assert detail.is_visible() and table.locator("tbody tr").first.locator("td.p3").first.is_visible()
    visit.check_clean()
    visit.close(f"tables-{width}")


def test_a_team_page_draws_its_days_and_lines_up_its_windows(browser: Browser, base_url: str, demo_site: Path) -> None:
    doc = json.loads((demo_site / f"data/team/{slug('platform')}.json").read_text())
    visit = Visit(browser, f"{base_url}/team/{slug('platform')}.html")
    page = visit.page
    days = page.evaluate("Chart.getChart(document.getElementById('chart-person-daily')).data.datasets[0].data")
    assert abs(sum(days) - doc["windows"]["90d"]["cost_usd"]) < 0.01 * len(days)  # each day rounded to the cent
    rows = page.locator("#team-windows tbody tr")
    assert rows.count() == len(doc["windows"])  # one aligned table, a row per window
    people = page.locator("#team-people tbody tr")
    assert people.count() == len(doc["windows"]["90d"]["people"])
    visit.check_clean()
    visit.close("team-page")
