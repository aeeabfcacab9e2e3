"""The report model: what one window's pages, JSON and CSV say, computed once from costed rows.

Owns grouping by person, model, route and day, and the totals. Pure: takes hourly rows, prices
and identities as data; never formats numbers or writes files.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

import numpy as np

from generator.counters import Counters, add_counters
from generator.identity import IdentityAudit
from generator.pricing.cost import dollars
from generator.site.series import Series
from generator.usage import Window

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Cell:
    """One person's use of one model on one route."""

    person: str
    model: str
    route: str
    counters: Counters


@dataclass(frozen=True, slots=True)
class Group:
    """A person or a model with its totals and its cells."""

    name: str
    counters: Counters
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Attributed:
    """One person's use of one model on one route, as attributed: through which principal ("via", when request
    metadata named the person), for which team, and with which value of each breakdown dimension."""

    person: str
    model: str
    route: str
    via: str
    team: str
    dims: tuple[str, ...]
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
    days: tuple[date, ...]
    unpriced: tuple[Unpriced, ...]
    identities: tuple[IdentityAudit, ...]
    inferred: tuple[Inferred, ...] = ()
    price_sources: Mapping[str, str] = field(default_factory=dict)  # base model -> price_source
    accounts: tuple[Group, ...] = ()  # AWS accounts the calls were made in, by cost ("" where unknown)
    # the days summed as the pages read them: by (day, model), and cost by (person, day), each in key order
    day_models: Mapping[tuple[date, str], Counters] = field(default_factory=dict)
    person_days: Mapping[tuple[str, date], Decimal] = field(default_factory=dict)
    attributed: tuple[Attributed, ...] = ()  # the cells split by via, team and dimension values
    team_days: Mapping[tuple[str, date], Decimal] = field(default_factory=dict)  # cost by (team, local day)
    series: Series | None = None  # each person's days by model: the widest window's only (the person pages')

    def price_source(self, model: str) -> str:
        """How a model's cost here was priced: config, price-list, book, inferred, mixed, or "" (unpriced)."""
        return self.price_sources.get(model, "")


class Costs(Mapping[K, Decimal]):
    """Costs held as a column of money units beside their keys' columns, each made Decimal dollars only as it is
    read (a dict of Decimals takes about 250 bytes an entry). A subclass reads its keys, in order (`__iter__`)."""

    _units: np.ndarray
    _exponent: int

    def __len__(self) -> int:
        return len(self._units)

    def items(self) -> ItemsView[K, Decimal]:
        return _CostItems(self)

    def __getitem__(self, key: K) -> Decimal:
        return dollars(int(self._units[self._at[key]]), self._exponent)  # a KeyError for a key it has not

    @functools.cached_property
    def _at(self) -> dict[K, int]:
        """Where each key's cost is: made on the first lookup (the pages and the bill read `items()`)."""
        return {key: i for i, key in enumerate(self)}


class _CostItems(ItemsView[K, Decimal]):
    """A Costs' items, read from its columns (not a lookup a key)."""

    _mapping: Costs[K]

    def __iter__(self) -> Iterator[tuple[K, Decimal]]:
        costs = self._mapping
        e = costs._exponent
        return ((key, dollars(u, e)) for key, u in zip(costs, costs._units.tolist(), strict=True))


class DayCosts(Costs[tuple[str, date]]):
    """Cost by (name, local day), in order by day, then name (400 MB over the windows at 10,000 people as a dict)."""

    def __init__(
        self, names: Sequence[str], who: np.ndarray, day: np.ndarray, units: np.ndarray, exponent: int,
        day_of: Mapping[int, date],
    ) -> None:  # fmt: skip
        present = np.unique(who).tolist()
        rank = np.zeros(max(present, default=0) + 1, np.int64)
        rank[sorted(present, key=names.__getitem__)] = np.arange(len(present))
        order = np.lexsort((rank[who], day))
        self._names, self._who, self._day, self._units = names, who[order], day[order], units[order]
        self._exponent, self._day_of = exponent, day_of

    def __iter__(self) -> Iterator[tuple[str, date]]:
        names, day_of = self._names, self._day_of
        return ((names[w], day_of[d]) for w, d in zip(self._who.tolist(), self._day.tolist(), strict=True))


def widest(windows: Iterable[Window], tz: ZoneInfo) -> Window | None:
    """The window of the most local days (90d over a last month as long): the one whose days the person pages show."""
    return max(windows, key=lambda w: (len(days_of(w, tz)), w.key == "90d"), default=None)


def group_cells(cells: Sequence[Cell], key: Callable[[Cell], str]) -> tuple[Group, ...]:
    """The cells grouped by `key`, by cost."""
    by: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        by[key(cell)].append(cell)
    return by_cost(Group(name, add_counters(c.counters for c in group), tuple(group)) for name, group in by.items())


def by_cost(groups: Iterable[Group]) -> tuple[Group, ...]:
    """Groups by cost, highest first (then calls, then name: a stable order)."""
    return tuple(sorted(groups, key=lambda g: (-g.counters.cost, -g.counters.invocations, g.name)))


def days_of(window: Window, tz: ZoneInfo) -> tuple[date, ...]:
    first = window.start.astimezone(tz).date()
    last = (window.end - timedelta(hours=1)).astimezone(tz).date()
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
