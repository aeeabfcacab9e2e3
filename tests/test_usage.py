from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from generator.usage import HourlyAggregator, floor_hour, local_day, make_windows

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
