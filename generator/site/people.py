"""A file and a page per person and per team: their windows against the previous period, their daily
cost by model, their models, their share of the team, errors and what cache reads saved them.

Owns what these files say (the widest window's days, 90 by default); pure: takes the build's views.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from generator.site.decisions import View
from generator.site.export import SCHEMA_VERSION, BuildMeta, budget_payload, counters, forecast_payload, slug, usd
from generator.site.report import Counters, Group
from generator.usage import iso


def widest(views: Sequence[View]) -> View:
    """The view with the most days (90d when built): person and team pages draw its days."""
    return max(views, key=lambda v: (len(v.rep.days), v.rep.window.key == "90d"))


def everyone(views: Sequence[View]) -> list[str]:
    """Every person in any window, by name."""
    return sorted({u.name for v in views for u in v.rep.users})


def teams(views: Sequence[View]) -> list[str]:
    """Every team in any window (none when no team rules are set), by name."""
    return sorted({t.name for v in views for t in v.teams if t.name})


def _find(groups: Sequence[Group], name: str) -> Group | None:
    return next((g for g in groups if g.name == name), None)


def person_payload(name: str, views: Sequence[View], meta: BuildMeta) -> dict[str, Any]:
    """`data/person/<slug>.json`: one person across every window, and their days in the widest."""
    wide = widest(views)
    team = next((v.team_of.get(name, "") for v in views if name in v.team_of), "")
    windows = {}
    for v in views:
        mine = _find(v.rep.users, name)
        before = v.before("users", name)
        team_group = _find(v.teams, team) if team else None
        windows[v.rep.window.key] = {
            **counters(mine.counters if mine else Counters()),
            "previous": counters(before.counters) if before else None,
            "share_of_team": _share(mine.counters.cost if mine else Decimal(0), team_group),
            "forecast": _forecast(v, name),
            "budget": next((budget_payload(b) for b in v.budgets if b.scope == "person" and b.name == name), None),
        }
    mine = _find(wide.rep.users, name)
    return {
        "schema_version": SCHEMA_VERSION, "person": name, "team": team, "generated_at": iso(meta.generated_at),
        "windows": windows,
        "models": [{"model": c.model, "name": meta.book.name_of(c.model), "route": c.route, **counters(c.counters)}
                   for c in (mine.cells if mine else ())],
        "daily_window": wide.rep.window.key,
        "days": [d.isoformat() for d in wide.rep.days],
        "daily": [{"date": d.day.isoformat(), "model": d.model, "name": meta.book.name_of(d.model),
                   **counters(d.counters)} for d in wide.rep.daily if d.person == name],
        "principals": [i.principal for i in wide.rep.identities if i.person == name],
    }  # fmt: skip


def _share(cost: Decimal, team: Group | None) -> float | None:
    if team is None or team.counters.cost <= 0:
        return None
    return round(float(cost / team.counters.cost), 4)


def _forecast(v: View, name: str) -> dict[str, float] | None:
    if v.forecast is None or name not in v.forecast.people:
        return None
    p = v.forecast.people[name]
    return {"projected_usd": usd(p.projected), "low_usd": usd(p.low), "high_usd": usd(p.high)}


def daily_by_model(name: str, view: View, book_name: Any, palette: dict[str, str]) -> dict[str, Any]:
    """The person page's chart: cost per day, one series per model."""
    days = [d.isoformat() for d in view.rep.days]
    index = {d: i for i, d in enumerate(view.rep.days)}
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(days))
    for d in view.rep.daily:
        if d.person == name:
            series[d.model][index[d.day]] += usd(d.counters.cost)
    ranked = sorted(series, key=lambda m: -sum(series[m]))
    lines = [{"label": book_name(m), "data": [round(x, 6) for x in series[m]]} for m in ranked]
    partial = [i for i, d in enumerate(view.rep.days) if d in view.partial_days]
    colors = {line["label"]: palette[line["label"]] for line in lines if line["label"] in palette}
    return {"days": days, "partial_days": partial, "daily_cost": lines, "colors": colors}


def team_payload(team: str, views: Sequence[View], meta: BuildMeta) -> dict[str, Any]:
    """`data/team/<slug>.json`: one team across every window, with its people."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "team": team, "generated_at": iso(meta.generated_at),
                           "windows": {}}  # fmt: skip
    for v in views:
        group = _find(v.teams, team)
        before = v.before("teams", team)
        members = [u for u in v.rep.users if v.team_of.get(u.name) == team]
        out["windows"][v.rep.window.key] = {
            **counters(group.counters if group else Counters()),
            "previous": counters(before.counters) if before else None,
            "people": [{"name": u.name, "person_file": f"person/{slug(u.name)}.json", **counters(u.counters)}
                       for u in members],
            "forecast": next((t for t in forecast_payload(v.forecast)["teams"] if t["team"] == team), None)
            if v.forecast else None,
            "budget": next((budget_payload(b) for b in v.budgets if b.scope == "team" and b.name == team), None),
        }  # fmt: skip
    return out
