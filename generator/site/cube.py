"""The day cube: every hourly row priced and summed once, in bulk, into the pieces of time each window is made of.

Owns the one pass over the rows. They come as numpy columns, a run of hours at a time (`RowTable.runs`); a row's
caller and rate are made once per distinct key (`Pricer`); costs are column arithmetic in whole money units; and
every sum a report reads is a group-by (sort the rows by their keys, add up each run), never a Python step per row.
Sums are exact: 64-bit integers where a bound says they fit, Python integers where it does not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from generator import memory
from generator.counters import FIELDS, Counters
from generator.identity import IdentityAudit
from generator.pricing.book import MONEY_EXPONENT
from generator.pricing.cost import Pricer, Rate, Who, costs, dollars, places, utc_day
from generator.site.report import (
    Attributed,
    Costs,
    DayCosts,
    Group,
    Inferred,
    MoneyCounters,
    Table,
    Unpriced,
    WindowReport,
    by_cost,
    days_of,
    dimension,
    group_cells,
)
from generator.site.series import Series
from generator.usage import (
    DAY,
    Columns,
    HourlyRow,
    Numbered,
    Window,
    as_table,
    exact,
    local_day,
    ranks,
    sort_runs,
)

RUN_ROWS = 1 << 17  # rows priced and summed at a time: about 25 MB of columns and their sorts at the most
_COST, _UNPRICED, _UNPRICED_CALLS, _SAVED = 6, 7, 8, 10  # columns of a run's values (the FIELDS order)
_SERIES = [0, 1, 2, 3, 4, 5, _UNPRICED_CALLS, _COST]  # a series record's columns after the day


def _runs(keys: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Sort rows by the key columns: the order, the sorted keys, and which sorted row starts a run of equal keys."""
    ranked = list(keys)
    order, change = sort_runs(ranked)
    return order, ranked, change


def _sums(keys: Sequence[np.ndarray], values: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of the key columns, in order, and the sums of `values` (rows x k) over each."""
    if not len(values):
        return [k[:0] for k in keys], values[:0]
    order, ranked, change = _runs(keys)
    starts = np.flatnonzero(change)
    return [k[starts] for k in ranked], np.add.reduceat(exact(values)[order], starts, axis=0)


def _grouped(keys: Sequence[np.ndarray], values: np.ndarray) -> tuple[list[list[Any]], list[list[int]]]:
    """`_sums` as lists of plain integers."""
    found, sums = _sums(keys, values)
    return [k.tolist() for k in found], sums.tolist()


def _distinct(keys: Sequence[np.ndarray]) -> tuple[list[list[Any]], np.ndarray]:
    """The distinct rows of the key columns, as lists, and for each row the index of its distinct row."""
    order, ranked, change = _runs(keys)
    inverse = np.empty(len(order), np.int64)
    inverse[order] = np.cumsum(change) - 1
    return [k[change].tolist() for k in ranked], inverse


class Piece(NamedTuple):
    """A run of rows' sums, kept while the windows are made of them: money in units, and names, callers and days
    as the cube's numbers (arrays: a piece of 20,000 people and models holds no Python object per sum)."""

    total: np.ndarray  # the 11 counters
    callers: tuple[np.ndarray, np.ndarray]  # (caller numbers, their sums)
    accounts: tuple[np.ndarray, np.ndarray]  # (account names' numbers, their sums)
    days: tuple[np.ndarray, np.ndarray, np.ndarray]  # (local day ordinals, model numbers, their sums)
    person_days: tuple[np.ndarray, np.ndarray, np.ndarray]  # (person numbers, day ordinals, their cost)
    team_days: tuple[np.ndarray, np.ndarray, np.ndarray]  # (team numbers, day ordinals, their cost)
    unpriced: dict[tuple[str, str, str], tuple[int, int]]  # (model as logged, route, reason) -> (tokens, calls)
    inferred: dict[tuple[str, str], int]  # (model as logged, priced as) -> calls
    sources: dict[str, set[str]]  # base model -> how it was priced
    principals: set[str]


_KEYED = {"callers": 1, "accounts": 1, "days": 2, "person_days": 2, "team_days": 2}  # a field's key columns
_NONE = np.zeros(0, np.int64)
EMPTY = Piece(np.zeros(len(FIELDS), np.int64), (_NONE, np.zeros((0, len(FIELDS)), np.int64)),
              (_NONE, np.zeros((0, len(FIELDS)), np.int64)), (_NONE, _NONE, np.zeros((0, len(FIELDS)), np.int64)),
              (_NONE, _NONE, _NONE), (_NONE, _NONE, _NONE), {}, {}, {}, set())  # fmt: skip
FOLD = 8  # pieces of one stretch of time held apart at the most: then they are merged into one


def merged(pieces: Sequence[Piece]) -> Piece:
    """One piece of the sums of `pieces` (a stretch's runs, or a window's stretches): each keyed field summed over
    its distinct keys, in key order, exactly."""
    if len(pieces) < 2:
        return pieces[0] if pieces else EMPTY

    def field(name: str) -> tuple[np.ndarray, ...]:
        found = [getattr(p, name) for p in pieces]
        *keyed, values = (np.concatenate([f[i] for f in found]) for i in range(_KEYED[name] + 1))
        keys, sums = _sums(keyed, values if values.ndim == 2 else values[:, None])
        return (*keys, sums if values.ndim == 2 else sums[:, 0])

    unpriced: dict[tuple[str, str, str], tuple[int, int]] = {}
    inferred: dict[tuple[str, str], int] = defaultdict(int)
    sources: dict[str, set[str]] = defaultdict(set)
    for part in pieces:
        for key, (tokens, calls) in part.unpriced.items():
            had = unpriced.get(key, (0, 0))
            unpriced[key] = (had[0] + tokens, had[1] + calls)
        for pair, calls in part.inferred.items():
            inferred[pair] += calls
        for model, found in part.sources.items():
            sources[model] |= found
    fields: dict[str, Any] = {name: field(name) for name in _KEYED}
    return Piece(total=exact(np.stack([p.total for p in pieces])).sum(axis=0), **fields, unpriced=unpriced,
                 inferred=dict(inferred), sources=dict(sources),
                 principals=set().union(*(p.principals for p in pieces)))  # fmt: skip


class _Run(NamedTuple):
    """A run of rows, priced: each row's caller (an index into the cube's callers), local day, rate and counters."""

    columns: Columns
    who: np.ndarray
    caller: np.ndarray  # rows x 4: each row's caller's person, model, route and team, as name numbers
    day: np.ndarray  # the local day's ordinal
    rates: list[Rate]
    rate: np.ndarray  # the index into `rates`
    values: np.ndarray  # rows x 11: the counters in FIELDS order, money in units


class DayCube:
    """The priced rows reduced in one pass: each piece of time summed per person, model, route and account and
    per local day and model, with the last day's hours by person, the widest window's days by person and model
    (its `Series`) and, for the bill, cost by UTC day, model and person.

    The pieces are the stretches between the edges of every window and previous period the site shows, so each of
    those is a run of whole pieces and is summed from the pieces' sums, never from the rows again (a day split
    between two pieces is summed from both; a piece of very many rows is read as several runs, merged as they
    come). Rows come in any order and are not kept. Sums are exact, so a window summed from pieces equals the
    window summed from its rows.
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
        self.pieces: list[list[Piece]] = [[] for _ in self.edges[1:]]
        self.began: int | None = None  # the first hour with data
        self._hours = (hours.start.timestamp(), hours.end.timestamp()) if hours else (0.0, 0.0)
        self.hourly: dict[tuple[int, str], Decimal] = {}  # (hour, person) -> cost, in `hours`
        self.spend: Mapping[tuple[date, str, str], Decimal] | None = Spend([], [], MONEY_EXPONENT) if spend else None
        self._series = series  # the window whose days are kept by person and model (one of `periods`)
        self.series: Series | None = None
        self._names = Numbered()  # people, models, routes, teams, reasons and price sources, numbered
        self._callers = Numbered()  # Who values, numbered
        self._caller_names: list[tuple[int, ...]] = []  # a caller's person, model, route and team, as name numbers
        self._days: dict[int, date] = {}
        self._caller_arrays: tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None = None  # see _caller_order
        self.exponent = MONEY_EXPONENT  # the money unit's, once rows are in

    def add_all(
        self, rows: Sequence[HourlyRow], pricer: Pricer, most: int = RUN_ROWS, fold: int = FOLD, drop: bool = False
    ) -> DayCube:
        """Price the rows and sum them in, `most` rows at a time, the runs of a stretch of time merged into one piece
        whenever `fold` of them are held apart and at the end (so a window reads one piece a stretch: at 10,000
        people, the sorts of 40 pieces' sums took 700 MB); the cube takes no rows after this. With `drop`, a RowTable
        lets each chunk of rows go once it is summed (the rows and the sums are never all held at once)."""
        self.exponent = e = pricer.exponent
        tz, (first, last), spend = self.tz, self._hours, self.spend
        self.series = series = Series(days_of(self._series, tz), e) if self._series else None
        since, until = (self._series.start.timestamp(), self._series.end.timestamp()) if self._series else (0, 0)
        hourly: dict[tuple[int, str], int] = defaultdict(int)
        spent: list[tuple[list[np.ndarray], np.ndarray]] = []  # each run's cost by UTC day, model and person
        names = self._names.values
        midnights = _midnights(self.edges[0], self.edges[-1], tz) if self.edges else []
        for at, columns in as_table(rows).runs(self.edges, most, midnights, drop):  # a day in one run, where it fits
            memory.give_back()  # the last run's sums and sorts
            run = self._priced(columns, pricer)
            hour = columns.hour
            low = int(hour.min())
            self.began = low if self.began is None else min(self.began, low)
            if 0 <= at < len(self.pieces):
                stretch = self.pieces[at]
                stretch.append(self._piece(run))
                if len(stretch) >= fold:  # a stretch of many runs (a 90-day one at 10,000 people) held as one piece
                    stretch[:] = [merged(stretch)]
                if series is not None and since <= low < until:
                    self._add_series(series, run)
            person = run.caller[:, 0]
            cost = run.values[:, _COST : _COST + 1]
            inside = (hour >= first) & (hour < last)
            (h, p), sums = _grouped([hour[inside], person[inside]], cost[inside])
            for hour_, p_, (c,) in zip(h, p, sums, strict=True):
                hourly[(hour_, names[p_])] += c
            if spend is not None:
                priced = run.values[:, _COST] != 0
                model = run.caller[:, 1]
                spent.append(_sums([hour[priced] // DAY, model[priced], person[priced]], cost[priced]))
        self.hourly = {k: dollars(v, e) for k, v in hourly.items()}
        self.pieces = [[merged(stretch)] if len(stretch) > 1 else stretch for stretch in self.pieces]
        if series is not None:
            series.finish()
        if spend is not None:
            self.spend = Spend(spent, names, e)
        return self

    def _priced(self, c: Columns, pricer: Pricer) -> _Run:
        """Each row's caller, local day, rate and counters."""
        names = c.names
        principal, model_id, region, _, meta = c.text
        (ps, ms, xs), caller_of = _distinct([principal, model_id, meta])
        callers = (pricer.who(names[p], names[m], names[x]) for p, m, x in zip(ps, ms, xs, strict=True))
        who = self._caller_numbers(callers)[caller_of]
        hours, hour_of = np.unique(c.hour, return_inverse=True)
        day = np.fromiter((self._day(h) for h in hours.tolist()), np.int64)[hour_of]
        (ms, rs, os, ds), rate_of = _distinct([model_id, region, c.over, c.hour // DAY])
        rates = [pricer.rate(names[m], names[r], o, d) for m, r, o, d in zip(ms, rs, os, ds, strict=True)]
        caller = np.array(self._caller_names, np.int64).reshape(-1, 4)[who]
        return _Run(c, who, caller, day, rates, rate_of, costs(c.counts, rates, rate_of))

    def _day(self, hour: int) -> int:
        found = local_day(hour, self.tz)
        self._days.setdefault(found.toordinal(), found)
        return found.toordinal()

    def _caller_numbers(self, found: Iterable[Who]) -> np.ndarray:
        number = self._names
        out = []
        for who in found:
            n = self._callers(who)
            if n == len(self._caller_names):
                self._caller_names.append((number(who.person), number(who.model), number(who.route), number(who.team)))
            out.append(n)
        return np.array(out, np.int64)

    def _rate_names(self, run: _Run, field: str) -> np.ndarray:
        """Each row's rate's `field` (reason, source or inferred_from), as name numbers."""
        column: np.ndarray = np.array([self._names(getattr(r, field)) for r in run.rates], np.int64)[run.rate]
        return column

    def _piece(self, run: _Run) -> Piece:
        """A run's sums as a piece of time (or a part of one)."""
        names, number, v, c = self._names.values, self._names, run.values, run.columns
        table = c.names
        (who,), by_caller = _sums([run.who], v)
        (account,), by_account = _sums([c.column("account")], v)
        person, model, route, team = run.caller.T
        (day, mod), by_day = _sums([run.day, model], v)
        cost = v[:, _COST : _COST + 1]
        (per, pday), person_cost = _sums([person, run.day], cost)
        named = team != number("")
        (tm, tday), team_cost = _sums([team[named], run.day[named]], cost[named])
        open_ = (v[:, _UNPRICED] != 0) | (v[:, _UNPRICED_CALLS] != 0)
        reason = self._rate_names(run, "reason")
        keys = [c.column("model_id")[open_], route[open_], reason[open_]]
        lost_keys, lost = _grouped(keys, v[open_][:, _UNPRICED : _UNPRICED_CALLS + 1])
        borrowed = self._rate_names(run, "inferred_from")
        lent = borrowed != number("")
        (im, frm), inferred = _grouped([c.column("model_id")[lent], borrowed[lent]], v[lent][:, :1])
        source = self._rate_names(run, "source")
        priced = source != number("")
        (sm, src), _ = _grouped([model[priced], source[priced]], v[priced][:, :1])
        sources: dict[str, set[str]] = defaultdict(set)
        for m, s in zip(sm, src, strict=True):
            sources[names[m]].add(names[s])
        return Piece(
            total=exact(v).sum(axis=0),
            callers=(who, by_caller),
            accounts=(np.array([number(table[a]) for a in account.tolist()], np.int64), by_account),
            days=(day, mod, by_day),
            person_days=(per, pday, person_cost[:, 0]),
            team_days=(tm, tday, team_cost[:, 0]),
            unpriced={(table[m], names[r], names[w]): (t, n) for m, r, w, (t, n) in zip(*lost_keys, lost, strict=True)},
            inferred={(table[m], names[f]): n for m, f, (n,) in zip(im, frm, inferred, strict=True)},
            sources=dict(sources),
            principals={table[p] for p in np.unique(c.column("principal")).tolist()},
        )

    def _add_series(self, series: Series, run: _Run) -> None:
        """A run's days by person and model (each pair first seen at its first row's place in the table)."""
        v = run.values
        order, (p, m, d), change = _runs([run.caller[:, 0], run.caller[:, 1], run.day])
        starts = np.flatnonzero(change)
        sums = np.add.reduceat(exact(v[:, _SERIES])[order], starts, axis=0)
        first = np.minimum.reduceat(order + run.columns.first, starts)
        counts = np.column_stack([d[starts].astype(sums.dtype), sums[:, :-1]])
        series.add(self._names.values, p[starts], m[starts], first, counts, sums[:, -1])

    def _caller_order(self) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """Each caller's place among the callers in their order (person, model, route, via, team, dims); its person,
        model, route, team, via and each dimension's value ("dim0"...) as name numbers (a row a caller); and those
        columns' names. Made once the rows are in."""
        if self._caller_arrays is None:
            callers, number = self._callers.values, self._names
            rank = ranks(callers)
            width = max((len(w.dims) for w in callers), default=0)
            extra = [[number(w.via), *map(number, w.dims), *[number("")] * (width - len(w.dims))] for w in callers]
            found = np.array(self._caller_names, np.int64).reshape(-1, 4)
            found = np.column_stack([found, np.array(extra, np.int64).reshape(-1, 1 + width)])
            columns = ("person", "model", "route", "team", "via", *map(dimension, range(width)))
            self._caller_arrays = rank, found, columns
        return self._caller_arrays

    def hours(self) -> tuple[tuple[int, str, Decimal], ...]:
        """Cost per hour and person in the last day's window, in order."""
        return tuple((h, p, c) for (h, p), c in sorted(self.hourly.items()))

    def report(self, window: Window, people: Mapping[str, IdentityAudit], days: bool = True) -> WindowReport:
        """One window's (or previous period's) report, summed from its pieces; without `days`, no per-day sums (a
        previous period's report needs only its groups)."""
        first, last = self.edges.index(window.start.timestamp()), self.edges.index(window.end.timestamp())
        piece = merged([piece for part in self.pieces[first:last] for piece in part])
        names, callers, day_of, e = self._names.values, self._callers.values, self._days, self.exponent
        counters = MoneyCounters(e)

        def summed(field: str) -> tuple[list[list[Any]], list[Any]]:
            """A field's key columns and sums as lists of plain integers."""
            *keys, sums = getattr(piece, field)
            return [k.tolist() for k in keys], sums.tolist()

        who, split = piece.callers
        caller_rank, caller_names, columns = self._caller_order()
        order = np.argsort(caller_rank[who], kind="stable")  # by caller: person, model, route, via, team, dims
        who, split = who[order], split[order]
        attributed = Table(names, ranks(names), ("caller", *columns), np.column_stack([who, caller_names[who]]),
                           split, np.column_stack([places(split[:, c], e) for c in (_COST, _SAVED)]), e,
                           lambda k, c: _attributed(callers[k[0]], c))  # fmt: skip
        cells = attributed.summed(("person", "model", "route"))
        (account,), by_account = summed("accounts")
        total = piece.total.tolist()
        day_models: dict[tuple[date, str], Counters] = {}
        person_days: Mapping[tuple[str, date], Decimal] = {}
        team_days: dict[tuple[str, date], Decimal] = {}
        if days:
            (day, model), by_day = summed("days")
            for d, m, sums in zip(day, model, by_day, strict=True):
                day_models[(day_of[d], names[m])] = counters(sums)
            day_models = dict(sorted(day_models.items()))
            person, pday, units = piece.person_days
            person_days = DayCosts(names, person, pday, units, e, day_of)  # by day, then person, as pages read
            (team, tday), cost = summed("team_days")
            for t, d, c in zip(team, tday, cost, strict=True):
                team_days[(names[t], day_of[d])] = dollars(c, e)
            team_days = dict(sorted(team_days.items()))
        return WindowReport(
            window=window,
            timezone=self.tz.key,
            totals=counters(total),
            users=group_cells(cells, "person"),
            models=group_cells(cells, "model"),
            cells=cells,
            day_models=day_models,
            person_days=person_days,
            days=days_of(window, self.tz),
            unpriced=tuple(
                Unpriced(m, rt, n, why, calls) for (m, rt, why), (n, calls) in sorted(piece.unpriced.items())
            ),
            identities=tuple(people[p] for p in sorted(piece.principals)),
            inferred=tuple(Inferred(m, priced_as, n) for (m, priced_as), n in sorted(piece.inferred.items())),
            price_sources={m: _one_source(found) for m, found in piece.sources.items()},
            accounts=by_cost(Group(names[a], counters(s), ()) for a, s in zip(account, by_account, strict=True)),
            attributed=attributed,
            team_days=team_days,
            series=self.series if days and window == self._series else None,
        )


def _attributed(who: Who, c: Counters) -> Attributed:
    return Attributed(who.person, who.model, who.route, who.via, who.team, who.dims, c)


def _one_source(found: set[str]) -> str:
    """How a model's calls were priced: "inferred" when any borrowed a price, else their one way, else "mixed"."""
    if "inferred" in found:
        return "inferred"
    return next(iter(found)) if len(found) == 1 else "mixed"


class Spend(Costs[tuple[date, str, str]]):
    """Cost by UTC day, model and person, for the bill (a 2,000-person, 90-day build has 1.8M of them, 0.5 GB as a
    dict of Decimals)."""

    def __init__(self, runs: list[tuple[list[np.ndarray], np.ndarray]], names: list[str], exponent: int) -> None:
        found = [r for r in runs if len(r[1])]
        keys: list[np.ndarray] = []
        cost = np.zeros((0, 1), np.int64)
        if found:
            keys, cost = _sums([np.concatenate([k[i] for k, _ in found]) for i in range(3)],
                               np.concatenate([c for _, c in found]))  # fmt: skip
        self._keys, self._units, self._names, self._exponent = keys, cost[:, 0], names, exponent

    def __iter__(self) -> Iterator[tuple[date, str, str]]:
        names = self._names
        days, models, people = (k.tolist() for k in self._keys) if self._keys else ([], [], [])
        return ((utc_day(d * DAY), names[m], names[p]) for d, m, p in zip(days, models, people, strict=True))


def _midnights(start: float, end: float, tz: ZoneInfo) -> list[float]:
    """Each local midnight from `start` to `end` (epoch seconds)."""
    first, last = datetime.fromtimestamp(start, tz).date(), datetime.fromtimestamp(end, tz).date()
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() for d in days]


def summarize(
    rows: Iterable[HourlyRow], window: Window, tz: ZoneInfo, pricer: Pricer, days: bool = True
) -> WindowReport:
    """Price and group the rows that fall in `window` (a cube of that one window, with its series)."""
    return DayCube([window], tz, series=window).add_all(list(rows), pricer).report(window, pricer.people, days)
