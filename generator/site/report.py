"""The report model: what one window's pages, JSON and CSV say, computed once from costed rows.

Owns grouping by person, model, route and day, and the totals. Pure: takes hourly rows, prices
and identities as data; never formats numbers or writes files.
"""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import numpy as np

from generator.counters import Counters, add_counters
from generator.identity import IdentityAudit
from generator.pricing.book import MONEY_EXPONENT
from generator.pricing.cost import dollars
from generator.usage import Window, exact

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


SERIES = ("invocations", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
          "unpriced_invocations")  # fmt: skip
WIDTH = len(SERIES) + 2  # a day's record: the day's ordinal, the SERIES counts, the cost in money units
# a person's model's days, a row of WIDTH integers each: the index into `days`, the SERIES counts, the cost in money
# units (int64, or Python integers where one passes 64 bits)
Days = np.ndarray


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


class Series:
    """Each person's use of each model per local day over one window: what the person pages and files show.

    Held as the cube gave it, a run of rows at a time: per person, model and day, the model, the day's ordinal and
    the SERIES counts as 32-bit integers, and the cost in money units (10**-`exponent` dollars, so exact) as a 64-bit
    one. 44 bytes a day, where a Counters and its objects took 500; a run whose counts pass 32 bits keeps them
    64-bit, and one whose values pass 64 bits as Python integers. A person's days are gathered from the runs when
    read.
    """

    def __init__(self, days: Sequence[date], exponent: int = MONEY_EXPONENT) -> None:
        self.days = tuple(days)
        self.exponent = exponent
        self._first = days[0].toordinal() if days else 0
        self._runs: list[_SeriesRun] = []
        self._names: Sequence[str] = ()  # what the runs' person and model numbers stand for
        # person -> (run, first pair, end of pairs, their days), run by run
        self._where: dict[str, list[tuple[int, int, int, slice]]] = {}

    def add(self, names: Sequence[str], person: np.ndarray, model: np.ndarray, seen: np.ndarray,
            counts: np.ndarray, cost: np.ndarray) -> None:  # fmt: skip
        """Add one run of rows' days, sorted by person, model and day: each day's person and model (numbers into
        `names`, the same list every run), when the pair was first seen (a row's place in the table: models are
        listed in that order), its ordinal and SERIES counts (`counts`, rows of WIDTH - 1) and cost. A person's
        model's first day here may be the last day of an earlier run (a day begun there): reading adds them up."""
        if not len(person):
            return
        pairs = np.flatnonzero(np.r_[True, (person[1:] != person[:-1]) | (model[1:] != model[:-1])])
        self._names = names
        run = _SeriesRun(model[pairs], np.minimum.reduceat(seen, pairs), model.astype(np.int32),
                         narrowest(counts, np.int32), narrowest(cost, np.int64))  # fmt: skip
        at = len(self._runs)
        self._runs.append(run)
        owners = person[pairs]
        cuts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1], True])
        rows = np.r_[pairs, len(person)][cuts].tolist()  # where each person's days begin and end
        for (lo, hi), span in zip(itertools.pairwise(cuts.tolist()), itertools.pairwise(rows), strict=True):
            self._where.setdefault(names[owners[lo]], []).append((at, lo, hi, slice(*span)))

    def people(self) -> set[str]:
        return set(self._where)

    def of(self, person: str) -> dict[str, Days]:
        """A person's models (in the order they were first seen), each with its days in day order: rows of the day's
        index into `days`, the SERIES counts and the cost (int64, or Python integers where one passes 64 bits)."""
        parts = [(self._runs[at], lo, hi, rows) for at, lo, hi, rows in self._where.get(person, ())]
        if not parts:
            return {}
        counts = np.concatenate([r.counts[rows] for r, _, _, rows in parts])
        cost = np.concatenate([r.cost[rows] for r, _, _, rows in parts])
        model = np.concatenate([r.day_model[rows] for r, _, _, rows in parts])
        models, each = np.unique(np.concatenate([r.model[lo:hi] for r, lo, hi, _ in parts]), return_inverse=True)
        first = np.full(len(models), np.iinfo(np.int64).max)
        np.minimum.at(first, each, np.concatenate([r.seen[lo:hi] for r, lo, hi, _ in parts]))  # its place in the list
        rank = first[np.searchsorted(models, model)]
        order = np.lexsort([counts[:, 0].astype(np.int64), rank])  # by model, then day
        days = np.empty((len(cost), WIDTH), object if object in (counts.dtype, cost.dtype) else np.int64)
        days[:, :-1], days[:, -1] = counts[order], cost[order]
        rank, model = rank[order], model[order]
        repeat = (days[1:, 0] == days[:-1, 0]) & (rank[1:] == rank[:-1])  # a day two runs share: one day, added up
        if repeat.any():
            kept = np.r_[True, ~repeat]
            days, rank, model = _add_up(days, repeat), rank[kept], model[kept]
        days[:, 0] -= self._first
        cuts = np.flatnonzero(np.r_[True, rank[1:] != rank[:-1], True]).tolist()
        return {self._names[model[a]]: days[a:b] for a, b in itertools.pairwise(cuts)}


def _add_up(days: Days, repeat: np.ndarray) -> Days:
    """Each row that `repeat`s the day before it added into that row (64-bit where no sum can wrap, else Python
    integers)."""
    days = exact(days)
    group = np.cumsum(np.r_[True, ~repeat]) - 1
    summed = days[np.flatnonzero(np.r_[True, ~repeat])]  # a copy: the sums go into it
    again = np.flatnonzero(repeat) + 1
    np.add.at(summed[:, 1:], group[again], days[again, 1:])
    return narrowest(summed, np.int64) if summed.dtype == object else summed


class _SeriesRun(NamedTuple):
    """One run's days of the series: per person's model (a pair), the model and when it was first seen; per day, its
    model, its ordinal and counts, and its cost."""

    model: np.ndarray
    seen: np.ndarray
    day_model: np.ndarray  # each day's model (4 bytes a day more: a person's days are read without a loop a pair)
    counts: np.ndarray
    cost: np.ndarray


def narrowest(values: np.ndarray, kind: type[np.signedinteger[Any]]) -> np.ndarray:
    """Integer values as `kind` where they all fit, else as 64-bit integers where they fit, else as Python ints."""
    for fits in (kind, np.int64):
        limits = np.iinfo(fits)
        if not len(values) or (limits.min <= values.min() and values.max() <= limits.max):
            return values.astype(fits)
    return values.astype(object)


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
