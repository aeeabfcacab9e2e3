"""Read S3-delivered Bedrock logs in place: list only the days the windows need, read only hours that changed.

Owns the S3 delivery layout (`<prefix>AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/`),
which objects are records (not `data/` body offloads, not the permission check), and the store of one
hourly row set per delivery hour with the fingerprint of the objects it was read from. An hour whose
objects (keys and ETags) are unchanged is never read again; a late or rewritten object re-reads its
hour. Objects are streamed (1 MiB at a time) on a few threads: memory grows with rows, not with logs.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import re
import time
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from generator import aws, state
from generator.attribution import MetaText
from generator.aws import AWS_ERRORS, DENIED, error_code, reason
from generator.errors import SourceError
from generator.layout import parse_url
from generator.skips import SkipTally
from generator.sources import SourceResult
from generator.sources.files import PERMISSION_CHECK, key_number, records_in, repeated, request_key, usage_of
from generator.usage import (
    HOUR,
    HourlyAggregator,
    HourlyRow,
    RowTable,
    as_table,
    combine,
    day_start,
    floor_hour,
    utc_days,
    valid_counts,
)

LAYOUT = "AWSLogs/{account}/BedrockModelInvocationLogs/{region}/"
_HOUR_KEY = re.compile(r"(\d{4})/(\d\d)/(\d\d)/(\d\d)/(.+)$")
FORMAT = 1


@dataclass(frozen=True)
class S3Options:
    """Where the S3-delivered logs are and where the hourly store is."""

    urls: tuple[str, ...]  # s3://bucket/prefix, each holding an AWSLogs/ folder
    state: str = ".bedrock-usage-state"
    rebuild: bool = False
    concurrency: int = 8
    deadline_seconds: float = 900.0  # no day is started after this many seconds: the next run reads on
    profile: str | None = None
    endpoint_url: str | None = None
    meta_keys: tuple[str, ...] = ()  # the request-metadata keys rows keep: another set makes stored days stale


class Hour(msgspec.Struct, frozen=True):
    """What one delivery hour's objects held: their fingerprint, sizes, rows and skips."""

    objects: str  # sha256 of the sorted `key etag` lines: any new, gone or rewritten object changes it
    count: int
    bytes: int
    rows: list[HourlyRow]
    records: int = 0
    duplicates: int = 0
    skipped: dict[str, int] = {}
    ignored: dict[str, int] = {}
    keys: builtins.bytes = (
        b""  # the 64-bit keys of the requestIds this hour counted (8 bytes each): no other hour counts them
    )


class Day(msgspec.Struct, frozen=True):
    """One account's region's delivery hours of one UTC day, as stored."""

    format: int
    place: str  # s3://bucket/prefix/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/
    day: str
    hours: dict[int, Hour]
    meta_keys: list[str] = []  # the request-metadata keys its rows kept


_decode_day = msgspec.json.Decoder(Day).decode


def read_s3(options: S3Options, start: datetime, now: datetime) -> SourceResult:
    """Bring the store up to date for every delivery hour from `start` to `now` and return the window's rows.

    Days are read in order, each day's changed hours on every thread, and each day is kept in the store as soon as
    it is read: a run stopped by its deadline (or killed) keeps the days it finished, and the next run reads on
    from there. A run that stops early says how many days it read (a backfill in progress).
    """
    s3 = aws.client("s3", profile=options.profile, endpoint_url=options.endpoint_url)
    store = state.open_store(options.state, options.profile, options.endpoint_url)
    window = (int(start.timestamp()), int(floor_hour(now).timestamp()))
    folders = (window[0] - HOUR, window[1] + HOUR)  # a record can be delivered into the next hour's folder
    stats = dict.fromkeys(("list_requests", "objects_listed", "objects_read", "bytes_read", "hours_read",
                           "hours_unchanged", "hours_kept_without_objects"), 0)  # fmt: skip
    ignored, tally = SkipTally(), SkipTally()
    ends_at = _clock() + options.deadline_seconds
    meta_keys = options.meta_keys
    unread: list[tuple[str, str, date]] = []
    with ThreadPoolExecutor(options.concurrency) as pool:
        where = [(b, place) for b, p in map(parse_url, options.urls) for place in places(s3, b, p, stats)]
        days = [(b, place, day) for b, place in where for day in utc_days(*folders)]
        # Each day's stored hours and its objects now, listed on every thread.
        found = list(pool.map(lambda d: _day_now(s3, store, options, d[0], d[1], d[2], folders, window), days))
        names = {d: day[0] for d, day in zip(days, found, strict=True)}  # each day's blob in the store
        keys_after: dict[tuple[str, str, date], dict[int, bytes]] = {}  # each day's keys once this run read it
        tables: list[RowTable] = []  # each day's rows, once it is read (row objects take 580 bytes, a table 52)
        for d, (name, hours, changed, _, _, table) in zip(days, found, strict=True):
            if table is not None:  # nothing new: its stored rows, as the listing made them
                tables.append(table)
                continue
            if _clock() > ends_at:
                unread.append(d)  # kept for the next run: its stored hours (if any) still count
                tables.append(_rows_of(hours, folders, window))
                continue
            read = functools.partial(_read_hour, s3, d[0], meta_keys=meta_keys)
            fresh = list(pool.map(read, [h for h, _ in changed], [o for _, o in changed]))
            before = (d[0], d[1], d[2] - timedelta(days=1))
            earlier = keys_after.get(before) or (_read_keys(store, f"{names[before]}.keys") if before in names else {})
            keys_after[d] = _once_a_day(s3, store, d, name, hours, changed, fresh, earlier, meta_keys)
            for (hour, _), hour_read in zip(changed, fresh, strict=True):
                hours[hour] = hour_read
                stats["hours_read"] += 1
                stats["objects_read"] += hour_read.count
                stats["bytes_read"] += hour_read.bytes
                _examples(hour_read, tally, ignored, f"s3://{d[0]}/{d[1]}{_folder(hour)}")
            keys = keys_after[d]
            store.write_blob(f"{name}.keys", msgspec.msgpack.encode({h: keys[h] for h in hours if h in keys}))
            bare = {h: msgspec.structs.replace(r, keys=b"") for h, r in hours.items()}
            store.write_blob(
                name, msgspec.json.encode(Day(FORMAT, f"s3://{d[0]}/{d[1]}", d[2].isoformat(), bare, list(meta_keys)))
            )
            tables.append(_rows_of(hours, folders, window))
    for _, _, _, day_ignored, day_stats, _ in found:  # merged here: the threads share nothing they write
        ignored.merge(day_ignored)
        for key, n in day_stats.items():
            stats[key] += n
    records, duplicates = 0, 0
    for _, hours, *_ in found:
        for hour, kept in hours.items():
            if folders[0] <= hour < folders[1]:
                records += kept.records
                duplicates += kept.duplicates
                tally.counts.update(kept.skipped)
                ignored.counts.update(kept.ignored)
    rows = combine(tables)
    urls = ", ".join(options.urls)
    if not records and not unread:
        raise SourceError(
            f"no Bedrock invocation records in {urls} from {start:%Y-%m-%d}: {stats['objects_listed']:,} objects, "
            f"{ignored.report().describe('object', 'not read')}; check the S3 URL and that S3 delivery is on"
        )
    line = (f"S3: {stats['objects_read']:,} objects ({stats['bytes_read'] / 1e6:,.1f} MB) in {stats['hours_read']:,} "
            f"changed hours, {stats['hours_unchanged']:,} hours unchanged, "
            f"{stats['list_requests']:,} list requests")  # fmt: skip
    backfill = ""
    if unread:
        backfill = (f"backfilling: {len(days) - len(unread)} of {len(days)} days of logs read; the next run reads "
                    f"on from {min(d[2] for d in unread)}")  # fmt: skip
        line += f"; {backfill} (the {options.deadline_seconds:.0f} s deadline came first)"
    return SourceResult(
        rows, tally.report(), f"s3: {urls}", rows.calls(),
        {**stats, "state": options.state, "days_unread": len(unread)}, ignored.report(), duplicates, line,
        backfill=backfill,
    )  # fmt: skip


def _rows_of(hours: dict[int, Hour], folders: tuple[int, int], window: tuple[int, int]) -> RowTable:
    """The rows of a day's delivery hours in `folders` whose hours are in `window`, as a table; the hours keep their
    counts but let their row objects go."""
    table = as_table([r for h, kept in hours.items() if folders[0] <= h < folders[1] for r in kept.rows
                      if window[0] <= r.hour < window[1]])  # fmt: skip
    for h, kept in hours.items():
        hours[h] = msgspec.structs.replace(kept, rows=[])
    return table


def _day_now(
    s3: Any,
    store: state.Store,
    options: S3Options,
    bucket: str,
    place: str,
    day: date,
    folders: tuple[int, int],
    window: tuple[int, int],
) -> tuple[
    str, dict[int, Hour], list[tuple[int, list[tuple[str, str, int]]]], SkipTally, dict[str, int], RowTable | None
]:
    """A day's store name, its stored hours, the hours whose objects changed since, what listing found, and when
    nothing changed, its rows (`_rows_of`: read on the listing's thread, so no day's row objects wait for the
    others)."""
    name = _blob(bucket, place, day)
    old = None if options.rebuild else _read_day(store, name)
    if old is not None and tuple(old.meta_keys) != options.meta_keys:
        old = None  # its rows kept other request-metadata keys: every hour is read again
    hours = dict(old.hours) if old else {}
    ignored, stats = SkipTally(), {"list_requests": 0, "objects_listed": 0}
    listed = _list_day(s3, bucket, place, day, ignored, stats)
    changed = [(h, objs) for h, objs in sorted(listed.items())
               if h not in hours or hours[h].objects != _fingerprint(objs)]  # fmt: skip
    stats["hours_unchanged"] = len(listed) - len(changed)
    # Hours whose objects are gone (a lifecycle rule expired them) keep the rows read before.
    stats["hours_kept_without_objects"] = len(set(hours) - set(listed))
    return name, hours, changed, ignored, stats, None if changed else _rows_of(hours, folders, window)


def places(s3: Any, bucket: str, prefix: str, stats: dict[str, int]) -> list[str]:
    """Every `AWSLogs/<account>/BedrockModelInvocationLogs/<region>/` folder under the prefix."""
    places = []
    for account in _folders(s3, bucket, f"{prefix}AWSLogs/", stats):
        if re.fullmatch(r"\d{12}", account):
            base = f"{prefix}AWSLogs/{account}/BedrockModelInvocationLogs/"
            places += [f"{base}{region}/" for region in _folders(s3, bucket, base, stats)
                       if re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region)]  # fmt: skip
    if not places:
        raise SourceError(
            f"s3://{bucket}/{prefix}: no AWSLogs/<account>/BedrockModelInvocationLogs/<region>/ folders; "
            "give the bucket and key prefix Bedrock delivers to"
        )
    return places


def _folders(s3: Any, bucket: str, prefix: str, stats: dict[str, int]) -> list[str]:
    names = []
    for page in _pages(s3, bucket, prefix, stats, delimiter="/"):
        names += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return names


def _pages(s3: Any, bucket: str, prefix: str, stats: dict[str, int], delimiter: str = "") -> Iterator[Any]:
    kwargs = {"Bucket": bucket, "Prefix": prefix, **({"Delimiter": delimiter} if delimiter else {})}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
            stats["list_requests"] += 1
            yield page
    except AWS_ERRORS as exc:
        hint = "; it needs s3:ListBucket" if error_code(exc) in DENIED else ""
        raise SourceError(f"cannot list s3://{bucket}/{prefix} ({reason(exc)}){hint}") from None


def _list_day(
    s3: Any, bucket: str, place: str, day: date, ignored: SkipTally, stats: dict[str, int]
) -> dict[int, list[tuple[str, str, int]]]:
    """The record objects of one day by delivery hour: (key, ETag, size) each; other objects are counted."""
    hours: dict[int, list[tuple[str, str, int]]] = {}
    for page in _pages(s3, bucket, f"{place}{day:%Y/%m/%d}/", stats):
        for obj in page.get("Contents", []):
            stats["objects_listed"] += 1
            key = obj["Key"]
            match = _HOUR_KEY.search(key[len(place) :])
            if PERMISSION_CHECK in key:
                ignored.skip("permission_check_object", f"s3://{bucket}/{key}")
            elif match is None:
                ignored.skip("not_in_delivery_layout", f"s3://{bucket}/{key}")
            elif "data" in match.group(5).split("/")[:-1]:
                ignored.skip("body_offload_object", f"s3://{bucket}/{key}")  # request/response bodies
            else:
                y, m, d, h = (int(g) for g in match.groups()[:4])
                if not 0 <= h < 24:
                    ignored.skip("not_in_delivery_layout", f"s3://{bucket}/{key}")
                    continue
                hour = int(datetime(y, m, d, h, tzinfo=UTC).timestamp())
                hours.setdefault(hour, []).append((key, obj.get("ETag", ""), int(obj.get("Size", 0))))
    return hours


def _fingerprint(objects: list[tuple[str, str, int]]) -> str:
    return hashlib.sha256("".join(f"{k}\t{e}\n" for k, e, _ in sorted(objects)).encode()).hexdigest()


_clock = time.monotonic  # when days may still be started (tests give their own)
FAR = 24 * HOUR  # how far a record's time may lie from the delivery hour it was written in


def _once_a_day(
    s3: Any,
    store: state.Store,
    d: tuple[str, str, date],
    name: str,
    hours: dict[int, Hour],
    changed: list[tuple[int, list[tuple[str, str, int]]]],
    fresh: list[Hour],
    keys_before: dict[int, bytes],
    meta_keys: tuple[str, ...] = (),
) -> dict[int, bytes]:
    """Each requestId once a day across delivery hours: an hour just read that repeats a request another hour of its
    day counted (a stored hour, or one read before it), or the last hour of the day before (`keys_before`: a record
    delivered again into the next folder, over midnight), is read again without those requests (`fresh` is
    updated). One set of the day's keys, and a second read only where a repeat was found. Returns the day's keys by
    hour as this run leaves them."""
    stored = _read_keys(store, f"{name}.keys")
    replaced = {hour for hour, _ in changed}
    counted = {k for h, keys in stored.items() if h in hours and h not in replaced for k in array("Q", keys)}
    counted.update(array("Q", keys_before.get(day_start(d[2]) - HOUR, b"")))
    for i in sorted(range(len(changed)), key=lambda i: changed[i][0]):
        keys = array("Q", fresh[i].keys)
        if not counted.isdisjoint(keys):
            fresh[i] = _read_hour(s3, d[0], changed[i][0], changed[i][1], frozenset(counted), meta_keys)
            keys = array("Q", fresh[i].keys)
        counted.update(keys)
    return {**stored, **{changed[i][0]: fresh[i].keys for i in range(len(changed))}}


def _read_keys(store: state.Store, name: str) -> dict[int, bytes]:
    """A day's stored request keys by hour ({} when absent or damaged: those hours then count nothing twice-checked)."""
    data = store.read_blob(name)
    try:
        found = msgspec.msgpack.decode(data, type=dict[int, bytes]) if data else {}
    except msgspec.DecodeError:
        return {}
    return {h: k for h, k in found.items() if len(k) % 8 == 0}


def _read_hour(
    s3: Any,
    bucket: str,
    hour: int,
    objects: list[tuple[str, str, int]],
    elsewhere: frozenset[int] = frozenset(),
    meta_keys: tuple[str, ...] = (),
) -> Hour:
    """Read one delivery hour's objects into rows; each requestId once within the hour, and none in `elsewhere`
    (the keys other hours of its day counted).

    While reading, only each record's 64-bit key is kept (8 bytes a record, where a set of the ids took about 120);
    a key seen twice in the hour sends the hour to a second read, which takes back every copy after the first by
    comparing the full ids."""
    agg, tally, ignored, meta = HourlyAggregator(), SkipTally(), SkipTally(), MetaText(meta_keys)
    keys = array("Q")
    records = duplicates = 0
    fetched: list[int] = []
    for rec, epoch, rid in _hour_records(s3, bucket, hour, objects, tally, ignored, fetched):
        if rid is not None:
            if rid in elsewhere:
                duplicates += 1
                continue
            keys.append(rid)
        agg.add(epoch, *usage_of(rec, meta))
        records += 1
    twice = repeated(keys)
    if twice:
        counted: set[str] = set()
        quiet = SkipTally()  # the first read counted the skips
        for rec, epoch, rid in _hour_records(s3, bucket, hour, objects, quiet, quiet, []):
            if rid not in twice:
                continue
            if rec.requestId not in counted:
                counted.add(rec.requestId)
                continue
            agg.remove(epoch, usage_of(rec, meta))
            records -= 1
            duplicates += 1
    return Hour(_fingerprint(objects), len(objects), sum(fetched), list(agg.rows()), records, duplicates,
                dict(tally.counts), dict(ignored.counts), keys.tobytes())  # fmt: skip


def _hour_records(
    s3: Any,
    bucket: str,
    hour: int,
    objects: list[tuple[str, str, int]],
    tally: SkipTally,
    ignored: SkipTally,
    fetched: list[int],
) -> Iterator[tuple[Any, int, int | None]]:
    """(record, epoch, 64-bit request key or None) for each usable record of one delivery hour's objects; the size of
    each object read is appended to `fetched` (one expired since the listing is not read)."""
    for key, _etag, size in sorted(objects):
        name = f"s3://{bucket}/{key}"
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        except AWS_ERRORS as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                continue  # expired between the list and the read: the next run lists the hour again
            hint = "; it needs s3:GetObject" if error_code(exc) in DENIED else ""
            raise SourceError(f"cannot read {name} ({reason(exc)}){hint}") from None
        fetched.append(size)
        for epoch, rec in records_in(body, name, tally, ignored):
            if abs(epoch - hour) > FAR:  # Bedrock delivers within minutes: a day off is a broken clock or a forgery
                tally.skip(
                    "timestamp_far_from_delivery", name, f"{rec.timestamp.isoformat()[:40]} in this hour's folder"
                )
                continue
            yield rec, epoch, key_number(request_key(rec.requestId)) if rec.requestId else None


def _examples(found: Hour, tally: SkipTally, ignored: SkipTally, where: str) -> None:
    """Name the folder of what an hour read this run skipped (its counts are added with its rows)."""
    for reasons, into in ((found.skipped, tally), (found.ignored, ignored)):
        into.merge(SkipTally(examples=[f"{where}: {reason}" for reason in reasons]))


def _folder(hour: int) -> str:
    return datetime.fromtimestamp(hour, UTC).strftime("%Y/%m/%d/%H/")


def _blob(bucket: str, place: str, day: date) -> str:
    """Where one day of one delivery folder is stored: beside the CloudWatch partitions, in its own folder."""
    digest = hashlib.sha256(f"{bucket}/{place}".encode()).hexdigest()[:16]
    account, region = place_of(place)
    return f"s3-logs/account={account}/region={region}/{digest}/day={day.isoformat()}.json"


def place_of(place: str) -> tuple[str, str]:
    """The account and region of a `.../AWSLogs/<account>/BedrockModelInvocationLogs/<region>/` folder."""
    parts = place.rstrip("/").split("/")
    return parts[-3], parts[-1]


def _read_day(store: state.Store, name: str) -> Day | None:
    """A stored day, or None when absent or damaged (its hours are read again)."""
    data = store.read_blob(name)
    if data is None:
        return None
    try:
        day = _decode_day(data)
    except msgspec.DecodeError:
        return None
    rows = [r for hour in day.hours.values() for r in hour.rows]
    valid = day.format == FORMAT and all(h % HOUR == 0 for h in day.hours) and all(valid_counts(r) for r in rows)
    return day if valid else None
