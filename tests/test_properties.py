"""Property tests: money adds up however the usage is sliced, and unpriced usage never leaks into it."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.counters import Counters, add_counters
from generator.identity import IdentityAudit, IdentityRules, resolve
from generator.modelids import parse_model_id
from generator.pricing import load_book
from generator.pricing.cost import Pricer, cost_of, dollars
from generator.site.cube import DayCube, summarize
from generator.site.decisions import periods
from generator.site.report import DayCosts, WindowReport, widest
from generator.site.series import SERIES
from generator.usage import HourlyRow, Window, as_table, local_day, make_windows, usage_counts

NOW = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
END = int(NOW.timestamp()) // 3600 * 3600
BOOK = load_book()
PRICED = [
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "global.anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",  # no cache price: cache tokens are unpriced
    "amazon.nova-micro-v1:0",
]
UNPRICED = ["acme.unknown-v1:0", "arn:aws:bedrock:us-east-1:1:application-inference-profile/x"]
PEOPLE = [f"arn:aws:iam::1:user/{n}" for n in ("ann", "bob", "cy")]
TZ = ZoneInfo("America/New_York")

tokens = st.integers(0, 5_000_000)
rows = st.lists(
    st.builds(
        HourlyRow,
        hour=st.integers(END - 95 * 24 * 3600, END + 3600).map(lambda h: h - h % 3600),
        principal=st.sampled_from(PEOPLE),
        model_id=st.sampled_from(PRICED + UNPRICED),
        invocations=st.integers(1, 50),
        errors=st.integers(0, 1),
        input_tokens=tokens,
        output_tokens=tokens,
        cache_read_tokens=tokens,
        cache_write_tokens=tokens,
    ),
    max_size=60,
)


def reports(data: list[HourlyRow]) -> list[WindowReport]:
    pricer = Pricer(BOOK, resolve((r.principal for r in data), IdentityRules()), {})
    return [summarize(data, w, TZ, pricer) for w in make_windows(NOW, TZ)]


class Costed(NamedTuple):
    """A row priced on its own."""

    hour: int
    principal: str
    person: str
    model: str
    route: str
    account: str
    counters: Counters


def _costed(data: list[HourlyRow], people: Mapping[str, IdentityAudit]) -> list[Costed]:
    """Each row priced on its own, the plain way (`cost_of`, in Decimal): what the cube's column arithmetic equals."""
    out = []
    for r in data:
        ref = parse_model_id(r.model_id)
        c = cost_of(r, ref, BOOK)
        inferred = r.invocations if c.source == "inferred" else 0
        counters = Counters(*usage_counts(r), c.cost, c.unpriced_tokens, c.unpriced_invocations, inferred,
                            c.cache_savings)  # fmt: skip
        out.append(Costed(r.hour, r.principal, people[r.principal].person, ref.model, ref.route, r.account, counters))
    return out


@settings(max_examples=60, deadline=None)
@given(rows)
def test_window_cost_is_the_sum_of_its_days_people_and_models(data: list[HourlyRow]) -> None:
    for rep in reports(data):
        total = rep.totals
        assert add_counters(u.counters for u in rep.users) == total
        assert add_counters(m.counters for m in rep.models) == total
        assert add_counters(c.counters for c in rep.cells) == total
        assert add_counters(rep.day_models.values()) == total
        assert sum(rep.person_days.values(), Decimal(0)) == total.cost
        days = _series(rep)
        assert sum((cost for _, cost in days.values()), Decimal(0)) == total.cost
        for i, name in enumerate(SERIES):
            assert sum(counts[i] for counts, _ in days.values()) == getattr(total, name)
        assert {d for d, _, _ in days} <= set(rep.days)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_costs_are_never_negative(data: list[HourlyRow]) -> None:
    for rep in reports(data):
        assert rep.totals.cost >= 0
        assert all(c.counters.cost >= 0 for c in rep.cells)


@settings(max_examples=60, deadline=None)
@given(rows, st.sampled_from(UNPRICED), tokens, st.integers(0, 89))
def test_an_unpriced_row_never_changes_priced_totals(data: list[HourlyRow], model: str, n: int, days: int) -> None:
    extra = HourlyRow(END - days * 86400 - 3600, PEOPLE[0], model, 1, 0, n, n, 0, 0)
    for before, after in zip(reports(data), reports([*data, extra]), strict=True):
        assert after.totals.cost == before.totals.cost
        assert {(c.person, c.model): c.counters.cost for c in after.cells if c.counters.cost} == {
            (c.person, c.model): c.counters.cost for c in before.cells if c.counters.cost
        }
        if after.window.contains(extra.hour):
            assert after.totals.unpriced_tokens == before.totals.unpriced_tokens + 2 * n
            assert after.totals.invocations == before.totals.invocations + 1


def test_decimal_sums_are_exact() -> None:
    assert sum((Decimal("0.1") for _ in range(10)), Decimal(0)) == Decimal(1)


def _series(rep: WindowReport) -> dict[tuple[Any, str, str], tuple[tuple[int, ...], Decimal]]:
    """The report's series as {(day, person, model): (the SERIES counts, cost)}."""
    assert rep.series is not None
    e = rep.series.exponent
    return {(rep.days[i], person, model): (tuple(counts), dollars(cost, e))
            for person in rep.series.people() for model, days in rep.series.of(person).items()
            for i, *counts, cost in days.tolist()}  # fmt: skip


def _by_hand(costed: list[Costed], w: Window, tz: ZoneInfo) -> dict[str, Any]:
    """A window summed straight from its rows, the plain way: what the day cube must equal."""
    inside = [r for r in costed if w.start.timestamp() <= r.hour < w.end.timestamp()]
    cells: dict[Any, list[Counters]] = defaultdict(list)
    daily: dict[Any, list[Counters]] = defaultdict(list)
    accounts: dict[str, list[Counters]] = defaultdict(list)
    for r in inside:
        cells[(r.person, r.model, r.route)].append(r.counters)
        daily[(local_day(r.hour, tz), r.person, r.model)].append(r.counters)
        accounts[r.account].append(r.counters)
    return {
        "totals": add_counters(r.counters for r in inside),
        "cells": {k: add_counters(v) for k, v in cells.items()},
        "daily": {k: add_counters(v) for k, v in daily.items()},
        "accounts": {k: add_counters(v) for k, v in accounts.items()},
        "principals": sorted({r.principal for r in inside}),
    }


# Dense rows over the last 16 days, so days split between two pieces of the cube hold rows on both sides.
dense = st.lists(
    st.builds(
        HourlyRow,
        hour=st.integers(END - 16 * 24 * 3600, END).map(lambda h: h - h % 3600),
        principal=st.sampled_from(PEOPLE[:2]),
        model_id=st.sampled_from(PRICED[:2] + UNPRICED[:1]),
        invocations=st.integers(1, 5),
        errors=st.just(0),
        input_tokens=tokens,
        output_tokens=tokens,
        cache_read_tokens=st.just(0),
        cache_write_tokens=st.just(0),
        account=st.sampled_from(["", "111111111111", "222222222222"]),
    ),
    min_size=20,
    max_size=150,
)


@settings(max_examples=40, deadline=None)
@given(dense, st.integers(0, 24 * 3), st.sampled_from(["America/New_York", "Asia/Kolkata", "UTC"]), st.randoms())
def test_the_day_cube_equals_each_window_summed_from_its_rows(
    data: list[HourlyRow], back: int, zone: str, order: Random
) -> None:
    """Every window and previous period, partial days at both ends, any time zone (half-hour ones too), rows in any
    order: the cube's sums are the rows' sums."""
    tz = ZoneInfo(zone)
    now = NOW - timedelta(hours=back)
    people = resolve((r.principal for r in data), IdentityRules())
    costed = _costed(data, people)
    order.shuffle(data)
    windows = make_windows(now, tz)
    wide = widest(windows, tz)
    cube = DayCube(periods(windows), tz, series=wide).add_all(data, Pricer(BOOK, people, {}))
    for w in periods(windows):
        rep, want = cube.report(w, people), _by_hand(costed, w, tz)
        assert rep.totals == want["totals"], w
        assert {(c.person, c.model, c.route): c.counters for c in rep.cells} == want["cells"], w
        by_day: dict[tuple[Any, str], list[Any]] = defaultdict(list)
        cost: dict[tuple[str, Any], Decimal] = defaultdict(Decimal)
        for (day, person, model), counters in want["daily"].items():
            by_day[(day, model)].append(counters)
            cost[(person, day)] += counters.cost
        assert rep.day_models == {k: add_counters(v) for k, v in by_day.items()}, w
        assert list(rep.day_models) == sorted(by_day), w
        assert rep.person_days == cost, w
        assert list(rep.person_days) == sorted(cost, key=lambda k: (k[1], k[0])), w
        if w == wide:
            want_days = {k: (tuple(getattr(c, f) for f in SERIES), c.cost) for k, c in want["daily"].items()}
            assert _series(rep) == want_days, w
        else:
            assert rep.series is None, w
        assert {a.name: a.counters for a in rep.accounts} == want["accounts"], w
        assert [i.principal for i in rep.identities] == want["principals"], w


def test_a_day_past_64_bits_keeps_its_exact_sum() -> None:
    """A hostile token count that no 64-bit integer holds moves that person's model to a list, not to an error."""
    huge = 2**62  # two of these in one day are past 64 bits, and the first fits: the sum must not be half-made
    model = UNPRICED[0]  # no cost, so the tokens are what overflows
    data = [HourlyRow(END - 2 * 3600, PEOPLE[0], model, 1, 0, huge, 0, 0, 0),
            HourlyRow(END - 3600, PEOPLE[0], model, 1, 0, huge, 0, 0, 0),
            HourlyRow(END - 3600, PEOPLE[0], model, 1, 0, 5, 0, 0, 0)]  # fmt: skip
    rep = reports(data)[0]  # 1d
    assert rep.series is not None
    ((counts, cost),) = _series(rep).values()
    assert counts[:3] == (3, 0, 2 * huge + 5)
    assert cost == rep.totals.cost


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 72), st.sampled_from([1, 2**31 - 1, 2**31, 2**40, 2**62])),
        min_size=1,
        max_size=12,
        unique_by=lambda t: t[0],  # one row an hour: a source refuses an hour past 64 bits
    ),
    st.integers(1, 4),
)
def test_a_persons_days_widen_past_32_and_64_bits_and_keep_exact_sums(found: list[tuple[int, int]], most: int) -> None:
    """Days are held in 32-bit integers until a count needs more, then 64-bit, then Python integers: the sums are
    the rows' sums however the rows fall into runs (a day added up across two runs included)."""
    data = [HourlyRow(END - back * 3600, PEOPLE[0], UNPRICED[0], 1, 0, n, 0, 0, 0) for back, n in found]
    pricer = Pricer(BOOK, resolve((r.principal for r in data), IdentityRules()), {})
    wide = widest(make_windows(NOW, TZ), TZ)
    assert wide is not None
    rep = DayCube([wide], TZ, series=wide).add_all(data, pricer, most).report(wide, pricer.people)
    want: dict[Any, int] = defaultdict(int)
    for r in data:
        want[local_day(r.hour, TZ)] += r.input_tokens
    assert {day: counts[2] for (day, _, _), (counts, _) in _series(rep).items()} == want


def test_a_cost_past_64_bits_is_exact() -> None:
    """Token counts whose cost no 64-bit integer holds (in money units) are priced and summed as Python integers."""
    huge = 2**62
    data = [HourlyRow(END - h * 3600, PEOPLE[0], PRICED[0], 1, 0, huge, 0, 0, 0) for h in (1, 2)]
    rep = reports(data)[0]  # 1d
    one = cost_of(data[0], parse_model_id(PRICED[0]), BOOK).cost
    assert one > 10**6  # dollars: past 64 bits of picodollars
    assert rep.totals.cost == 2 * one and rep.totals.input_tokens == 2 * huge
    assert _series(rep)[next(iter(_series(rep)))][1] == 2 * one


@settings(max_examples=40, deadline=None)
@given(dense, st.integers(0, 24 * 3), st.sampled_from(["America/New_York", "Asia/Kolkata"]), st.integers(1, 30))
def test_the_cube_is_the_same_however_its_rows_are_split_into_runs(
    data: list[HourlyRow], back: int, zone: str, most: int
) -> None:
    """Runs of a few rows (a piece held as several parts and merged two at a time, a day's series record added up
    across runs) give the cube of one run a piece: every report, the series' model order, the last day's hours, the
    bill's spend and first hour."""
    tz = ZoneInfo(zone)
    now = NOW - timedelta(hours=back)
    people = resolve((r.principal for r in data), IdentityRules())
    windows = make_windows(now, tz)
    one_day, wide = windows[0], widest(windows, tz)

    def cube(rows: Sequence[HourlyRow], most: int, drop: bool = False) -> DayCube:
        return DayCube(periods(windows), tz, one_day, True, wide).add_all(rows, Pricer(BOOK, people, {}), most, 2, drop)

    table = as_table(data)
    small, whole = cube(table, most, drop=True), cube(data, 1 << 19)
    assert len(table) == 0  # each chunk let go once summed
    assert (small.began, small.hours(), small.spend) == (whole.began, whole.hours(), whole.spend)
    for w in periods(windows):
        mine, theirs = small.report(w, people), whole.report(w, people)
        assert replace(mine, series=None) == replace(theirs, series=None), w
        if w == wide:
            assert mine.series is not None and theirs.series is not None
            assert _series(mine) == _series(theirs), w
            for person in theirs.series.people():
                assert list(mine.series.of(person)) == list(theirs.series.of(person))


def test_day_costs_read_in_order_by_day_then_name_as_exact_dollars() -> None:
    names = ["zed", "amy", "bob"]  # numbered out of name order
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    day_of = {d1.toordinal(): d1, d2.toordinal(): d2}
    units = np.array([3, 1, 2, 10**20], dtype=object)  # money units past 64 bits stay exact
    costs = DayCosts(names, np.array([0, 1, 0, 2]), np.array([o.toordinal() for o in (d2, d2, d1, d1)]), units, 6,
                     day_of)  # fmt: skip
    assert list(costs) == [("bob", d1), ("zed", d1), ("amy", d2), ("zed", d2)]
    assert dict(costs.items()) == {("bob", d1): Decimal(10**14), ("zed", d1): Decimal("0.000002"),
                                   ("amy", d2): Decimal("0.000001"), ("zed", d2): Decimal("0.000003")}  # fmt: skip
    assert len(costs) == 4 and costs[("amy", d2)] == Decimal("0.000001") and ("amy", d1) not in costs
    assert costs == dict(costs.items()) and not DayCosts(names, *(np.zeros(0, np.int64),) * 3, 6, day_of)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["ann", "bob", "cy"]), st.sampled_from(["m1", "m2"]), st.sampled_from(["a", "b"]),
                  st.sampled_from(["", "t1", "t2"]), st.integers(0, 10**15), st.integers(-(10**13), 10**13)),
        max_size=30,
    ),
    exponent=st.sampled_from([9, 12, 15]),
)  # fmt: skip
def test_a_table_reads_as_the_objects_it_replaced(
    rows: list[tuple[str, str, str, str, int, int]], exponent: int
) -> None:
    """A Table's rows, parts, groups and sums read as Cells and Counters summed with add_counters did: the same
    values, the same Decimal digits (the pages print them), the same order."""
    from generator.pricing.cost import places
    from generator.site.report import Cell, Table, group_cells
    from generator.usage import ranks

    names = ["", "ann", "bob", "cy", "m1", "m2", "a", "b", "t1", "t2", "unused"][::-1]
    number = {n: i for i, n in enumerate(names)}
    keys = np.array([[number[v] for v in r[:4]] for r in rows], np.int64).reshape(-1, 4)
    sums = np.zeros((len(rows), 11), np.int64)
    sums[:, 0], sums[:, 6], sums[:, 10] = 1, [r[4] for r in rows], [r[5] for r in rows]
    at = np.column_stack([places(sums[:, 6], exponent), places(sums[:, 10], exponent)]).astype(np.int8)
    atoms = [Counters(1, cost=dollars(r[4], exponent), cache_savings=dollars(r[5], exponent)) for r in rows]
    calls = Table(names, ranks(names), ("person", "model", "route", "team"), keys, sums, at, exponent,
                  lambda k, c: (names[k[0]], names[k[1]], names[k[2]], names[k[3]], c))  # fmt: skip
    assert [c for *_, c in calls] == atoms and len(calls) == len(rows)

    def same(a: Counters, b: Counters) -> bool:
        return a == b and (str(a.cost), str(a.cache_savings)) == (str(b.cost), str(b.cache_savings))

    assert same(calls.total(), add_counters(atoms))
    by_cell: dict[tuple[str, str, str], list[Counters]] = defaultdict(list)
    for (p, m, r, _, *_), c in zip(rows, atoms, strict=True):
        by_cell[(p, m, r)].append(c)
    want = [Cell(p, m, r, cs[0] if len(cs) == 1 else add_counters(cs)) for (p, m, r), cs in sorted(by_cell.items())]
    cells = calls.summed(("person", "model", "route"))
    assert list(cells) == want and all(same(a.counters, b.counters) for a, b in zip(cells, want, strict=True))
    for column in ("person", "model"):
        found = group_cells(cells, column)
        by: dict[str, list[Cell]] = defaultdict(list)
        for c in want:
            by[getattr(c, column)].append(c)
        assert [(g.name, list(g.cells)) for g in found] == [(g.name, by[g.name]) for g in found]
        assert {g.name for g in found} == set(by)
        assert all(same(g.counters, add_counters(c.counters for c in by[g.name])) for g in found)
    teams = calls.totals(("team", "person"))
    by_team: dict[tuple[str, str], list[Counters]] = defaultdict(list)
    for (p, _, _, t, *_), c in zip(rows, atoms, strict=True):
        by_team[(t, p)].append(c)
    assert [k for k, _ in teams] == sorted(by_team)
    assert all(same(c, add_counters(by_team[k])) for k, c in teams)
