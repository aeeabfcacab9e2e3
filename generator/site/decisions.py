"""What a window's pages add for decisions: the previous period, teams, the 1d hours, partial days, the
month-end forecast and where each budget stands.

Owns `View` (one window's report with everything beside it) and the arithmetic of the forecast:
the run rate so far, projected over the hours left in the month, with a range from how much the
daily spend varied. Pure: takes reports and costed rows; never formats or writes.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from generator.budgets import Budgets, Status, statuses
from generator.identity import IdentityAudit
from generator.site.cube import DayCube
from generator.site.report import Group, WindowReport, by_cost, dimension
from generator.usage import HOUR, Window

Z90 = 1.645  # a 90% range, if days were independent and alike
NO_TEAM = ""


@dataclass(frozen=True)
class Projection:
    """Month-end cost of one scope: spent so far, projected, and a range."""

    actual: Decimal
    projected: Decimal
    low: Decimal
    high: Decimal


@dataclass(frozen=True)
class Forecast:
    """The month-to-date window's projection to the end of the month, in total and per person and team."""

    month_end: datetime
    elapsed_hours: int
    remaining_hours: int
    days_measured: int  # whole days whose spend set the range (fewer than 3: the range is wide)
    total: Projection
    people: Mapping[str, Projection]
    teams: Mapping[str, Projection]


@dataclass(frozen=True)
class View:
    """One window's report and what its pages show beside it."""

    rep: WindowReport
    previous: WindowReport | None = None
    previous_complete: bool = True  # False when the logs start after the previous period begins
    logs_start: datetime | None = None  # set when the data begins after the window starts
    team_of: Mapping[str, str] = field(default_factory=dict)  # person -> team ("" none)
    teams: tuple[Group, ...] = ()
    partial_days: frozenset[date] = frozenset()
    hourly: tuple[tuple[int, str, Decimal], ...] = ()  # 1d: (hour, person, cost)
    forecast: Forecast | None = None
    budgets: tuple[Status, ...] = ()
    prior: Mapping[tuple[str, str], Group] = field(default_factory=dict)  # (kind, name) -> previous period's group
    # each breakdown dimension (a tag key, the inference profile) with its values' groups, where any call has one
    dims: tuple[tuple[str, tuple[Group, ...]], ...] = ()
    via: Mapping[str, tuple[Group, ...]] = field(default_factory=dict)  # person -> the principals that called for them

    def before(self, kind: str, name: str) -> Group | None:
        """The previous period's group of this kind (users, models, teams, accounts) and name, if any."""
        return self.prior.get((kind, name))

    def budget(self, scope: str, name: str) -> Status | None:
        """This window's budget status of a person or a team (scope "person" or "team") and name, if it has one."""
        return self._budget_of.get((scope, name))

    @functools.cached_property
    def _budget_of(self) -> dict[tuple[str, str], Status]:
        """The statuses by scope and name, looked up once a row (a scan of them all took people x budgets steps)."""
        return {(b.scope, b.name): b for b in self.budgets}


def _bare(group: Group) -> Group:
    """A previous period's group as the pages read it: its counters, not the cells they were summed from (which a
    2,000-person period holds tens of megabytes of)."""
    return Group(group.name, group.counters, ())


def previous_window(w: Window) -> Window:
    """The window of the same length just before `w`."""
    return Window(w.key, w.start - (w.end - w.start), w.start)


def team_groups(rep: WindowReport) -> tuple[Group, ...]:
    """Teams by cost, each with the cells of the calls made for it (a call's team is its own: see attribution);
    empty when no call has a team."""
    calls = rep.attributed
    if not calls or not any(calls.names_in("team")):
        return ()
    members = calls.summed(("team", "person", "model", "route"))
    groups = [Group(team, cells.total(), cells) for team, cells in members.groups("team")]
    return tuple(sorted(groups, key=lambda g: (-g.counters.cost, g.name)))


def dimension_groups(rep: WindowReport, names: Sequence[str]) -> tuple[tuple[str, tuple[Group, ...]], ...]:
    """Each breakdown dimension's values by cost ("" for calls without one), for dimensions any call has a value of."""
    calls, out = rep.attributed, []
    for i, name in enumerate(names):
        sums = calls.totals((dimension(i),)) if calls and dimension(i) in calls.columns else []
        if any(value for (value,), _ in sums):
            out.append((name, by_cost(Group(value, c, ()) for (value,), c in sums)))
    return tuple(out)


def via_groups(rep: WindowReport) -> dict[str, tuple[Group, ...]]:
    """For each person named by request metadata, the principals (as people) that made their calls, by cost."""
    calls = rep.attributed
    if not calls or not any(calls.names_in("via")):
        return {}
    sums: dict[str, list[Group]] = defaultdict(list)
    for (person, via), c in calls.totals(("person", "via")):
        if via:
            sums[person].append(Group(via, c, ()))
    return {p: by_cost(groups) for p, groups in sums.items()}


def main_teams(teams: Sequence[Group]) -> dict[str, str]:
    """Each person's team: the one most of their cost went to (a person whose calls name several teams is listed
    under each on the team pages; this is the one the matrix and the people table show)."""
    spent: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for team in teams:
        for c in team.cells:
            spent[c.person][team.name] += c.counters.cost
    return {p: min(by, key=lambda t: (-by[t], t == NO_TEAM, t)) for p, by in spent.items()}


def partial_days(w: Window, tz: ZoneInfo) -> frozenset[date]:
    """The window's first and last local days when the window covers only part of them."""
    found = set()
    start, end = w.start.astimezone(tz), w.end.astimezone(tz)
    if (start.hour, start.minute) != (0, 0):
        found.add(start.date())
    if (end.hour, end.minute) != (0, 0):
        found.add(end.date())
    return frozenset(found)


def month_end(w: Window, tz: ZoneInfo) -> datetime:
    """The end of the calendar month (in `tz`) the window starts in."""
    local = w.start.astimezone(tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def forecast(rep: WindowReport, teams: Sequence[Group], tz: ZoneInfo) -> Forecast:
    """Project the month-to-date spend to the month's end from its hourly run rate, with a range."""
    end = month_end(rep.window, tz)
    elapsed = max(1, int((rep.window.end - rep.window.start).total_seconds()) // HOUR)
    remaining = max(0, int((end - rep.window.end).total_seconds()) // HOUR)
    complete = set(rep.days) - partial_days(rep.window, tz)
    per_day: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for (person, on), cost in rep.person_days.items():
        if on in complete:
            per_day[("total", "")][on] += cost
            per_day[("person", person)][on] += cost
    for (team, on), cost in rep.team_days.items():
        if on in complete:
            per_day[("team", team)][on] += cost

    def project(key: tuple[str, str], spent: Decimal) -> Projection:
        days = [per_day[key].get(day, Decimal(0)) for day in sorted(complete)]
        rate = spent / elapsed
        projected = spent + rate * remaining
        if len(days) >= 3:
            values = [float(d) for d in days]
            mean = sum(values) / len(values)
            spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
            width = Decimal(str(Z90 * spread * math.sqrt(remaining / 24)))
        else:  # too few whole days to measure the spread: from nothing more to twice the run rate
            width = rate * remaining
        return Projection(spent, _cents(projected), _cents(max(spent, projected - width)), _cents(projected + width))

    return Forecast(
        end, elapsed, remaining, len(complete),
        project(("total", ""), rep.totals.cost),
        {u.name: project(("person", u.name), u.counters.cost) for u in rep.users},
        {t.name: project(("team", t.name), t.counters.cost) for t in teams},
    )  # fmt: skip


def budget_statuses(budgets: Budgets, rep: WindowReport, teams: tuple[Group, ...], fc: Forecast) -> tuple[Status, ...]:
    """Where each budget stands this month, by spend so far and by forecast."""
    actual = {("total", ""): (rep.totals.cost, rep.totals.cost_complete)}
    actual |= {("team", t.name): (t.counters.cost, t.counters.cost_complete) for t in teams}
    actual |= {("person", u.name): (u.counters.cost, u.counters.cost_complete) for u in rep.users}
    projected = {("total", ""): fc.total.projected}
    projected |= {("team", n): p.projected for n, p in fc.teams.items()}
    projected |= {("person", n): p.projected for n, p in fc.people.items()}
    return tuple(statuses(budgets, actual, projected))


def _cents(v: Decimal) -> Decimal:
    return v.quantize(Decimal("0.01"))


def spread_start(windows: Sequence[Window]) -> datetime:
    """The earliest moment any window or its previous period shows: where the source must start."""
    return min(previous_window(w).start for w in windows)


def periods(windows: Sequence[Window]) -> list[Window]:
    """Every stretch of time the site sums: each window and its previous period."""
    return [*windows, *map(previous_window, windows)]


def make_views(
    cube: DayCube,
    reports: Sequence[WindowReport],
    hourly: Sequence[tuple[int, str, Decimal]],
    people: Mapping[str, IdentityAudit],
    budgets: Budgets,
    dimensions: Sequence[str] = (),
) -> tuple[View, ...]:
    """Each window's report with its previous period, teams, 1d hours (`hourly`), forecast and budgets."""
    teams = [team_groups(rep) for rep in reports]  # each report's teams, once
    widest = max(range(len(reports)), key=lambda i: reports[i].window.end - reports[i].window.start, default=None)
    team_of = main_teams(teams[widest]) if widest is not None else {}
    began = None if cube.began is None else datetime.fromtimestamp(cube.began, UTC)
    tz = cube.tz
    views = []
    for rep, groups in zip(reports, teams, strict=True):
        w = rep.window
        before = previous_window(w)
        previous = cube.report(before, people, days=False)
        fc = forecast(rep, groups, tz) if w.key == "mtd" else None
        previous_teams = team_groups(previous)
        kinds = [
            ("users", previous.users),
            ("models", previous.models),
            ("accounts", previous.accounts),
            ("teams", previous_teams),
            *((f"dim:{n}", g) for n, g in dimension_groups(previous, dimensions)),
        ]
        prior = {(kind, g.name): _bare(g) for kind, found in kinds for g in found}
        previous = replace(previous, users=tuple(map(_bare, previous.users)), models=(), accounts=(), cells=(),
                           attributed=(), identities=())  # fmt: skip
        views.append(View(
            rep, previous, began is not None and began <= before.start,
            began if began is not None and began > w.start else None,
            team_of, groups, partial_days(w, tz),
            tuple(hourly) if w.key == "1d" else (), fc,
            budget_statuses(budgets, rep, groups, fc) if fc is not None and budgets else (), prior,
            dimension_groups(rep, dimensions), via_groups(rep),
        ))  # fmt: skip
    return tuple(views)
