"""Turn report models into the site's files: HTML pages, data files and fingerprinted assets.

Owns the Jinja2 environment (autoescape, StrictUndefined, explicit filters) and the site's path
layout. Returns bytes per path; never touches the disk beyond reading templates and assets.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from generator import identity
from generator.cores import interleaved
from generator.counters import Counters, add_counters
from generator.errors import GeneratorError
from generator.layout import package_dir
from generator.pricing.cost import long_context, price_cells
from generator.reconcile.billing import KIND_LABELS, Reconciliation
from generator.reconcile.coverage import Coverage
from generator.site import charts, export, people
from generator.site.csv_files import daily_csv, no_nul, usage_csv
from generator.site.decisions import View
from generator.site.export import BuildMeta
from generator.site.report import WindowReport
from generator.usage import WINDOW_LABELS, iso
from generator.words import listing, plural

SCHEMA_PATH = Path(__file__).parent.parent / "data" / "usage.schema.json"
INDEX_WINDOW = "7d"
CHART_JS = "vendor/chart.umd.min.js"
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                   0x2028: "\\u2028", 0x2029: "\\u2029"}  # fmt: skip


def fingerprint_assets(folder: Path) -> dict[str, tuple[str, bytes]]:
    """Map each asset's name to its content-hashed path and bytes (cache-forever names)."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        data = path.read_bytes()
        rel = path.relative_to(folder).as_posix()
        stem, dot, ext = rel.rpartition(".")
        digest = hashlib.sha256(data).hexdigest()[:10]
        out[rel] = (f"assets/{stem}.{digest}.{ext}" if dot else f"assets/{rel}.{digest}", data)
    return out


def script_json(value: Any) -> Markup:
    """Serialise `value` for a `<script type="application/json">` block; no string can break out."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    return Markup(text.translate(_SCRIPT_ESCAPES))


def format_usd(amount: Decimal | float) -> str:
    """Format dollars for people: cents, or four places below one cent."""
    value = Decimal(str(amount))
    if value == 0:
        return "$0.00"
    sign, value = ("-", -value) if value < 0 else ("", value)
    if value < Decimal("0.01"):
        return f"{sign}${value:.4f}"
    return f"{sign}${value:,.2f}"


def local_time(moment: datetime, tz: str, minutes: bool = False) -> str:
    """Format a moment for people in the report's time zone: `07:00 UTC, 27 Nov 2026`."""
    local = moment.astimezone(ZoneInfo(tz))
    return local.strftime(("%H:%M" if minutes else "%H:00") + " %Z, %d %b %Y")


def format_cost(c: Counters) -> str:
    """Format an estimate: `$1.20`, `$1.20 (inferred)`, `$1.20 + unpriced`, or `unpriced` (never a false $0)."""
    if c.priced_nothing:
        return "unpriced"
    text = format_usd(c.cost)
    if c.inferred_invocations:
        text += " (inferred)"  # a Claude family's price, not the model's own: see the notice
    return text if c.cost_complete else f"{text} + unpriced"


def format_int(value: int) -> str:
    return f"{value:,}"


def compact(value: int | Decimal) -> str:
    """A count for a KPI or an axis: exact below 10,000, else 12.3k, 5M, 2.6B."""
    v = Decimal(value)
    for size, unit in ((Decimal(10**9), "B"), (Decimal(10**6), "M"), (Decimal(10**3), "k")):
        if abs(v) >= size and abs(v) >= 10_000:
            text = f"{v / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{int(v):,}"


def compact_cost(c: Counters) -> str:
    """A cost for a KPI: `$1.2k` from $10,000 on (the tables keep every cent), with the unpriced marks."""
    if c.priced_nothing or c.cost < 10_000:
        return format_cost(c)
    text = "$" + compact(c.cost)
    return text if c.cost_complete else f"{text} + unpriced"


def change(now: Counters, before: Counters | None, field: str = "cost") -> str:
    """The change against the previous period: `+$12.30 (+15%)`, minus-signed when down, `new` or `no change`."""
    if before is None or (getattr(before, field) == 0 and getattr(now, field) != 0):
        return "new" if getattr(now, field) else "\u2013"
    a, b = Decimal(getattr(now, field)), Decimal(getattr(before, field))
    diff = a - b
    if diff == 0:
        return "no change"
    sign = "+" if diff > 0 else "\u2212"  # a true minus sign
    amount = format_usd(abs(diff)) if field == "cost" else f"{abs(int(diff)):,}"
    return f"{sign}{amount} ({sign}{abs(diff) * 100 / b:.0f}%)"


def format_pct(part: Decimal | int, whole: Decimal | int) -> str:
    return f"{(Decimal(part) * 100 / Decimal(whole)):.1f}%" if whole else "-"


def _no_nul(value: Any) -> Any:
    # every value a page writes passes here: look before replacing (Markup's replace escapes, and costs 2 µs)
    return no_nul(value) if isinstance(value, str) and "\x00" in value else value


def make_env(templates: Path, assets: dict[str, str]) -> jinja2.Environment:
    """Build the Jinja2 environment with every filter and global registered explicitly."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        auto_reload=False,  # a template is read once a build, not looked at on disk at every page
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.do"],
        finalize=_no_nul,
    )
    env.filters.update(
        usd=format_usd,
        cost=format_cost,
        short=charts.shorten,
        num=format_int,
        pct=format_pct,
        plural=plural,
        listing=listing,
        compact=compact,
        compact_cost=compact_cost,
        script_json=script_json,
        isotime=iso,
        routes=lambda g: sorted(g.cells.names_in("route")) if g.cells else [],  # a model group's routes
    )
    env.globals.update(asset=assets.__getitem__, window_labels=WINDOW_LABELS, local_time=local_time, change=change,
                       zip=zip, kind_labels=KIND_LABELS)  # fmt: skip
    return env


def render_site(
    views: Sequence[View],
    meta: BuildMeta,
    billing: Mapping[str, Reconciliation] | None = None,
    covered: Mapping[str, Coverage] | None = None,
    cores: int = 1,
) -> Iterator[tuple[str, bytes]]:
    """Render every page and data file of the site, one (site path, bytes) at a time: a file is let go once
    written, so the site is never held whole. With two `cores` or more, a fork makes every other person's files."""
    assets = fingerprint_assets(package_dir("assets"))
    if CHART_JS not in assets:
        raise GeneratorError(
            f"assets/{CHART_JS} is missing: reinstall bedrock-usage-site, or in a checkout run `python hatch_build.py`"
        )
    env = make_env(package_dir("templates"), {name: path for name, (path, _) in assets.items()})
    yield from assets.values()
    common = {"meta": meta, "windows": meta.windows, "book": meta.book, "root": "", "slug": export.slug,
              "has_teams": any(v.teams for v in views)}  # fmt: skip
    palette = charts.colours(charts.drawn_names(views, meta.book))  # one colour per name on every page
    dimensions = meta.dimensions
    pages: dict[str, dict[str, Any]] = {}  # each window's page context, by window key
    week = INDEX_WINDOW if INDEX_WINDOW in meta.windows else meta.windows[0]
    for view in views:
        rep = view.rep
        key = rep.window.key
        bill = (billing or {}).get(key)
        doc = export.usage_payload(view, meta, bill, (covered or {}).get(key))
        yield f"data/usage-{key}.json", export.dump(doc)
        said = doc["coverage"]  # the page says what the JSON says; the rest of the document goes now
        del doc
        yield f"data/usage-{key}.csv", usage_csv(rep, meta, dimensions)
        yield f"data/daily-{key}.csv", daily_csv(rep, meta)
        page = {
            "rep": rep,
            "view": view,
            "current": key,
            "bill": bill,
            "coverage": said,
            "caller_named": identity.caller_named(rep.identities),
            **common,
        }
        pages[key] = page
        overview = {"charts": charts.chart_payload(view, meta.book, palette),
                    "chart_list": charts.chart_list(view, meta.book)}  # fmt: skip
        usage = _render(env, "usage.html", page | overview)
        if key == week and "mtd" not in meta.windows:
            yield "index.html", usage  # with no month to date, the landing page is the week's
        yield f"usage-{key}.html", usage
        yield f"matrix-{key}.html", _render(env, "matrix.html", page | {"matrix": matrix(rep, view.team_of)})
    if "mtd" in pages:
        yield "index.html", _home(env, views, pages)
    stale = {p for p in meta.book.prices if export.is_stale(p, meta.generated_at.date())}
    used = {name for v in views for m in v.rep.models for name in (m.name, meta.book.alias_of(m.name))}
    used |= {i.priced_as for v in views for i in v.rep.inferred}
    helpers = {"stale": stale, "cells": price_cells, "long_context": long_context,
               "used_prices": [p for p in meta.book.prices if p.model in used],
               "other_prices": [p for p in meta.book.prices if p.model not in used]}  # fmt: skip
    yield "pricing.html", _render(env, "pricing.html", {"current": "pricing", "rep": None, **helpers, **common})
    yield "data/pricing.json", export.dump(export.pricing_payload(meta))
    yield "data/schema/usage.schema.json", SCHEMA_PATH.read_bytes()
    yield from _people_pages(env, views, meta, common, palette, cores)


def _home(env: jinja2.Environment, views: Sequence[View], pages: Mapping[str, dict[str, Any]]) -> bytes:
    """The landing page: where the month stands (spend against budget, the forecast, who is over or near), its
    pace against last month's, and who moved most; the window views follow."""
    by_key = {v.rep.window.key: v for v in views}
    mtd = by_key["mtd"]
    trend = by_key.get("7d", mtd)  # the movers: a week against the week before, the month's when no week is built
    pace = charts.month_pace(mtd, by_key.get("last-month"))
    total = next((b for b in mtd.budgets if b.scope == "total"), None)
    flagged = sorted((b for b in mtd.budgets if b.severity != "ok" and b.scope != "total"),
                     key=lambda b: (b.severity != "over", b.level != "over", -b.actual, b.name))  # fmt: skip
    context = pages["mtd"] | {"pace": pace, "total_budget": total, "flagged": flagged,
                              "movers": charts.movers(trend), "trend": trend, "charts": pace}  # fmt: skip
    return _render(env, "home.html", context)


def _people_pages(
    env: jinja2.Environment,
    views: Sequence[View],
    meta: BuildMeta,
    common: dict[str, Any],
    palette: dict[str, str],
    cores: int,
) -> Iterator[tuple[str, bytes]]:
    """A page and a data file per person and per team, one person or team at a time; with two `cores`, a fork
    makes every other one's. (Not the windows' pages: a fork making those reads every cell of the report, and
    copied 150 MB of it at 2,000 people; one making a person's reads that person's own.)"""
    found = people.Directory(views, meta.dimensions)
    sub = common | {"root": "../", "current": "person", "rep": None, "views": views}

    def person(name: str) -> Iterator[tuple[str, bytes]]:
        days = found.days(name)  # read once: the file and the page's chart both show them
        doc = found.person(name, meta, days)
        page = sub | {"person": name, "doc": doc, "rows": found.rows(name),
                      "chart": found.chart(days, meta.book.name_of, palette)}  # fmt: skip
        yield f"data/person/{export.slug(name)}.json", export.dump(doc)
        yield f"person/{export.slug(name)}.html", _render(env, "person.html", page)

    def team(team: str) -> Iterator[tuple[str, bytes]]:
        doc = found.team(team, meta)
        yield f"data/team/{export.slug(team)}.json", export.dump(doc)
        page = sub | {"team": team, "doc": doc, "chart": found.team_chart(team), "wide": found.wide.rep.window,
                      "rows": found.rows(team, "teams")}  # fmt: skip
        yield f"team/{export.slug(team)}.html", _render(env, "team.html", page)

    yield from interleaved(list(found.everyone()), person, cores)
    yield from interleaved(list(found.team_names()), team, cores)


def _render(env: jinja2.Environment, template: str, context: dict[str, Any]) -> bytes:
    return env.get_template(template).render(**context).encode()


def matrix(rep: WindowReport, team_of: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Person x model grid of counters (routes merged), with totals and a cost level per cell; and, with teams,
    the same grid by team."""
    models = [m.name for m in rep.models]
    parts: dict[tuple[str, str], list[Counters]] = {}
    for c in rep.cells:
        parts.setdefault((c.person, c.model), []).append(c.counters)
    grid = {key: add_counters(cs) for key, cs in parts.items()}
    empty = Counters()
    rows = [{"person": u.name, "total": u.counters, "cells": [grid.get((u.name, m), empty) for m in models]}
            for u in rep.users]  # fmt: skip
    team_rows: list[dict[str, Any]] = []
    if team_of:
        by_team: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_team.setdefault(team_of.get(str(row["person"]), ""), []).append(row)
        for team, members in sorted(by_team.items(), key=lambda t: -add_counters(r["total"] for r in t[1]).cost):
            cells = [add_counters(r["cells"][i] for r in members) for i in range(len(models))]
            team_rows.append({"team": team, "total": add_counters(r["total"] for r in members), "cells": cells})
    scale = _shade(rows)
    _shade(team_rows)  # a grid of its own: team sums shade against each other
    return {"models": models, "rows": rows, "totals": [m.counters for m in rep.models], "total": rep.totals,
            "teams": team_rows, "low": scale[0], "high": scale[1]}  # fmt: skip


def _shade(rows: list[dict[str, Any]]) -> tuple[Decimal, Decimal]:
    """Give each row's cells their shade (as (counters, shade) pairs); return the lowest and highest cost shaded."""
    positive = [c.cost for row in rows for c in row["cells"] if c.cost > 0]
    low, high = (min(positive), max(positive)) if positive else (Decimal(0), Decimal(0))
    shade = shading(low, high)
    for row in rows:
        row["cells"] = [(c, "unpriced" if c.priced_nothing else shade(c.cost)) for c in row["cells"]]
    return low, high


SHADES = 9


def shading(low: Decimal, high: Decimal) -> Callable[[Decimal], str]:
    """A cost's shade, `1` (lowest) to `9` (highest) on a log scale between the lowest and highest cost, or `none`
    for nothing spent: $2 and $20 differ by a third of the scale, never by a bucket boundary's luck."""
    span = math.log(high / low) if low > 0 and high > low else 0.0

    def shade(cost: Decimal) -> str:
        if cost <= 0:
            return "none"
        if not span:
            return str((SHADES + 1) // 2)
        at = math.log(min(max(cost, low), high) / low) / span
        return str(1 + round(at * (SHADES - 1)))

    return shade
