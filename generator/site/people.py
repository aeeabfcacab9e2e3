"""A file and a page per person and per team: their windows against the previous period, their daily
cost by model, their models, their share of the team, errors and what cache reads saved them.

Owns what these files say (the widest window's days, 90 by default). `Directory` indexes the build's
views once, so thousands of people cost one pass each, not one pass per person. Pure.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from generator.counters import Counters
from generator.site import charts
from generator.site.decisions import View
from generator.site.export import (
    SCHEMA_VERSION,
    BuildMeta,
    budget_payload,
    counters,
    forecast_payload,
    slug,
    usd,
    usd_units,
)
from generator.site.report import Cell, Group, by_cost, dimension, group_cells, widest
from generator.site.series import SERIES, Days, Series
from generator.usage import iso


class PersonDays(NamedTuple):
    """A person's days in the widest window: by model, the rows `Series.of` gives, and each row's cost in dollars."""

    days: dict[str, Days]
    dollars: dict[str, list[float]]


class Directory:
    """Every person and team of the build, with their groups, days and budgets looked up by name."""

    def __init__(self, views: Sequence[View], dimensions: Sequence[str] = ()) -> None:
        self.views = views
        wide = widest((v.rep.window for v in views), ZoneInfo(views[0].rep.timezone))
        self.wide = next(v for v in views if v.rep.window == wide)
        self.users = [{g.name: g for g in v.rep.users} for v in views]
        self.teams = [{g.name: g for g in v.teams} for v in views]
        self.series = self.wide.rep.series or Series(self.wide.rep.days)
        self.principals: dict[str, list[str]] = defaultdict(list)
        for identity in self.wide.rep.identities:
            self.principals[identity.person].append(identity.principal)
        self.team_of = next((v.team_of for v in views if v.team_of), {})
        # each window's teams' people: a person's calls for that team (a call's team is its own)
        self.members = [{t.name: group_cells(t.cells, "person") if t.cells else () for t in v.teams} for v in views]
        self.in_team = [{(t, g.name): g.counters.cost for t, found in m.items() for g in found} for m in self.members]
        # the widest window's calls of each person by the principal they came through and by breakdown value
        self.via = self.wide.via
        shown = {name for name, _ in self.wide.dims}
        found: dict[str, dict[str, list[Group]]] = defaultdict(lambda: defaultdict(list))
        calls = self.wide.rep.attributed
        for i, name in enumerate(dimensions):
            if name in shown and calls and dimension(i) in calls.columns:
                for (person, value), c in calls.totals(("person", dimension(i))):
                    found[person][name].append(Group(value, c, ()))
        self.dims = {person: {name: by_cost(groups) for name, groups in names.items() if any(g.name for g in groups)}
                     for person, names in found.items()}  # fmt: skip

    def everyone(self) -> list[str]:
        return sorted({name for users in self.users for name in users})

    def team_names(self) -> list[str]:
        return sorted({name for teams in self.teams for name in teams if name})

    def days(self, name: str) -> PersonDays:
        """A person's days in the widest window by model, and their cost in dollars: read once for the person's file
        and the page's chart."""
        days = self.series.of(name)
        costs = [d[:, -1] for d in days.values()]
        dollars = usd_units(np.concatenate(costs), self.series.exponent) if costs else []
        ends = itertools.accumulate(len(c) for c in costs)
        split = (dollars[end - len(c) : end] for c, end in zip(costs, ends, strict=True))
        return PersonDays(days, dict(zip(days, split, strict=True)))

    def person(self, name: str, meta: BuildMeta, days: PersonDays) -> dict[str, Any]:
        """`data/person/<slug>.json`: one person across every window, and their `days` in the widest."""
        team = self.team_of.get(name, "")
        windows = {}
        for i, v in enumerate(self.views):
            mine = self.users[i].get(name)
            before = v.before("users", name)
            budget = v.budget("person", name)
            windows[v.rep.window.key] = {
                **counters(mine.counters if mine else Counters()),
                "previous": counters(before.counters) if before else None,
                "share_of_team": _share(self.in_team[i].get((team, name), Decimal(0)), self.teams[i].get(team)),
                "forecast": _projection(v, name),
                "budget": budget_payload(budget) if budget else None,
            }
        wide = self.users[self.views.index(self.wide)].get(name)
        name_of = meta.book.name_of
        return {
            "schema_version": SCHEMA_VERSION, "person": name, "team": team, "generated_at": iso(meta.generated_at),
            "windows": windows,
            "models": [{"model": c.model, "name": name_of(c.model), "route": c.route, **counters(c.counters),
                        "price_source": self.wide.rep.price_source(c.model)} for c in by_cost_cells(wide)],
            "daily_window": self.wide.rep.window.key,
            "days": [d.isoformat() for d in self.wide.rep.days],
            "daily": self._series(days, name_of),
            "principals": self.principals.get(name, []),
            "via": [{"name": g.name, **counters(g.counters)} for g in self.via.get(name, ())],
            "tags": {dim: [{"value": g.name, **counters(g.counters)} for g in groups]
                     for dim, groups in self.dims.get(name, {}).items()},
        }  # fmt: skip

    def _series(self, days_of: PersonDays, name_of: Callable[[str], str]) -> list[dict[str, Any]]:
        """Each model's days as columns, aligned with `days` (compact: 90 days x 10 models is ~25 KB)."""
        width = len(self.wide.rep.days)
        out = []
        for model, days in sorted(days_of.days.items()):
            at = days[:, 0]
            columns = {"cost_usd": _placed(width, at.tolist(), days_of.dollars[model])}
            counts = np.zeros((len(SERIES), width), days.dtype)  # the days without calls: 0
            counts[:, at] = days[:, 1 : 1 + len(SERIES)].T
            columns.update(zip(SERIES, counts.tolist(), strict=True))
            out.append({"model": model, "name": name_of(model), **columns})
        return out

    def rows(self, name: str, kind: str = "users") -> list[tuple[str, Counters | None, Counters | None]]:
        """A person's (or, with kind "teams", a team's) window table: (label, counters, the previous period's)."""
        out = []
        for i, v in enumerate(self.views):
            mine, before = (self.users if kind == "users" else self.teams)[i].get(name), v.before(kind, name)
            out.append((v.rep.window.label, mine.counters if mine else None, before.counters if before else None))
        return out

    def chart(self, days_of: PersonDays, book_name: Callable[[str], str], palette: dict[str, str]) -> dict[str, Any]:
        """The person page's chart: cost per day in the widest window, one series per model."""
        rep = self.wide.rep
        series: dict[str, list[float]] = {}
        for model, days in days_of.days.items():
            series[model] = _placed(len(rep.days), days[:, 0].tolist(), days_of.dollars[model], 0.0)
        ranked = sorted(series, key=lambda m: -sum(series[m]))
        lines = [{"label": book_name(m), "data": series[m]} for m in ranked]  # dollars to the millionth already
        return {
            "days": [d.isoformat() for d in rep.days],
            "partial_days": [i for i, d in enumerate(rep.days) if d in self.wide.partial_days],
            "daily_cost": lines,
            "colors": charts.distinct(palette, [book_name(m) for m in ranked]),
        }

    def team_chart(self, team: str) -> dict[str, Any]:
        """The team page's chart: the team's cost per day in the widest window (its calls, as attributed)."""
        rep = self.wide.rep
        cost = [usd(rep.team_days.get((team, d), Decimal(0))) for d in rep.days]
        return {
            "days": [d.isoformat() for d in rep.days],
            "partial_days": [i for i, d in enumerate(rep.days) if d in self.wide.partial_days],
            "daily_cost": [{"label": f"team {team}", "data": cost}] if any(cost) else [],
            "colors": {f"team {team}": charts.PALETTE[0]},
        }

    def team(self, team: str, meta: BuildMeta) -> dict[str, Any]:
        """`data/team/<slug>.json`: one team across every window, with its people."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "team": team,
                               "generated_at": iso(meta.generated_at), "windows": {}}  # fmt: skip
        for i, v in enumerate(self.views):
            group = self.teams[i].get(team)
            before = v.before("teams", team)
            members = self.members[i].get(team, ())
            budget = v.budget("team", team)
            projections = forecast_payload(v.forecast)["teams"] if v.forecast else []
            projection = next((t for t in projections if t["team"] == team), None)
            out["windows"][v.rep.window.key] = {
                **counters(group.counters if group else Counters()),
                "previous": counters(before.counters) if before else None,
                "people": [{"name": u.name, "person_file": f"person/{slug(u.name)}.json", **counters(u.counters)}
                           for u in members],
                "forecast": projection,
                "budget": budget_payload(budget) if budget else None,
            }  # fmt: skip
        return out


def _placed(width: int, at: Sequence[int], values: Sequence[Any], empty: Any = 0) -> list[Any]:
    """`width` cells of `empty`, but `values` at the places `at` (a column of days with gaps)."""
    cells = [empty] * width
    for i, value in zip(at, values, strict=True):
        cells[i] = value
    return cells


def by_cost_cells(group: Group | None) -> list[Cell]:
    """A group's cells by cost, highest first (then calls, model and route: a stable order)."""
    cells = group.cells if group else ()
    return sorted(cells, key=lambda c: (-c.counters.cost, -c.counters.invocations, c.model, c.route))


def _share(cost: Decimal, team: Group | None) -> float | None:
    if team is None or team.counters.cost <= 0:
        return None
    return round(float(cost / team.counters.cost), 4)


def _projection(v: View, name: str) -> dict[str, float] | None:
    if v.forecast is None or name not in v.forecast.people:
        return None
    p = v.forecast.people[name]
    return {"projected_usd": usd(p.projected), "low_usd": usd(p.low), "high_usd": usd(p.high)}
