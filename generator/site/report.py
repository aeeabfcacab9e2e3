"""The report model: what one window's pages, JSON and CSV say, computed once from costed rows.

Owns grouping by person, model, route and day, and the totals. Pure: takes hourly rows, prices
and identities as data; never formats numbers or writes files.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from generator.counters import Counters, add_counters
from generator.identity import IdentityAudit
from generator.pricing.book import MONEY_EXPONENT
from generator.usage import Window


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


class Series:
    """Each person's use of each model per local day over one window: what the person pages and files show.

    A person's model is two flat arrays: per day it was used, the day's ordinal and the SERIES counts as 32-bit
    integers, and the cost in money units (10**-`exponent` dollars, so exact) as a 64-bit one. 40 bytes a day,
    where a Counters and its objects took 500; a count past 32 bits makes that model's counts 64-bit, and a value
    past 64 bits a list.
    """

    def __init__(self, days: Sequence[date], exponent: int = MONEY_EXPONENT) -> None:
        self.days = tuple(days)
        self.exponent = exponent
        self._first = days[0].toordinal() if days else 0
        self._people: dict[str, dict[str, tuple[MutableSequence[int], MutableSequence[int]]]] = {}

    def extend(self, person: str, model: str, counts: np.ndarray, cost: np.ndarray) -> None:
        """Add a person's model's later days, in day order: each day's ordinal and SERIES counts (`counts`, rows of
        WIDTH - 1: 32-bit, 64-bit or Python integers) and cost. A first day that is the last day held is added to it
        (a day begun in an earlier run of rows)."""
        by_model = self._people.get(person)
        if by_model is None:
            by_model = self._people[person] = {}
        held = by_model.get(model)
        if held is None:
            by_model[model] = (_flat(counts), _flat(cost))
            return
        mine, mine_cost = held
        if mine[1 - WIDTH] == counts[0, 0]:  # the same day: add up the day held and the first day given
            counts, cost = counts.astype(object), cost.astype(object)
            counts[0, 1:] += np.array(list(mine[2 - WIDTH :]), object)  # Python integers: no sum wraps or rounds
            cost[0] += mine_cost[-1]
            del mine[1 - WIDTH :], mine_cost[-1:]
            counts, cost = narrowest(counts, np.int32), narrowest(cost, np.int64)
        by_model[model] = (_joined(mine, counts), _joined(mine_cost, cost))

    def people(self) -> set[str]:
        return set(self._people)

    def of(self, person: str) -> dict[str, Days]:
        """A person's models (in the order they first appear), each with its days in day order."""
        out = {}
        for model, (counts, cost) in self._people.get(person, {}).items():
            wide = isinstance(counts, array) and isinstance(cost, array)
            found = np.empty((len(cost), WIDTH), np.int64 if wide else object)
            found[:, :-1] = np.array(counts, np.int64 if isinstance(counts, array) else object).reshape(-1, WIDTH - 1)
            found[:, -1] = np.array(cost, np.int64 if isinstance(cost, array) else object)
            found[:, 0] -= self._first
            out[model] = found
        return out


def _flat(values: np.ndarray) -> MutableSequence[int]:
    """Integer values as one flat array of their width (32 or 64 bits), or a list of Python integers."""
    if values.dtype == np.int32:
        return array("i", values.tobytes())
    if values.dtype == np.int64:
        return array("q", values.tobytes())
    return list(values.ravel().tolist())


def _joined(held: MutableSequence[int], values: np.ndarray) -> MutableSequence[int]:
    """`held` and then `values`, widened where a value does not fit `held`'s type."""
    more = _flat(values)
    if isinstance(held, list):
        held.extend(more)
        return held
    if not (isinstance(held, array) and isinstance(more, array)):
        return [*held, *more]
    if held.typecode == more.typecode or held.typecode == "q":
        held.extend(more if more.typecode == held.typecode else array("q", more))
        return held
    return array("q", [*held, *more])  # 32 bits held, 64 given


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
