import itertools
from datetime import UTC, datetime
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import usage
from generator.errors import SourceError
from generator.usage import (
    HOUR,
    HourlyAggregator,
    HourlyRow,
    as_table,
    combine,
    floor_hour,
    local_day,
    make_windows,
    names_in,
    usage_counts,
)

T = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)


def at(*args: int, tz: str = "UTC") -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("tz", "key", "start", "end"),
    [
        ("UTC", "1d", at(2026, 11, 26, 7), at(2026, 11, 27, 7)),
        ("UTC", "7d", at(2026, 11, 20, 7), at(2026, 11, 27, 7)),
        ("UTC", "30d", at(2026, 10, 28, 7), at(2026, 11, 27, 7)),
        ("UTC", "90d", at(2026, 8, 29, 7), at(2026, 11, 27, 7)),
        ("UTC", "mtd", at(2026, 11, 1), at(2026, 11, 27, 7)),
        ("UTC", "last-month", at(2026, 10, 1), at(2026, 11, 1)),
        ("Europe/Berlin", "mtd", at(2026, 11, 1, tz="Europe/Berlin"), at(2026, 11, 27, 7)),
        ("Europe/Berlin", "last-month", at(2026, 10, 1, tz="Europe/Berlin"), at(2026, 11, 1, tz="Europe/Berlin")),
        ("America/Los_Angeles", "mtd", at(2026, 11, 1, tz="America/Los_Angeles"), at(2026, 11, 27, 7)),
    ],
)
def test_windows(tz: str, key: str, start: datetime, end: datetime) -> None:
    window = {w.key: w for w in make_windows(T, ZoneInfo(tz))}[key]
    assert (window.start, window.end) == (start, end)


def test_month_windows_across_new_year_in_local_time() -> None:
    # 2027-01-01 00:30 UTC is still December in Los Angeles.
    windows = {w.key: w for w in make_windows(datetime(2027, 1, 1, 0, 30, tzinfo=UTC), ZoneInfo("America/Los_Angeles"))}
    assert windows["mtd"].start == at(2026, 12, 1, tz="America/Los_Angeles")
    assert windows["last-month"].start == at(2026, 11, 1, tz="America/Los_Angeles")


def test_aggregator_sums_by_hour_principal_model() -> None:
    agg = HourlyAggregator()
    base = int(T.timestamp())
    for offset, principal, model, err in [(0, "a", "m", False), (59, "a", "m", True), (3600, "a", "m", False),
                                          (0, "b", "m", False), (0, "a", "n", False)]:  # fmt: skip
        agg.add(base + offset, principal, model, "us-east-1", "", error=err, input_tokens=1, output_tokens=2,
                cache_read_tokens=3, cache_write_tokens=4)  # fmt: skip
    rows = agg.rows()
    assert [(r.principal, r.model_id, r.invocations, r.errors, r.tokens) for r in rows] == [
        ("a", "m", 2, 1, 20), ("a", "n", 1, 0, 10), ("b", "m", 1, 0, 10), ("a", "m", 1, 0, 10),
    ]  # fmt: skip
    assert all(r.hour % 3600 == 0 for r in rows)


def test_the_row_table_reads_as_the_rows_it_holds() -> None:
    """Columns in, the same rows out: iterated, indexed from either end, sliced, compared and named."""
    h = int(floor_hour(T).timestamp())
    want = [HourlyRow(h - 3600, "a", "m", 2, 1, 10, 20, 30, 40, "us-east-1", 100_000, "111", '{"k":"v"}'),
            HourlyRow(h, "a", "m", 1, 0, 2**40, 1, 0, 0, "eu-west-1", 0, "", ""),
            HourlyRow(h, "b", "n", 1, 0, 0, 0, 0, 0, "", 0, "222", "")]  # fmt: skip
    agg = HourlyAggregator()
    for row in reversed(want):
        agg.add_row(row)
    rows = agg.rows()
    assert list(rows) == want
    assert rows == want and rows == tuple(want) and rows != want[:2] and rows != want[::-1]
    assert (rows[0], rows[-1], rows[1:]) == (want[0], want[2], want[1:])
    with pytest.raises(IndexError):
        rows[3]
    assert names_in(rows, "principal") == {"a", "b"} == names_in(want, "principal")
    assert names_in(rows, "region") == {"us-east-1", "eu-west-1", ""} == names_in(want, "region")
    assert names_in(rows, "meta") == {'{"k":"v"}', ""}
    assert [(at, len(c.hour), c.first) for at, c in rows.runs([h], 1)] == [(-1, 1, 0), (0, 1, 1), (0, 1, 2)]
    ((at, c),) = rows.runs([h - 7200, h + 3600])
    principals = [c.names[n] for n in c.column("principal").tolist()]
    assert (at, c.hour.tolist(), principals, c.counts[:, 0].tolist()) == (
        0,
        [h - 3600, h, h],
        ["a", "a", "b"],
        [2, 1, 1],
    )


def test_combining_tables_adds_shared_hours_and_keeps_the_order() -> None:
    h = int(floor_hour(T).timestamp())
    mine, theirs, later = HourlyAggregator(), HourlyAggregator(), HourlyAggregator()
    mine.add_row(HourlyRow(h, "a", "m", 1, 0, 5, 0, 0, 0))
    theirs.add_row(HourlyRow(h, "a", "m", 2, 1, 7, 0, 0, 0))
    theirs.add_row(HourlyRow(h - 3600, "b", "m", 1, 0, 1, 0, 0, 0))
    theirs.add_row(HourlyRow(h, "0", "m", 1, 0, 1, 0, 0, 0, region="us-east-1"))
    later.add_row(HourlyRow(h + 3600, "z", "m", 1, 0, 1, 0, 0, 0))
    tables = [mine.rows(), theirs.rows(), later.rows()]
    combined = combine(tables)
    assert tables == []  # emptied: each table's memory goes as it is used
    assert list(combined) == [
        HourlyRow(h - 3600, "b", "m", 1, 0, 1, 0, 0, 0),
        HourlyRow(h, "0", "m", 1, 0, 1, 0, 0, 0, region="us-east-1"),
        HourlyRow(h, "a", "m", 3, 1, 12, 0, 0, 0),
        HourlyRow(h + 3600, "z", "m", 1, 0, 1, 0, 0, 0),
    ]
    one, two = HourlyAggregator(), HourlyAggregator()
    one.add_row(HourlyRow(h, "b", "m", 1, 0, 1, 0, 0, 0))
    two.add_row(HourlyRow(h + 3600, "a", "m", 1, 0, 1, 0, 0, 0))  # hours apart: laid end to end, renumbered
    assert [(r.hour, r.principal) for r in combine([one.rows(), two.rows()])] == [(h, "b"), (h + 3600, "a")]


def test_combining_drops_rows_taken_back_and_refuses_sums_past_64_bits() -> None:
    h = int(floor_hour(T).timestamp())
    counted, taken = HourlyAggregator(), HourlyAggregator()
    counted.add(h, "p", "m", "", "", False, 5, 1, 0, 0)
    counted.add(h, "q", "m", "", "", False, 5, 1, 0, 0)
    taken.remove(h, ("p", "m", "", "", False, 5, 1, 0, 0, ""))
    assert [r.principal for r in combine([counted.rows(), taken.rows()])] == ["q"]
    big = [HourlyAggregator(), HourlyAggregator()]
    for agg in big:
        agg.add_row(HourlyRow(h, "p", "m", 1, 0, 2**62, 0, 0, 0))
    with pytest.raises(SourceError, match="past 2\\*\\*63"):
        combine([agg.rows() for agg in big])


def test_token_counts_past_64_bits_are_a_clear_error_not_a_crash() -> None:
    """A forged hour whose tokens add up past what any real account logs stops with a sentence, not a traceback."""
    agg = HourlyAggregator()
    h = int(T.timestamp())
    agg.add_row(HourlyRow(h - h % 3600, "p", "m", 2**23 - 1, 0, (2**23 - 1) * 2**40, 0, 0, 0, prompt_over=272_000))
    with pytest.raises(SourceError, match="past 2\\*\\*63: not a Bedrock log"):
        agg.add(h, "p", "m", "", "", False, 2**40, 0, 0, 0)


def test_rows_in_is_half_open() -> None:
    agg = HourlyAggregator()
    end = floor_hour(T)
    for hours_back in (0, 1, 24, 25):
        agg.add(int(end.timestamp()) - hours_back * 3600, "p", "m", "", "", error=False, input_tokens=0,
                output_tokens=0, cache_read_tokens=0, cache_write_tokens=0)  # fmt: skip
    one_day = make_windows(T, ZoneInfo("UTC"))[0]
    assert len([r for r in agg.rows() if one_day.contains(r.hour)]) == 2  # 1 and 24 hours back; not the current hour


def test_local_day_uses_the_hour_start() -> None:
    hour = int(at(2026, 11, 26, 23).timestamp())
    assert local_day(hour, ZoneInfo("UTC")).isoformat() == "2026-11-26"
    assert local_day(hour, ZoneInfo("Asia/Tokyo")).isoformat() == "2026-11-27"


_ROW = st.builds(
    HourlyRow,
    st.integers(0, 9).map(lambda h: int(floor_hour(T).timestamp()) - h * 3600),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["m", "n"]),
    st.integers(1, 2),
    st.just(0),
    st.integers(0, 5),
    st.just(0),
    st.just(0),
    st.just(0),
    st.sampled_from(["", "us-east-1"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_ROW, max_size=12), min_size=1, max_size=5), st.integers(1, 4))
def test_combining_chunked_tables_equals_one_table_of_every_row(tables: list[list[HourlyRow]], chunk: int) -> None:
    """However rows fall into tables and tables into chunks, combining them gives the table one aggregator makes of
    every row: the same rows, summed, in order (hours only one table spans laid as they are, shared ones summed)."""
    with patch.object(usage, "CHUNK_ROWS", chunk):
        made = []
        for rows in tables:
            agg = HourlyAggregator()
            for row in rows:
                agg.add_row(row)
            made.append(agg.rows())
        # one run a chunk; a chunk is cut at the first hour that takes it to `chunk` rows
        assert all(sum(c.hour != c.hour[-1]) < chunk for t in made for c in t.chunks())
        whole = HourlyAggregator()
        for row in (r for rows in tables for r in rows):
            whole.add_row(row)
        want = list(whole.rows())
        combined = combine(made)
        assert list(combined) == want and len(combined) == len(want)
        chunks = combined.chunks()
        assert [c.first for c in chunks] == list(itertools.accumulate((len(c.hour) for c in chunks), initial=0))[:-1]
        for most in (1, 2, 5, len(want) or 1):  # runs across chunks: the same rows, each knowing its place
            runs = [c for _, c in combined.runs([], most)]
            assert [c.first for c in runs] == list(itertools.accumulate((len(c.hour) for c in runs), initial=0))[:-1]
            assert [c.counts.tolist() for c in runs] == [
                [list(usage_counts(r)) for r in want[c.first : c.first + len(c.hour)]] for c in runs
            ]
        assert sum(len(c.hour) for _, c in combined.runs([], 3, drop=True)) == len(want)
        assert len(combined) == 0 and not combined.chunks()  # read, then let go


def test_a_table_packs_its_columns_and_readers_get_them_whole() -> None:
    """A table keeps hour numbers and 32-bit counts where a chunk's all fit; what it gives out is epoch seconds and
    64-bit counts, and counts near 2**31 from two tables add up past it without wrapping."""
    big = (1 << 31) - 1
    last = int(datetime(9999, 12, 31, 23, tzinfo=UTC).timestamp())  # the last hour a log's clock can name
    near = [HourlyRow(0, "ann", "m", 1, 0, big, 1, 0, 0), HourlyRow(last, "ann", "m", 1, 0, 5, 1, 0, 0)]
    tables = [as_table(near), as_table([HourlyRow(0, "ann", "m", 2, 0, big, 1, 0, 0)])]
    assert as_table([HourlyRow(0, "bob", "m", 1, 0, 1 << 40, 0, 0, 0)])._chunks[0].counts.dtype.name == "int64"
    assert all(c.hour.dtype.name == c.counts.dtype.name == "int32" for t in tables for c in t._chunks)
    combined = combine(tables)
    want = [HourlyRow(0, "ann", "m", 3, 0, 2 * big, 2, 0, 0), near[1]]
    assert list(combined) == want and combined[-1].hour == last and combined.calls() == 4
    runs = [c for _, c in combined.runs([HOUR])]
    assert [c.hour.tolist() for c in runs] == [[0], [last]]
    assert runs[0].counts.dtype.name == "int64" and runs[0].counts.tolist() == [list(usage_counts(want[0]))]
    assert [c.hour.tolist() for c in combined.chunks()] == [[0, last]]
