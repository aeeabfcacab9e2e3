"""The Logs Insights partitions: one region's (and account's) hourly rows for one UTC day, in the state store.

Owns the partition format and its integrity check, merging a query's rows into a partition, and the
plan of which hours still need a query. A partition records how far its hours are settled (queried
after the log-delivery lag passed); settled hours are never queried again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from generator.sources.insights import Chunk
from generator.state import Store
from generator.usage import DAY, HOUR, HourlyRow, as_table, day_start, iso, row_of, usage_counts, utc_days, valid_counts

FORMAT = 1


@dataclass(frozen=True)
class Partition:
    """One region's hourly rows for one UTC day, and how far they are final."""

    region: str
    day: date
    sources: str  # the log groups queried, sorted and joined: another set makes the partition stale
    settled_through: int  # epoch seconds: hours that start before this are final
    queried_at: str
    records_matched: float
    bytes_scanned: float
    rows: Sequence[HourlyRow]  # a RowTable once read or merged: 52 bytes a row, where row objects take 580
    rechecked: tuple[int, ...] = ()  # ages in days at which the whole settled day was queried again
    target: str = ""  # the account read through --assume-role ("" for our own)


RECHECK_AGES = (1,)  # days after a day ends when it is read once more for late deliveries (--recheck-days)


def encode(p: Partition) -> bytes:
    rows = [
        [r.hour, r.principal, r.model_id, *usage_counts(r), r.account, *([r.meta] if r.meta else [])] for r in p.rows
    ]
    body = json.dumps(rows, separators=(",", ":"))
    doc = {
        "format": FORMAT, "region": p.region, "day": p.day.isoformat(), "sources": p.sources,
        "settled_through": p.settled_through, "queried_at": p.queried_at,
        "statistics": {"recordsMatched": p.records_matched, "bytesScanned": p.bytes_scanned},
        "rows_sha256": hashlib.sha256(body.encode()).hexdigest(), "rows": rows, "rechecked": list(p.rechecked),
        "target": p.target,
    }  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


def decode(data: bytes, region: str, day: date, target: str = "") -> Partition | None:
    """Read the partition of `region` and `day`; None when it is damaged or not that day's: it is queried again."""
    try:
        doc = json.loads(data)
        rows = doc["rows"]
        body = json.dumps(rows, separators=(",", ":"))
        if doc["format"] != FORMAT or hashlib.sha256(body.encode()).hexdigest() != doc["rows_sha256"]:
            return None
        stats = doc["statistics"]
        found = Partition(
            doc["region"], date.fromisoformat(doc["day"]), doc["sources"], int(doc["settled_through"]),
            doc["queried_at"], float(stats["recordsMatched"]), float(stats["bytesScanned"]),
            [row_of(row[0], row[1], row[2], row[3:9], region, account=_account(row), meta=_meta(row)) for row in rows],
            tuple(int(age) for age in doc.get("rechecked", [])),
            str(doc.get("target", "")),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None
    start = day_start(day)
    valid = found.region == region and found.day == day and found.target == target
    valid = valid and all(_valid_row(r, start) for r in found.rows)
    return replace(found, rows=as_table(found.rows)) if valid else None  # checked as written, then held as a table


def _account(row: list[Any]) -> str:
    """A row's account (partitions written before accounts were kept have none)."""
    if len(row) == 9:
        return ""
    if len(row) not in (10, 11) or not isinstance(row[9], str) or not re.fullmatch(r"(\d{12})?", row[9]):
        raise ValueError("a row's account must be 12 digits")
    return str(row[9])


def _meta(row: list[Any]) -> str:
    """A row's request-metadata text ("" when it kept none)."""
    if len(row) < 11:
        return ""
    if not isinstance(row[10], str):
        raise ValueError("a row's metadata must be text")
    return row[10]


def _valid_row(row: HourlyRow, start: int) -> bool:
    """A row a query could have written for the day from `start`: its hour in that day, names and counts in bounds."""
    return type(row.hour) is int and start <= row.hour < start + DAY and valid_counts(row)


def _name(region: str, day: date, target: str = "") -> str:
    if target:
        return f"account={target}/region={region}/day={day.isoformat()}.json"
    return f"region={region}/day={day.isoformat()}.json"


def read_partition(store: Store, region: str, day: date, target: str = "") -> Partition | None:
    """The stored partition of `region` and `day` (None when absent or damaged: it is queried again)."""
    data = store.read_blob(_name(region, day, target))
    return None if data is None else decode(data, region, day, target)


def write_partition(store: Store, partition: Partition) -> None:
    """Keep a partition in the store, replacing the one before."""
    store.write_blob(_name(partition.region, partition.day, partition.target), encode(partition))


def recheck_due(p: Partition | None, day: date, real_now: float, ages: Iterable[int] = RECHECK_AGES) -> int | None:
    """The age (days) at which a settled day should be read again for late deliveries now, or None.

    CloudWatch accepts events up to 14 days old, so an hour settled after the log-delivery lag can still
    grow; a whole day is read once more when it is `age` days old. Judged by the real time, never --now.
    """
    if p is None or p.settled_through < day_start(day) + DAY:
        return None
    due = [age for age in ages if age not in p.rechecked and real_now >= day_start(day) + DAY + age * DAY]
    return max(due) if due else None


def plan_chunks(
    places: Iterable[tuple[str, str]],
    partitions: Mapping[tuple[str, str, date], Partition | None],
    start: int,
    end: int,
    sources: str,
    rebuild_since: date | None = None,
    real_now: float | None = None,
    recheck_ages: Iterable[int] = RECHECK_AGES,
) -> list[Chunk]:
    """One query per region and day: the hours not yet settled in [day start, end), or a whole day re-check."""
    chunks = []
    for target, region in places:
        for day in utc_days(start, end):
            p = partitions.get((target, region, day))
            fresh = p is None or p.sources != sources or (rebuild_since is not None and day >= rebuild_since)
            begin = day_start(day) if fresh or p is None else max(day_start(day), p.settled_through)
            stop = min(end, day_start(day) + DAY)
            age = None if fresh or real_now is None else recheck_due(p, day, real_now, recheck_ages)
            if age is not None:
                chunks.append(Chunk(region, day_start(day), day_start(day) + DAY, recheck=age, target=target))
            elif begin < stop:
                chunks.append(Chunk(region, begin, stop, target=target))
    return chunks


def merge(
    old: Partition | None,
    target: str,
    region: str,
    day: date,
    sources: str,
    queried: tuple[int, int],
    rows: Iterable[HourlyRow],
    settled_before: int,
    now: datetime,
    stats: tuple[float, float],
    rechecked: Iterable[int] = (),
) -> Partition:
    """Replace the queried hours of a partition; hours that ended before `settled_before` become final."""
    begin, stop = queried
    keep = [] if old is None or old.sources != sources else [r for r in old.rows if not begin <= r.hour < stop]
    merged = as_table([*keep, *rows])  # by hour, principal and model id, as a table
    settled = max(begin, min(stop, settled_before - settled_before % HOUR))
    if old is not None and old.sources == sources:
        settled = max(settled, old.settled_through)  # a re-check never unsettles what was final
    previous = old.rechecked if old is not None and old.sources == sources else ()
    ages = tuple(sorted({*previous, *rechecked}))
    return Partition(
        region, day, sources, settled, iso(now),
        stats[0] + (old.records_matched if keep and old else 0), stats[1] + (old.bytes_scanned if keep and old else 0),
        merged, ages, target,
    )  # fmt: skip
