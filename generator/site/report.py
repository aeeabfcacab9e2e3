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
from decimal import Decimal
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

import msgspec

from generator.identity import IdentityAudit
from generator.modelids import ModelRef, parse_model_id
from generator.pricing import PriceBook, cost_of
from generator.usage import HourlyRow, Window, local_day

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


class CostedRow(msgspec.Struct, frozen=True, gc=False):
    """An hourly row with its person, parsed model and cost (a C struct: one per hourly row)."""

    hour: int
    principal: str
    person: str
    model: str
    route: str
    logged_model: str
    invocations: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal
    unpriced_tokens: int
    unpriced_reason: str
    unpriced_invocations: int
    region: str = ""
    price_source: str = ""  # config | price-list | book | inferred ("" when unpriced)
    inferred_from: str = ""  # the model whose price an unknown Claude id borrowed
    account: str = ""
    cache_savings: Decimal = Decimal(0)

    @property
    def inferred_invocations(self) -> int:
        return self.invocations if self.price_source == "inferred" else 0


class Counters(NamedTuple):
    """Sums over a set of rows (a named tuple: immutable and cheap to make by the hundred thousand)."""

    invocations: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced_tokens: int = 0
    unpriced_invocations: int = 0
    inferred_invocations: int = 0  # calls priced at a Claude family's price, not their own model's
    cache_savings: Decimal = Decimal(0)  # cache reads at the plain input price, less what they cost

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def cost_complete(self) -> bool:
        """True when every token and call here was priced, so `cost` is the whole estimate."""
        return not (self.unpriced_tokens or self.unpriced_invocations)

    @property
    def priced_nothing(self) -> bool:
        """True when no part of these calls was priced: `cost` is not a $0 estimate but no estimate."""
        return self.invocations > 0 and self.unpriced_invocations == self.invocations


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


class _Countable(Protocol):
    """Anything with the counter fields: a costed row or a Counters."""

    @property
    def invocations(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...
    @property
    def cost(self) -> Decimal: ...
    @property
    def unpriced_tokens(self) -> int: ...
    @property
    def unpriced_invocations(self) -> int: ...
    @property
    def inferred_invocations(self) -> int: ...
    @property
    def cache_savings(self) -> Decimal: ...


_ZERO = Decimal(0)


class _Sum:
    __slots__ = ("v",)

    def __init__(self) -> None:
        self.v: list[int | Decimal] = [0, 0, 0, 0, 0, 0, _ZERO, 0, 0, 0, _ZERO]

    def add(self, r: _Countable) -> None:
        v = self.v
        v[0] += r.invocations
        v[1] += r.errors
        v[2] += r.input_tokens
        v[3] += r.output_tokens
        v[4] += r.cache_read_tokens
        v[5] += r.cache_write_tokens
        v[6] += r.cost
        v[7] += r.unpriced_tokens
        v[8] += r.unpriced_invocations
        v[9] += r.inferred_invocations
        v[10] += r.cache_savings

    def merge(self, other: _Sum) -> None:
        v, o = self.v, other.v
        v[0] += o[0]
        v[1] += o[1]
        v[2] += o[2]
        v[3] += o[3]
        v[4] += o[4]
        v[5] += o[5]
        v[6] += o[6]
        v[7] += o[7]
        v[8] += o[8]
        v[9] += o[9]
        v[10] += o[10]

    def freeze(self) -> Counters:
        return Counters(*self.v)  # type: ignore[arg-type]


def cost_rows(
    rows: Iterable[HourlyRow],
    book: PriceBook,
    people: Mapping[str, IdentityAudit],
    profiles: Mapping[str, str],
) -> list[CostedRow]:
    """Attach person, model, route and cost to every hourly row; sorted by hour."""
    refs: dict[str, ModelRef] = {}
    out = []
    for r in rows:
        ref = refs.get(r.model_id)
        if ref is None:
            ref = refs[r.model_id] = parse_model_id(r.model_id, profiles)
        price = cost_of(r, ref, book)
        out.append(
            CostedRow(
                r.hour, r.principal, people[r.principal].person, ref.model, ref.route,
                r.model_id, r.invocations, r.errors, r.input_tokens, r.output_tokens,
                r.cache_read_tokens, r.cache_write_tokens, price.cost, price.unpriced_tokens, price.reason,
                price.unpriced_invocations, r.region, price.source, price.inferred_from, r.account,
                price.cache_savings,
            )
        )  # fmt: skip
    out.sort(key=_hour)
    return out


def _hour(row: CostedRow) -> int:
    return row.hour


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
    parts: dict[tuple[date, str, str, str, str], _Sum] = {}
    unpriced: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    inferred: dict[tuple[str, str], int] = defaultdict(int)
    sources: dict[str, set[str]] = defaultdict(set)
    accounts: dict[str, _Sum] = defaultdict(_Sum)
    principals: set[str] = set()
    day_of: dict[int, date] = {}
    for r in costed[lo:hi]:
        day = day_of.get(r.hour)
        if day is None:
            day = day_of[r.hour] = local_day(r.hour, tz)
        key = (day, r.person, r.model, r.route, r.account)
        part = parts.get(key)
        if part is None:
            part = parts[key] = _Sum()
        part.add(r)
        principals.add(r.principal)
        if r.unpriced_tokens or r.unpriced_invocations:
            seen = unpriced[(r.logged_model, r.route, r.unpriced_reason)]
            seen[0] += r.unpriced_tokens
            seen[1] += r.unpriced_invocations
        if r.price_source:
            sources[r.model].add(r.price_source)
            if r.inferred_from:
                inferred[(r.logged_model, r.inferred_from)] += r.invocations
    total = _Sum()
    cells: dict[tuple[str, str, str], _Sum] = defaultdict(_Sum)
    daily: dict[tuple[date, str, str], _Sum] = {}
    for (day, person, model, route, account), part in parts.items():
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
    return WindowReport(
        window=window,
        timezone=tz.key,
        totals=total.freeze(),
        users=_groups(cell_list, lambda c: c.person),
        models=_groups(cell_list, lambda c: c.model),
        cells=cell_list,
        daily=tuple(DayCell(d, p, m, s.freeze()) for (d, p, m), s in sorted(daily.items())),
        days=_days(window, tz),
        unpriced=tuple(Unpriced(m, rt, n, why, calls) for (m, rt, why), (n, calls) in sorted(unpriced.items())),
        identities=tuple(people[p] for p in sorted(principals)),
        inferred=tuple(Inferred(m, priced_as, n) for (m, priced_as), n in sorted(inferred.items())),
        price_sources={m: _one_source(found) for m, found in sources.items()},
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


def add_counters(items: Iterable[Counters]) -> Counters:
    """Sum counters field by field."""
    total = _Sum()
    for c in items:
        total.add(c)
    return total.freeze()


def _days(window: Window, tz: ZoneInfo) -> tuple[date, ...]:
    first = window.start.astimezone(tz).date()
    last = (window.end - timedelta(hours=1)).astimezone(tz).date()
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))
