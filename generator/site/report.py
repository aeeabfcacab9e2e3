"""The report model: what one window's pages, JSON and CSV say, computed once from costed rows.

Owns grouping by person, model, route and day, and the totals. Pure: takes hourly rows, prices
and identities as data; never formats numbers or writes files.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

import numpy as np

from generator.counters import Counters
from generator.identity import IdentityAudit
from generator.pricing.cost import dollars, dollars_at
from generator.site.series import Series
from generator.usage import Lazy, Window, exact, narrowest, sort_runs

K = TypeVar("K")
T = TypeVar("T")
U = TypeVar("U")


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
    cells: Table[Cell] | tuple[()]  # a part of the window's cells (none: a previous period's group, or a total's)


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
    cells: Table[Cell] | tuple[()]  # person x model x route
    days: tuple[date, ...]
    unpriced: tuple[Unpriced, ...]
    identities: tuple[IdentityAudit, ...]
    inferred: tuple[Inferred, ...] = ()
    price_sources: Mapping[str, str] = field(default_factory=dict)  # base model -> price_source
    accounts: tuple[Group, ...] = ()  # AWS accounts the calls were made in, by cost ("" where unknown)
    # the days summed as the pages read them: by (day, model), and cost by (person, day), each in key order
    day_models: Mapping[tuple[date, str], Counters] = field(default_factory=dict)
    person_days: Mapping[tuple[str, date], Decimal] = field(default_factory=dict)
    attributed: Table[Attributed] | tuple[()] = ()  # the cells split by via, team and dimension values
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


def group_cells(cells: Table[Cell], column: str) -> tuple[Group, ...]:
    """The cells grouped by a name column ("person", "model"), by cost; each group's cells a part of the table."""
    return by_cost(Group(name, part.total(), part) for name, part in cells.groups(column))


def by_cost(groups: Iterable[Group]) -> tuple[Group, ...]:
    """Groups by cost, highest first (then calls, then name: a stable order)."""
    return tuple(sorted(groups, key=lambda g: (-g.counters.cost, -g.counters.invocations, g.name)))


def days_of(window: Window, tz: ZoneInfo) -> tuple[date, ...]:
    first = window.start.astimezone(tz).date()
    last = (window.end - timedelta(hours=1)).astimezone(tz).date()
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


def dimension(i: int) -> str:
    """The name column of the `i`th breakdown dimension's values in a window's attributed calls."""
    return f"dim{i}"


class MoneyCounters:
    """Counters from their 11 values in FIELDS order, money in units (10**-`exponent` dollars): as `dollars` gives
    them, or with the decimal places given for the cost and the savings (`at`, a Table row's)."""

    __slots__ = ("exponent",)

    def __init__(self, exponent: int) -> None:
        self.exponent = exponent

    def __call__(self, v: Sequence[int], at: Sequence[int] | None = None) -> Counters:
        calls, errors, inp, out, read, write, cost, unpriced, unpriced_calls, inferred, saved = v
        e = self.exponent
        money = (dollars(cost, e), dollars(saved, e)) if at is None else (dollars_at(cost, e, at[0]),
                                                                         dollars_at(saved, e, at[1]))  # fmt: skip
        return Counters(calls, errors, inp, out, read, write, money[0], unpriced, unpriced_calls, inferred, money[1])


class Table(Lazy[T]):
    """A window's cells (or its calls as attributed) held as columns: each row's names as numbers into `names`
    (`columns` says which name each key column is) and its counters in money units; a row is made an object (by
    `make`, from its key numbers and Counters) only as it is read. A Cell and its Counters took about 600 bytes
    a row in every window; here a row takes about 130, and a table summed into the same rows shares them. A
    group's cells are a part of its window's table (`part`): a slice, or the rows' indices. Each row keeps the
    decimal places its cost and savings had as sums of Decimals (`places`), so they read as they did."""

    def __init__(
        self,
        names: Sequence[str],
        rank: np.ndarray,
        columns: tuple[str, ...],
        keys: np.ndarray,
        sums: np.ndarray,
        places: np.ndarray,
        exponent: int,
        make: Callable[[list[int], Counters], T],
    ) -> None:
        self._names, self._rank, self.columns = names, rank, columns  # rank: each name number's place by name
        self._keys, self._sums, self._places, self._exponent, self._make = keys, sums, places, exponent, make
        self._rows: slice | np.ndarray = slice(0, len(keys))

    def part(self, rows: slice | np.ndarray) -> Table[T]:
        """Some of the table's rows (counted in the whole table), sharing its columns."""
        found = Table(self._names, self._rank, self.columns, self._keys, self._sums, self._places, self._exponent,
                      self._make)  # fmt: skip
        found._rows = rows
        return found

    def _held(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This part's key columns, sums and places (views for a slice; a copy of the rows for indices)."""
        rows = self._rows
        return self._keys[rows], self._sums[rows], self._places[rows]

    def __len__(self) -> int:
        rows = self._rows
        return len(range(*rows.indices(len(self._keys)))) if isinstance(rows, slice) else len(rows)

    def __iter__(self) -> Iterator[T]:
        keys, sums, places = self._held()
        counters, make = MoneyCounters(self._exponent), self._make
        for at in range(0, len(keys), 4096):  # a few thousand rows' plain integers at a time
            chunk = slice(at, at + 4096)
            for k, v, p in zip(keys[chunk].tolist(), sums[chunk].tolist(), places[chunk].tolist(), strict=True):
                yield make(k, counters(v, p))

    def _item(self, j: int) -> T:
        keys, sums, places = self._held()
        return self._make(keys[j].tolist(), MoneyCounters(self._exponent)(sums[j].tolist(), places[j].tolist()))

    def __repr__(self) -> str:
        return f"Table({self.columns}, {len(self)} rows)"

    def total(self) -> Counters:
        """The rows' counters added up (exactly, in units)."""
        _, sums, places = self._held()
        if not len(sums):
            return Counters()
        return MoneyCounters(self._exponent)(exact(sums).sum(axis=0).tolist(), places.max(axis=0).tolist())

    def names_in(self, column: str) -> set[str]:
        """Every name a column holds."""
        keys, _, _ = self._held()
        return {self._names[n] for n in np.unique(keys[:, self.columns.index(column)]).tolist()}

    def groups(self, column: str) -> Iterator[tuple[str, Table[T]]]:
        """The rows by a name column, by name: each name with its rows (in table order) as a part."""
        keys, _, _ = self._held()
        base = np.arange(len(self._keys))[self._rows]
        values = keys[:, self.columns.index(column)]
        if not len(values):
            return
        order = np.argsort(self._rank[values], kind="stable")
        values, base = values[order], base[order]
        cuts = np.flatnonzero(np.r_[True, values[1:] != values[:-1], True]).tolist()
        for lo, hi in itertools.pairwise(cuts):
            rows = base[lo:hi]
            whole = int(rows[-1]) - int(rows[0]) + 1 == len(rows)  # a run of the table: a slice
            yield self._names[int(values[lo])], self.part(slice(int(rows[0]), int(rows[-1]) + 1) if whole else rows)

    def totals(self, columns: tuple[str, ...]) -> list[tuple[tuple[str, ...], Counters]]:
        """The rows added up by some name columns: each distinct set of their names, in name order, and its sums."""
        names = self._names
        return list(self._added(columns, lambda k, c: (tuple(names[n] for n in k), c)))

    def summed(self, columns: tuple[str, ...]) -> Table[Cell]:
        """The rows added up by name columns that include person, model and route, in the names' order: cells."""
        names = self._names
        p, m, r = (columns.index(c) for c in ("person", "model", "route"))
        return self._added(columns, lambda k, c: Cell(names[k[p]], names[k[m]], names[k[r]], c))

    def _added(self, columns: tuple[str, ...], make: Callable[[list[int], Counters], U]) -> Table[U]:
        """The rows added up by some of their name columns, in the names' order, each made a `make` row. Rows that are
        already one a key, in that order, are shared, not copied."""
        keys, sums, places = self._held()
        at = [self.columns.index(c) for c in columns]
        order, change = sort_runs([self._rank[keys[:, i]] for i in at])
        starts = np.flatnonzero(change)
        if len(starts) == len(keys) and bool(np.all(order == np.arange(len(order)))):
            found, added = keys[:, at[0] : at[-1] + 1] if at == list(range(at[0], at[-1] + 1)) else keys[:, at], sums
        else:
            found = keys[order[starts]][:, at]
            added = np.add.reduceat(exact(sums)[order], starts, axis=0) if len(starts) else sums[:0]
            if added.dtype == object:
                added = narrowest(added, np.int64)
            places = np.maximum.reduceat(places[order], starts, axis=0) if len(starts) else places[:0]
        return Table(self._names, self._rank, columns, found, added, places, self._exponent, make)
