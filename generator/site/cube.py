"""The day cube: every hourly row priced and summed once, in bulk, into the pieces of time each window is made of.

Owns the one pass over the rows. They come as numpy columns, a run of hours at a time (`RowTable.runs`); a row's
caller and rate are made once per distinct key (`Pricer`); costs are column arithmetic in whole money units; and
every sum a report reads is a group-by (sort the rows by their keys, add up each run), never a Python step per row.
Sums are exact: 64-bit integers where a bound says they fit, Python integers where it does not.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from generator.counters import Counters
from generator.identity import IdentityAudit
from generator.pricing.cost import FITS, Pricer, Rate, Who, costs, dollars, utc_day
from generator.site.report import WIDTH, Piece, Series, WindowReport, days_of, report_of
from generator.usage import DAY, Columns, HourlyRow, Window, as_table, local_day

RUN_ROWS = 1 << 19  # rows priced and summed at a time: about 100 MB of columns and their sorts at the most
_COST, _UNPRICED, _UNPRICED_CALLS, _SAVINGS = 6, 7, 8, 10  # columns of a run's values (the FIELDS order)
_SERIES = [0, 1, 2, 3, 4, 5, _UNPRICED_CALLS, _COST]  # a series record's columns after the day


class _Ids:
    """Values (names, or callers) as dense integers, each value once."""

    def __init__(self) -> None:
        self.number: dict[Any, int] = {}
        self.values: list[Any] = []

    def __call__(self, value: Any) -> int:
        n = self.number.get(value)
        if n is None:
            n = self.number[value] = len(self.values)
            self.values.append(value)
        return n


def _exact(values: np.ndarray) -> np.ndarray:
    """Integer `values` (rows x k), as Python integers where a sum of a column could pass 64 bits."""
    if values.dtype != object and len(values) and float(np.abs(values).sum(axis=0, dtype=np.float64).max()) >= FITS:
        return values.astype(object)
    return values


def _runs(keys: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Sort rows by the key columns: the order, the sorted keys, and which sorted row starts a run of equal keys."""
    order = np.lexsort(keys[::-1])
    ranked = [k[order] for k in keys]
    change = np.zeros(len(order), bool)
    change[:1] = True
    for k in ranked:
        change[1:] |= k[1:] != k[:-1]
    return order, ranked, change


def _grouped(keys: Sequence[np.ndarray], values: np.ndarray) -> tuple[list[list[Any]], list[list[int]]]:
    """The distinct rows of the key columns, in order, and the sums of `values` (rows x k) over each, as lists."""
    if not len(values):
        return [[] for _ in keys], []
    order, ranked, change = _runs(keys)
    starts = np.flatnonzero(change)
    sums = np.add.reduceat(_exact(values)[order], starts, axis=0)
    return [k[starts].tolist() for k in ranked], sums.tolist()


def _distinct(keys: Sequence[np.ndarray]) -> tuple[list[list[Any]], np.ndarray]:
    """The distinct rows of the key columns, as lists, and for each row the index of its distinct row."""
    order, ranked, change = _runs(keys)
    inverse = np.empty(len(order), np.int64)
    inverse[order] = np.cumsum(change) - 1
    return [k[change].tolist() for k in ranked], inverse


class _Run(NamedTuple):
    """A run of rows, priced: each row's caller (an index into the cube's callers), local day, rate and counters."""

    columns: Columns
    who: np.ndarray
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
    between two pieces is summed from both; a piece of very many rows is held as several). Rows come in any order
    and are not kept. Sums are exact, so a window summed from pieces equals the window summed from its rows.
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
        self.spend: dict[tuple[date, str, str], Decimal] | None = {} if spend else None
        self._series = series  # the window whose days are kept by person and model (one of `periods`)
        self.series: Series | None = None
        self._names = _Ids()  # people, models, routes, teams, reasons and price sources, numbered
        self._callers = _Ids()  # Who values, numbered
        self._caller_names: list[tuple[int, ...]] = []  # a caller's person, model, route and team, as name numbers
        self._days: dict[int, date] = {}

    def add_all(self, rows: Sequence[HourlyRow], pricer: Pricer, most: int = RUN_ROWS) -> DayCube:
        """Price the rows and sum them in, `most` rows at a time (a RowTable's are let go as they are read); the cube
        takes no rows after this."""
        e, tz, (first, last), spend = pricer.exponent, self.tz, self._hours, self.spend
        self.series = series = Series(days_of(self._series, tz), e) if self._series else None
        since, until = (self._series.start.timestamp(), self._series.end.timestamp()) if self._series else (0, 0)
        hourly: dict[tuple[int, str], int] = defaultdict(int)
        spent: dict[tuple[int, str, str], int] = defaultdict(int)
        names = self._names.values
        for at, columns in as_table(rows).runs(self.edges, most):
            run = self._priced(columns, pricer)
            hour = columns.hour
            low = int(hour.min())
            self.began = low if self.began is None else min(self.began, low)
            if 0 <= at < len(self.pieces):
                self.pieces[at].append(self._piece(run, e))
                if series is not None and since <= low < until:
                    self._add_series(series, run)
            person = self._caller_column(run, 0)
            cost = run.values[:, _COST : _COST + 1]
            inside = (hour >= first) & (hour < last)
            (h, p), sums = _grouped([hour[inside], person[inside]], cost[inside])
            for hour_, p_, (c,) in zip(h, p, sums, strict=True):
                hourly[(hour_, names[p_])] += c
            if spend is not None:
                priced = run.values[:, _COST] != 0
                model = self._caller_column(run, 1)
                (d, m, p), sums = _grouped([hour[priced] // DAY, model[priced], person[priced]], cost[priced])
                for day, m_, p_, (c,) in zip(d, m, p, sums, strict=True):
                    spent[(day, names[m_], names[p_])] += c
        self.hourly = {k: dollars(v, e) for k, v in hourly.items()}
        if spend is not None:
            spend.update(((utc_day(d * DAY), m, p), dollars(v, e)) for (d, m, p), v in spent.items())
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
        return _Run(c, who, day, rates, rate_of, costs(c.counts, rates, rate_of))

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

    def _caller_column(self, run: _Run, i: int) -> np.ndarray:
        """Each row's caller's person (0), model (1), route (2) or team (3), as name numbers."""
        column: np.ndarray = np.array([names[i] for names in self._caller_names], np.int64)[run.who]
        return column

    def _piece(self, run: _Run, e: int) -> Piece:
        """A run's sums as a piece of time (or a part of one)."""
        names, callers, days, v = self._names.values, self._callers.values, self._days, run.values
        c = run.columns
        counters = _counters(e)
        (who,), sums = _grouped([run.who], v)
        (account,), by_account = _grouped([c.column("account")], v)
        model, person = self._caller_column(run, 1), self._caller_column(run, 0)
        (day, mod), by_day = _grouped([run.day, model], v)
        (per, pday), cost = _grouped([person, run.day], v[:, _COST : _COST + 1])
        team = self._caller_column(run, 3)
        named = team != self._names("")
        (tm, tday), team_cost = _grouped([team[named], run.day[named]], v[named][:, _COST : _COST + 1])
        open_ = (v[:, _UNPRICED] != 0) | (v[:, _UNPRICED_CALLS] != 0)
        reason = np.array([self._names(r.reason) for r in run.rates], np.int64)[run.rate]
        keys = [c.column("model_id")[open_], self._caller_column(run, 2)[open_], reason[open_]]
        keys_, unpriced = _grouped(keys, v[open_][:, _UNPRICED : _UNPRICED_CALLS + 1])
        borrowed = np.array([self._names(r.inferred_from) for r in run.rates], np.int64)[run.rate]
        inferred_ = borrowed != self._names("")
        (im, frm), inferred = _grouped([c.column("model_id")[inferred_], borrowed[inferred_]], v[inferred_][:, :1])
        source = np.array([self._names(r.source) for r in run.rates], np.int64)[run.rate]
        priced = source != self._names("")
        (sm, src), _ = _grouped([model[priced], source[priced]], v[priced][:, :1])
        sources: dict[str, set[str]] = defaultdict(set)
        for m, s in zip(sm, src, strict=True):
            sources[names[m]].add(names[s])
        table = c.names
        total = _exact(v).sum(axis=0).tolist() if len(v) else [0] * v.shape[1]
        return Piece(
            total=counters(total),
            accounts={table[a]: counters(s) for a, s in zip(account, by_account, strict=True)},
            attributed={callers[w]: counters(s) for w, s in zip(who, sums, strict=True)},  # callers are distinct
            team_days={(names[t], days[d]): dollars(x, e) for t, d, (x,) in zip(tm, tday, team_cost, strict=True)},
            day_models={(days[d], names[m]): counters(s) for d, m, s in zip(day, mod, by_day, strict=True)},
            person_days={(names[p], days[d]): dollars(x, e) for p, d, (x,) in zip(per, pday, cost, strict=True)},
            unpriced={(table[m], names[r], names[w]): (t, n) for m, r, w, (t, n) in zip(*keys_, unpriced, strict=True)},
            inferred={(table[m], names[f]): n for m, f, (n,) in zip(im, frm, inferred, strict=True)},
            sources=dict(sources),
            principals={table[p] for p in np.unique(c.column("principal")).tolist()},
        )

    def _add_series(self, series: Series, run: _Run) -> None:
        """A run's days by person and model, added to the series in the order each person's models first appear."""
        names, v = self._names.values, run.values
        person, model = self._caller_column(run, 0), self._caller_column(run, 1)
        order, (p, m, d), change = _runs([person, model, run.day])
        starts = np.flatnonzero(change)
        values = _exact(v[:, _SERIES])[order]
        sums = np.add.reduceat(values, starts, axis=0)
        first = np.minimum.reduceat(order + run.columns.first, starts)  # a row's place in the table: its order
        p, m = p[starts], m[starts]
        pairs = np.flatnonzero(np.r_[True, (p[1:] != p[:-1]) | (m[1:] != m[:-1])])
        seen = np.minimum.reduceat(first, pairs)
        ends = np.r_[pairs[1:], len(p)]
        records = np.column_stack([d[starts].astype(sums.dtype), sums])
        for i in np.argsort(seen, kind="stable").tolist():
            a, b = int(pairs[i]), int(ends[i])
            block = records[a:b]
            flat = block.ravel().tolist() if block.dtype == object else array("q", block.tobytes())
            series.extend(names[p[a]], names[m[a]], flat)
        assert records.shape[1] == WIDTH

    def hours(self) -> tuple[tuple[int, str, Decimal], ...]:
        """Cost per hour and person in the last day's window, in order."""
        return tuple((h, p, c) for (h, p), c in sorted(self.hourly.items()))

    def report(self, window: Window, people: Mapping[str, IdentityAudit], days: bool = True) -> WindowReport:
        """One window's (or previous period's) report; without `days`, no per-day cells (a previous period's
        report needs only its groups)."""
        first, last = self.edges.index(window.start.timestamp()), self.edges.index(window.end.timestamp())
        series = self.series if days and window == self._series else None
        pieces = [piece for part in self.pieces[first:last] for piece in part]
        return report_of(window, self.tz, people, pieces, days, series)


def _counters(e: int) -> Callable[[Sequence[int]], Counters]:
    def counters(v: Sequence[int]) -> Counters:
        """A run's counters (money in units) in dollars."""
        calls, errors, inp, out, read, write, cost, unpriced, unpriced_calls, inferred, saved = v
        return Counters(calls, errors, inp, out, read, write, dollars(cost, e), unpriced, unpriced_calls, inferred,
                        dollars(saved, e))  # fmt: skip

    return counters


def summarize(
    rows: Iterable[HourlyRow], window: Window, tz: ZoneInfo, pricer: Pricer, days: bool = True
) -> WindowReport:
    """Price and group the rows that fall in `window` (a cube of that one window, with its series)."""
    return DayCube([window], tz, series=window).add_all(list(rows), pricer).report(window, pricer.people, days)
