"""The report model: what one window's pages, JSON and CSV say, computed once from costed rows.

Owns grouping by person, model, route and day, and the totals. Pure: takes hourly rows, prices
and identities as data; never formats numbers or writes files.
"""

from __future__ import annotations

import bisect
import operator
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from generator.counters import Counters, Sum, add_counters
from generator.identity import IdentityAudit
from generator.pricing.cost import CostedRow, utc_day
from generator.usage import DAY, HOUR, HourlyRow, Window, local_day, row_of, usage_counts


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


class _Parts:
    """A piece's rows summed as they come, at every grain a window needs, and what the rows say beside it."""

    def __init__(self) -> None:
        # (person, model, route, via, team, dims, account): the piece's total and its accounts are summed from these
        # once a piece, and a window's cells by person, model and route once a window, not once a row
        self.attributed: dict[tuple[str, str, str, str, str, tuple[str, ...], str], Sum] = {}
        self.team_days: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
        self.day_models: dict[tuple[date, str], Sum] = {}
        self.person_days: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
        self.unpriced: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        self.inferred: dict[tuple[str, str], int] = defaultdict(int)
        self.sources: dict[str, set[str]] = defaultdict(set)
        self.principals: set[str] = set()

    def add(self, r: CostedRow, day: date) -> None:
        key = (r.person, r.model, r.route, r.via, r.team, r.dims, r.account)
        split = self.attributed.get(key)
        if split is None:
            split = self.attributed[key] = Sum()
        split.add(r)
        if r.team:
            self.team_days[(r.team, day)] += r.cost
        on_day = self.day_models.get((day, r.model))
        if on_day is None:
            on_day = self.day_models[(day, r.model)] = Sum()
        on_day.add(r)
        self.person_days[(r.person, day)] += r.cost
        self.principals.add(r.principal)
        if r.unpriced_tokens or r.unpriced_invocations:
            seen = self.unpriced[(r.logged_model, r.route, r.unpriced_reason)]
            seen[0] += r.unpriced_tokens
            seen[1] += r.unpriced_invocations
        if r.price_source:
            self.sources[r.model].add(r.price_source)
            if r.inferred_from:
                self.inferred[(r.logged_model, r.inferred_from)] += r.invocations


class _Piece:
    """A piece's sums, frozen; windows made of whole pieces share them."""

    def __init__(self, part: _Parts) -> None:
        total = Sum()
        accounts: dict[str, Sum] = defaultdict(Sum)
        attributed: dict[tuple[str, str, str, str, str, tuple[str, ...]], Sum] = defaultdict(Sum)
        for (person, model, route, via, team, dims, account), found in part.attributed.items():
            total.merge(found)
            accounts[account].merge(found)
            attributed[(person, model, route, via, team, dims)].merge(found)
        self.total = total.freeze()
        self.accounts = {a: s.freeze() for a, s in accounts.items()}
        # the cells by person, model and route are summed from these once a window, not held once a piece
        self.attributed = {k: s.freeze() for k, s in attributed.items()}
        self.team_days = dict(part.team_days)
        self.day_models = {k: s.freeze() for k, s in part.day_models.items()}
        self.person_days = dict(part.person_days)
        self.unpriced, self.inferred = dict(part.unpriced), dict(part.inferred)
        self.sources, self.principals = dict(part.sources), part.principals


SERIES = ("invocations", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
          "unpriced_invocations")  # fmt: skip
_WIDTH = len(SERIES) + 2  # a day's record: the day's ordinal, the SERIES counts, the cost in picodollars
PICO = Decimal("1e-12")
Days = list[tuple[int, tuple[int, ...], Decimal]]  # a person's model's days: (index into `days`, SERIES counts, cost)


class Series:
    """Each person's use of each model per local day over one window: what the person pages and files show.

    A person's model is one flat array of 64-bit integers, a record of _WIDTH per day it was used: the day's
    ordinal, the SERIES counts and the cost in picodollars (exact for every price of up to six decimals per
    million tokens; a finer one rounds to the picodollar, a millionth of the smallest amount any file shows).
    72 bytes a day, where a Counters and its objects took 500; a value past 64 bits turns that array into a list.
    """

    def __init__(self, days: Sequence[date]) -> None:
        self.days = tuple(days)
        self._first = days[0].toordinal() if days else 0
        self._people: dict[str, dict[str, MutableSequence[int]]] = {}

    def add(self, r: CostedRow, day: date) -> None:
        """Add a row's counts and cost to its person's model on `day`."""
        by_model = self._people.get(r.person)
        if by_model is None:
            by_model = self._people[r.person] = {}
        record = (day.toordinal(), r.invocations, r.errors, r.input_tokens, r.output_tokens, r.cache_read_tokens,
                  r.cache_write_tokens, r.unpriced_invocations, int((r.cost / PICO).to_integral_value()))  # fmt: skip
        cells = by_model.get(r.model)
        if cells is None:
            by_model[r.model] = cells = array("q")
        if not _added(cells, record):
            by_model[r.model] = cells = list(cells)  # a value past 64 bits: this model's days become a list
            _added(cells, record)

    def settle(self) -> None:
        """Copy each array to its exact size, once every row is in (a growing array keeps up to an eighth spare)."""
        for by_model in self._people.values():
            for model, cells in by_model.items():
                if isinstance(cells, array):
                    by_model[model] = array("q", cells)

    def people(self) -> set[str]:
        return set(self._people)

    def of(self, person: str) -> dict[str, Days]:
        """A person's models, each with its days: (index into `days`, the SERIES counts, cost) in day order."""
        first, out = self._first, {}
        for model, cells in self._people.get(person, {}).items():
            out[model] = [(cells[i] - first, tuple(cells[i + 1 : i + _WIDTH - 1]), cells[i + _WIDTH - 1] * PICO)
                          for i in range(0, len(cells), _WIDTH)]  # fmt: skip
        return out


def _added(cells: MutableSequence[int], record: tuple[int, ...]) -> bool:
    """Add a day's record to a model's records, kept in day order (rows mostly come in time order, so the day is
    the last one or a new one); False, with nothing changed, when a sum does not fit the array's 64 bits."""
    at = len(cells) - _WIDTH
    while at >= 0 and cells[at] > record[0]:
        at -= _WIDTH
    same = at >= 0 and cells[at] == record[0]
    values = list(map(operator.add, cells[at + 1 : at + _WIDTH], record[1:])) if same else record
    try:
        made = array("q", values) if isinstance(cells, array) else list(values)
    except OverflowError:
        return False
    if same:
        cells[at + 1 : at + _WIDTH] = made
    else:
        cells[at + _WIDTH : at + _WIDTH] = made
    return True


def _summed(found: Mapping[tuple[str, str, str, int, str, str], list[int]]) -> Iterator[HourlyRow]:
    for (principal, model_id, region, over, account, meta), (*counts, hour) in found.items():
        yield row_of(hour, principal, model_id, counts, region, over, account, meta)


def widest(windows: Iterable[Window], tz: ZoneInfo) -> Window | None:
    """The window of the most local days (90d over a last month as long): the one whose days the person pages show."""
    return max(windows, key=lambda w: (len(_days(w, tz)), w.key == "90d"), default=None)


class DayCube:
    """The costed rows reduced in one pass: each piece of time summed per person, model, route and account and
    per local day and model, with the last day's hours by person, the widest window's days by person and model
    (its `Series`) and, for the bill, cost by UTC day, model and person.

    The pieces are the stretches between the edges of every window and previous period the site shows, so
    each of those is a run of whole pieces and is summed from the pieces' sums, never from the rows again (a
    day split between two pieces is summed from both). Rows come in any order and are not kept. Sums are
    exact (integers and Decimals), so a window summed from pieces equals the window summed from its rows.
    """

    def __init__(
        self,
        periods: Iterable[Window],
        tz: ZoneInfo,
        hours: Window | None = None,
        spend: bool = False,
        series: Window | None = None,
    ) -> None:
        self.tz = tz
        self.edges = sorted({t for w in periods for t in (w.start.timestamp(), w.end.timestamp())})
        self._parts = [_Parts() for _ in self.edges[1:]]
        self.pieces: list[_Piece] = []
        self.began: int | None = None  # the first hour with data
        self._hours = (hours.start.timestamp(), hours.end.timestamp()) if hours else (0.0, 0.0)
        self.hourly: dict[tuple[int, str], Decimal] = defaultdict(Decimal)  # (hour, person) -> cost, in `hours`
        self.spend: dict[tuple[date, str, str], Decimal] | None = defaultdict(Decimal) if spend else None
        self._series = series  # the window whose days are kept by person and model (one of `periods`)
        self.series = Series(_days(series, tz)) if series else None

    def coarse(self, rows: Iterable[HourlyRow]) -> Iterator[HourlyRow]:
        """The rows summed over the hours the cube cannot tell apart: those of one piece, local day and UTC day,
        outside the hours it keeps by the hour. Fewer rows to price (cost is linear in the counts at one price),
        the same sums; a summed row takes its parts' first hour. Rows in hour order are summed a stretch at a
        time, so only one stretch's rows are held; rows in any other order are summed less, never wrongly."""
        stretch_of: dict[int, int] = {}
        current, found = None, {}  # type: int | None, dict[tuple[str, str, str, int, str, str], list[int]]
        for r in rows:
            stretch = stretch_of.get(r.hour)
            if stretch is None:
                stretch = stretch_of[r.hour] = self._stretch(r.hour)
            if stretch != current:
                yield from _summed(found)
                current, found = stretch, {}
            key = (r.principal, r.model_id, r.region, r.prompt_over, r.account, r.meta)
            sums = found.get(key)
            if sums is None:
                found[key] = [*usage_counts(r), r.hour]
            else:
                for i, value in enumerate(usage_counts(r)):
                    sums[i] += value
                sums[6] = min(sums[6], r.hour)
        yield from _summed(found)

    def _stretch(self, hour: int) -> int:
        """The first hour of the stretch `hour` is in: back to the piece's edge, the local day's and the UTC day's
        start; an hour kept by the hour, or outside every piece, is its own stretch."""
        edges, (first, last) = self.edges, self._hours
        if first <= hour < last or not edges or not edges[0] <= hour < edges[-1]:
            return hour
        edge, day, utc = edges[bisect.bisect_right(edges, hour) - 1], local_day(hour, self.tz), hour // DAY
        start = hour
        while start - HOUR >= edge and local_day(start - HOUR, self.tz) == day and (start - HOUR) // DAY == utc:
            start -= HOUR
        return start

    def add_all(self, costed: Iterable[CostedRow]) -> DayCube:
        """Sum the rows in, then freeze every piece; the cube takes no rows after this."""
        edges, parts, tz, (first, last), spend = self.edges, self._parts, self.tz, self._hours, self.spend
        series = self.series
        (since, until) = (self._series.start.timestamp(), self._series.end.timestamp()) if self._series else (0.0, 0.0)
        low, high = (edges[0], edges[-1]) if edges else (0.0, 0.0)
        day_of: dict[int, date] = {}
        began = self.began
        for r in costed:
            hour = r.hour
            if began is None or hour < began:
                began = hour
            if low <= hour < high:
                day = day_of.get(hour)
                if day is None:
                    day = day_of[hour] = local_day(hour, tz)
                parts[bisect.bisect_right(edges, hour) - 1].add(r, day)
                if series is not None and since <= hour < until:
                    series.add(r, day)
            if first <= hour < last:
                self.hourly[(hour, r.person)] += r.cost
            if spend is not None and r.cost:
                spend[(utc_day(hour), r.model, r.person)] += r.cost
        self.began = began
        if series is not None:
            series.settle()
        self.pieces = []
        while parts:  # one piece's sums at a time, so the running and the frozen ones are never all held
            self.pieces.append(_Piece(parts.pop(0)))
        return self

    def hours(self) -> tuple[tuple[int, str, Decimal], ...]:
        """Cost per hour and person in the last day's window, in order."""
        return tuple((h, p, c) for (h, p), c in sorted(self.hourly.items()))

    def report(self, window: Window, people: Mapping[str, IdentityAudit], days: bool = True) -> WindowReport:
        """One window's (or previous period's) report; without `days`, no per-day cells (a previous period's
        report needs only its groups)."""
        first, last = self.edges.index(window.start.timestamp()), self.edges.index(window.end.timestamp())
        series = self.series if days and window == self._series else None
        return _report(window, self.tz, people, self.pieces[first:last], days, series)


def summarize(
    costed: Sequence[CostedRow],
    window: Window,
    tz: ZoneInfo,
    people: Mapping[str, IdentityAudit],
    days: bool = True,
) -> WindowReport:
    """Group the costed rows that fall in `window` (a cube of that one window, with its series)."""
    return DayCube([window], tz, series=window).add_all(costed).report(window, people, days)


def _merged(found: Iterable[Mapping[Any, Counters]]) -> dict[Any, Counters]:
    """Counters by key over several pieces: one piece's own when the key is in no other."""
    merged: dict[Any, Counters] = {}
    sums: dict[Any, Sum] = {}
    for counters in found:
        for key, value in counters.items():
            seen = merged.get(key)
            if seen is None:
                merged[key] = value
                continue
            total = sums.get(key)
            if total is None:
                total = sums[key] = Sum()
                total.add(seen)
            total.add(value)
    return merged | {key: total.freeze() for key, total in sums.items()}


def _merged_cost(found: Iterable[Mapping[Any, Decimal]]) -> dict[Any, Decimal]:
    """Cost by key over several pieces: one piece's own when the key is in no other."""
    merged: dict[Any, Decimal] = {}
    for costs in found:
        for key, cost in costs.items():
            seen = merged.get(key)
            merged[key] = cost if seen is None else seen + cost
    return merged


def _in_order(found: Mapping[Any, Any], key: Callable[[Any], Any]) -> dict[Any, Any]:
    """The map in the order of `key` (the order the pages' loops read the days in)."""
    return {k: found[k] for k in sorted(found, key=key)}


def _report(
    window: Window,
    tz: ZoneInfo,
    people: Mapping[str, IdentityAudit],
    pieces: Sequence[_Piece],
    days: bool,
    series: Series | None,
) -> WindowReport:
    unpriced_sums: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    inferred_sums: dict[tuple[str, str], int] = defaultdict(int)
    sources: dict[str, set[str]] = defaultdict(set)
    principals: set[str] = set()
    for part in pieces:
        for key, (tokens, calls) in part.unpriced.items():
            seen = unpriced_sums[key]
            seen[0] += tokens
            seen[1] += calls
        for pair, calls in part.inferred.items():
            inferred_sums[pair] += calls
        for model, found in part.sources.items():
            sources[model] |= found
        principals |= part.principals
    split = _merged(p.attributed for p in pieces)
    cells = _merged({(person, model, route): c} for (person, model, route, *_), c in split.items())
    cell_list = tuple(Cell(p, m, rt, c) for (p, m, rt), c in sorted(cells.items()))
    unpriced, inferred = sorted(unpriced_sums.items()), sorted(inferred_sums.items())
    return WindowReport(
        window=window,
        timezone=tz.key,
        totals=add_counters(p.total for p in pieces),
        users=group_cells(cell_list, lambda c: c.person),
        models=group_cells(cell_list, lambda c: c.model),
        cells=cell_list,
        day_models=_in_order(_merged(p.day_models for p in pieces), lambda k: k) if days else {},
        person_days=_in_order(_merged_cost(p.person_days for p in pieces), lambda k: (k[1], k[0])) if days else {},
        days=_days(window, tz),
        unpriced=tuple(Unpriced(m, rt, n, why, calls) for (m, rt, why), (n, calls) in unpriced),
        identities=tuple(people[p] for p in sorted(principals)),
        inferred=tuple(Inferred(m, priced_as, n) for (m, priced_as), n in inferred),
        price_sources={m: _one_source(set(found)) for m, found in sources.items()},
        accounts=by_cost(Group(a, c, ()) for a, c in _merged(p.accounts for p in pieces).items()),
        attributed=tuple(Attributed(p, m, rt, v, t, d, c) for (p, m, rt, v, t, d), c in sorted(split.items())),
        team_days=dict(sorted(_merged_cost(p.team_days for p in pieces).items())) if days else {},
        series=series,
    )


def _one_source(found: set[str]) -> str:
    if "inferred" in found:
        return "inferred"
    return found.pop() if len(found) == 1 else "mixed"


def group_cells(cells: Sequence[Cell], key: Callable[[Cell], str]) -> tuple[Group, ...]:
    """The cells grouped by `key`, by cost."""
    by: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        by[key(cell)].append(cell)
    return by_cost(Group(name, add_counters(c.counters for c in group), tuple(group)) for name, group in by.items())


def by_cost(groups: Iterable[Group]) -> tuple[Group, ...]:
    """Groups by cost, highest first (then calls, then name: a stable order)."""
    return tuple(sorted(groups, key=lambda g: (-g.counters.cost, -g.counters.invocations, g.name)))


def _days(window: Window, tz: ZoneInfo) -> tuple[date, ...]:
    first = window.start.astimezone(tz).date()
    last = (window.end - timedelta(hours=1)).astimezone(tz).date()
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
