"""The report model: what one window's pages, JSON and CSV say, computed once from costed rows.

Owns grouping by person, model, route and day, and the totals. Pure: takes hourly rows, prices
and identities as data; never formats numbers or writes files.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from generator.counters import Counters, Sum, add_counters
from generator.identity import IdentityAudit
from generator.pricing.cost import CostedRow
from generator.usage import Window, local_day


@dataclass(frozen=True)
class Cell:
    """One person's use of one model on one route."""

    person: str
    model: str
    route: str
    counters: Counters


@dataclass(frozen=True)
class Group:
    """A person or a model with its totals and its cells."""

    name: str
    counters: Counters
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class DayCell:
    """One person's use of one model (routes merged) on one local day."""

    day: date
    person: str
    model: str
    counters: Counters


@dataclass(frozen=True)
class Unpriced:
    """Tokens and calls that no price covered, for one model as logged."""

    model: str
    route: str
    tokens: int
    reason: str
    invocations: int = 0


@dataclass(frozen=True)
class Inferred:
    """Calls of a model with no price of its own, priced as another model of its family."""

    model: str  # as logged
    priced_as: str
    invocations: int


@dataclass(frozen=True)
class WindowReport:
    """Everything one window shows."""

    window: Window
    timezone: str
    totals: Counters
    users: tuple[Group, ...]  # by cost, highest first
    models: tuple[Group, ...]  # base models, routes merged, by cost
    cells: tuple[Cell, ...]  # person x model x route
    daily: tuple[DayCell, ...]
    days: tuple[date, ...]
    unpriced: tuple[Unpriced, ...]
    identities: tuple[IdentityAudit, ...]
    inferred: tuple[Inferred, ...] = ()
    price_sources: Mapping[str, str] = field(default_factory=dict)  # base model -> price_source
    accounts: tuple[Group, ...] = ()  # AWS accounts the calls were made in, by cost ("" where unknown)

    def price_source(self, model: str) -> str:
        """How a model's cost here was priced: config, price-list, book, inferred, mixed, or "" (unpriced)."""
        return self.price_sources.get(model, "")


def _hour(row: CostedRow) -> int:
    return row.hour


class _Parts:
    """One sum per row of a window, into (day, person, model, route, account), and what the rows say beside it."""

    def __init__(self) -> None:
        self.sums: dict[tuple[date, str, str, str, str], Sum] = {}
        self.unpriced: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        self.inferred: dict[tuple[str, str], int] = defaultdict(int)
        self.sources: dict[str, set[str]] = defaultdict(set)
        self.principals: set[str] = set()

    def add_all(self, rows: Iterable[CostedRow], tz: ZoneInfo) -> None:
        day_of: dict[int, date] = {}
        for r in rows:
            day = day_of.get(r.hour)
            if day is None:
                day = day_of[r.hour] = local_day(r.hour, tz)
            key = (day, r.person, r.model, r.route, r.account)
            part = self.sums.get(key)
            if part is None:
                part = self.sums[key] = Sum()
            part.add(r)
            self.principals.add(r.principal)
            if r.unpriced_tokens or r.unpriced_invocations:
                seen = self.unpriced[(r.logged_model, r.route, r.unpriced_reason)]
                seen[0] += r.unpriced_tokens
                seen[1] += r.unpriced_invocations
            if r.price_source:
                self.sources[r.model].add(r.price_source)
                if r.inferred_from:
                    self.inferred[(r.logged_model, r.inferred_from)] += r.invocations


def summarize(
    costed: Sequence[CostedRow],
    window: Window,
    tz: ZoneInfo,
    people: Mapping[str, IdentityAudit],
    days: bool = True,
) -> WindowReport:
    """Group the costed rows (sorted by hour) that fall in `window`; without `days`, no per-day cells (a previous
    period's report needs only its groups)."""
    lo = bisect.bisect_left(costed, window.start.timestamp(), key=_hour)
    hi = bisect.bisect_left(costed, window.end.timestamp(), key=_hour)
    # One sum per row, into (day, person, model, route, account); everything else is summed from those.
    parts = _Parts()
    parts.add_all(costed[lo:hi], tz)
    total = Sum()
    accounts: dict[str, Sum] = defaultdict(Sum)
    cells: dict[tuple[str, str, str], Sum] = defaultdict(Sum)
    daily: dict[tuple[date, str, str], Sum] = {}
    for (day, person, model, route, account), part in parts.sums.items():
        total.merge(part)
        accounts[account].merge(part)
        cells[(person, model, route)].merge(part)
        if not days:
            continue
        merged = daily.get((day, person, model))
        if merged is None:
            daily[(day, person, model)] = part  # most days see one route: share the sum, no copy
        else:
            merged.merge(part)  # `part` was already counted above; only the day's sum grows
    cell_list = tuple(Cell(p, m, rt, s.freeze()) for (p, m, rt), s in sorted(cells.items()))
    unpriced, inferred = sorted(parts.unpriced.items()), sorted(parts.inferred.items())
    return WindowReport(
        window=window,
        timezone=tz.key,
        totals=total.freeze(),
        users=_groups(cell_list, lambda c: c.person),
        models=_groups(cell_list, lambda c: c.model),
        cells=cell_list,
        daily=tuple(DayCell(d, p, m, s.freeze()) for (d, p, m), s in sorted(daily.items())),
        days=_days(window, tz),
        unpriced=tuple(Unpriced(m, rt, n, why, calls) for (m, rt, why), (n, calls) in unpriced),
        identities=tuple(people[p] for p in sorted(parts.principals)),
        inferred=tuple(Inferred(m, priced_as, n) for (m, priced_as), n in inferred),
        price_sources={m: _one_source(found) for m, found in parts.sources.items()},
        accounts=_by_cost(Group(a, s.freeze(), ()) for a, s in accounts.items()),
    )


def _one_source(found: set[str]) -> str:
    if "inferred" in found:
        return "inferred"
    return found.pop() if len(found) == 1 else "mixed"


def _groups(cells: Sequence[Cell], key: Callable[[Cell], str]) -> tuple[Group, ...]:
    by: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        by[key(cell)].append(cell)
    return _by_cost(Group(name, add_counters(c.counters for c in group), tuple(group)) for name, group in by.items())


def _by_cost(groups: Iterable[Group]) -> tuple[Group, ...]:
    """Groups by cost, highest first (then calls, then name: a stable order)."""
    return tuple(sorted(groups, key=lambda g: (-g.counters.cost, -g.counters.invocations, g.name)))


def _days(window: Window, tz: ZoneInfo) -> tuple[date, ...]:
    first = window.start.astimezone(tz).date()
    last = (window.end - timedelta(hours=1)).astimezone(tz).date()
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
