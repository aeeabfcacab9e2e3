"""Read Bedrock model-invocation log records from files: every file under `--logs`, each record once.

Finds the files (each real file once, however many paths reach it; every file not read counted by
reason), reads them on every core into hourly rows, then drops records whose `requestId` was
already counted. Memory grows with hourly rows plus 12 bytes a record for the duplicate check.
"""

from __future__ import annotations

import hashlib
import os
import stat
from array import array
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from generator import cores, memory
from generator.attribution import MetaText
from generator.errors import SourceError
from generator.skips import SkipTally
from generator.sources import SourceResult
from generator.sources.logfile import (
    UNREADABLE,
    BadLine,
    FileSkip,
    Readable,
    Record,
    as_utf8,
    chunks,
    decode,
    epoch_of,
    expand,
    records,
    sniff,
)
from generator.usage import DAY, HourlyAggregator, RowTable, combine

PERMISSION_CHECK = "amazon-bedrock-logs-permission-check"
EXPORT_WRITE_TEST = "aws-logs-write-test"  # a CloudWatch export task's own check that it may write: no records


def is_offload(parts: tuple[str, ...]) -> bool:
    """A body offload: a file in the `data/` folder Bedrock makes inside an hour folder
    (.../HH/data/<uuid>_input.json.gz), not any file under a folder that happens to be called data."""
    return len(parts) >= 3 and parts[-2] == "data" and len(parts[-3]) == 2 and parts[-3].isdigit()


PER_WORKER = 64  # files: a core reads at least this many, or
PER_WORKER_BYTES = 4 << 20  # bytes of files (a worker costs a fork and its rows' trip back: tens of ms)
BATCH_BYTES = 16 << 20  # at most this many bytes of files a batch (unless one file is bigger): a worker holds one
# batch's sums at a time, so the workers together hold a few batches, never all the rows
MAX_BAD_RUN = 10_000  # lines in a row that are not records: the rest of that file is not a log


SHARDS = 64  # a day's request keys are checked a 64th at a time: the set stays small however busy the day


@dataclass
class _Batch:
    """What one worker read: hourly rows, skips, and each record's request key by hour."""

    rows: RowTable | None = None
    tally: SkipTally = field(default_factory=SkipTally)  # records skipped
    ignored: SkipTally = field(default_factory=SkipTally)  # files (or their rest) not read
    records: int = 0
    # a shard of a UTC day (day * SHARDS + the key's first byte % SHARDS) -> (64-bit request keys as 8-byte digests,
    # index of the file each came from): 12 bytes a record
    keys: dict[int, tuple[bytearray, array[int]]] = field(default_factory=dict)


def request_key(request_id: str) -> bytes:
    """A 64-bit key for a requestId (the same in every process); collisions are settled by the full id."""
    return hashlib.blake2b(request_id.encode(), digest_size=8).digest()


def find_log_files(paths: Iterable[Path], ignored: SkipTally | None = None) -> list[Path]:
    """List each regular file under `paths` once, in order; count every other file in `ignored`."""
    ignored = ignored if ignored is not None else SkipTally()
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def consider(path: Path) -> None:
        if PERMISSION_CHECK in path.name:
            ignored.skip("permission_check_object", str(path))
            return
        if path.name == EXPORT_WRITE_TEST:
            ignored.skip("export_write_test_object", str(path))
            return
        try:
            info = path.stat()  # follows links: a link to a device or FIFO is judged by its target
        except OSError as exc:
            ignored.skip("unreadable_file", str(path), exc.strerror or str(exc))
            return
        if not stat.S_ISREG(info.st_mode):
            ignored.skip("not_a_regular_file", str(path), "FIFO, device or socket")
        elif (info.st_dev, info.st_ino) in seen:
            ignored.skip("same_file_again", str(path), "reached by another --logs path or link")
        else:
            seen.add((info.st_dev, info.st_ino))
            found.append(path)

    for root in paths:
        if not root.exists() and not root.is_symlink():
            raise SourceError(f"--logs {root}: no such file or folder")
        if not root.is_dir():
            consider(root)
            continue
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            for linked in [d for d in dirs if Path(folder, d).is_symlink()]:
                ignored.skip("linked_folder_not_followed", str(Path(folder, linked)), "give its target as --logs")
            for name in sorted(names):
                path = Path(folder, name)
                if is_offload(path.relative_to(root).parts):
                    ignored.skip("body_offload_object", str(path))  # request/response bodies, not records
                else:
                    consider(path)
    return found


def read_files(paths: Iterable[Path], workers: int | None = None, meta_keys: tuple[str, ...] = ()) -> SourceResult:
    """Read every record file under `paths` into hourly rows, each requestId once, on every core; rows keep the
    request-metadata values of `meta_keys`."""
    paths = tuple(paths)
    ignored = SkipTally()
    files = find_log_files(paths, ignored)
    workers, batches = split(files, workers)
    parts = _read_parallel(workers, batches, meta_keys) if workers > 1 else [_read_batch(b, meta_keys) for b in batches]
    total = _Batch(ignored=ignored)
    tables: list[RowTable] = []
    for part in parts:
        assert part.rows is not None
        tables.append(part.rows)
        part.rows = None  # the table lives on in `tables` only, which `combine` empties as it goes
        total.tally.merge(part.tally)
        total.ignored.merge(part.ignored)
        total.records += part.records
    taken = HourlyAggregator()
    dropped = _drop_duplicates(files, parts, taken, MetaText(meta_keys))
    tables.append(taken.rows())  # what the duplicates had added, as rows of negative counts
    rows = combine(tables)
    where = ", ".join(str(p) for p in paths)
    if total.records - dropped == 0:
        raise SourceError(
            f"no Bedrock invocation records in {where}: {len(files)} files, "
            f"{total.tally.report().describe('log record', 'skipped')}, "
            f"{total.ignored.report().describe('file', 'not read')}; check the --logs paths"
        )
    return SourceResult(
        rows, total.tally.report(), f"files: {where}", total.records - dropped,
        ignored=total.ignored.report(), duplicates=dropped,
    )  # fmt: skip


def split(files: list[Path], workers: int | None = None) -> tuple[int, list[list[tuple[int, Path]]]]:
    """How many workers read the files (as many as cores, fewer when the files are few and small), and the files,
    numbered, in contiguous batches of about equal bytes (at least one a worker, at most about BATCH_BYTES each),
    read in order and merged in order, so skip examples stay in order."""
    weights = [_size(path) + 1 for path in files]  # an empty file still has to be opened
    total = sum(weights)
    workers = workers or min(cores.available(), max(1, len(files) // PER_WORKER, total // PER_WORKER_BYTES))
    count = max(workers, -(-total // BATCH_BYTES)) if workers > 1 else 1
    batches: list[list[tuple[int, Path]]] = [[] for _ in range(count)]
    done = 0
    for index, (path, weight) in enumerate(zip(files, weights, strict=True)):
        batches[done * count // total].append((index, path))
        done += weight
    return workers, [batch for batch in batches if batch]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # reading it says why


def _read_parallel(workers: int, batches: list[list[tuple[int, Path]]], meta_keys: tuple[str, ...]) -> list[_Batch]:
    try:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_read_batch, batches, [meta_keys] * len(batches)))
    except (OSError, NotImplementedError, BrokenProcessPool):
        # No process pool here (AWS Lambda has no /dev/shm): read in this process instead.
        return [_read_batch([f for batch in batches for f in batch], meta_keys)]


def _read_batch(files: list[tuple[int, Path]], meta_keys: tuple[str, ...] = ()) -> _Batch:
    batch, agg = _Batch(), HourlyAggregator()
    add, keys, meta = agg.add, batch.keys, MetaText(meta_keys)
    for index, path in files:
        for epoch, rec in _records(path, batch.tally, batch.ignored):
            i = rec.input
            add(epoch, rec.identity.arn, rec.modelId, rec.region or "", rec.accountId or "", rec.errorCode is not None,
                i.inputTokenCount, rec.output.outputTokenCount, i.cacheReadInputTokenCount,
                i.cacheWriteInputTokenCount, meta(rec.requestMetadata))  # fmt: skip
            batch.records += 1
            if rec.requestId:
                # keys are compared within a UTC day, across every file and hour: a copy of a record, or one
                # delivered twice an hour apart, counts once. Each day's keys are kept in SHARDS by their first
                # byte, so the check holds one shard's keys as a set at a time, never a whole day's
                key = request_key(rec.requestId)
                shard = (epoch - epoch % DAY) * SHARDS + key[0] % SHARDS
                slot = keys.get(shard)
                if slot is None:
                    slot = keys[shard] = (bytearray(), array("I"))
                slot[0].extend(key)
                slot[1].append(index)
    batch.rows = agg.rows()
    memory.give_back()  # the sums' memory, before the next batch (in a worker) or the next stage
    return batch


def _twice(keys: Iterable[int]) -> set[int]:
    """The keys that occur more than once."""
    seen: set[int] = set()
    return {k for k in keys if k in seen or seen.add(k)}  # type: ignore[func-returns-value]


def repeated(keys: Iterable[int]) -> set[int]:
    """The 64-bit keys that occur more than once, holding a SHARDS-th of them in a set at a time."""
    shards = [array("Q") for _ in range(SHARDS)]
    for k in keys:
        shards[k % SHARDS].append(k)
    return {k for shard in shards if len(set(shard)) != len(shard) for k in _twice(shard)}


def key_number(key: bytes) -> int:
    """A key as the number `array("Q")` reads from the same 8 bytes."""
    return array("Q", key)[0]


def usage_of(rec: Record, meta: MetaText) -> tuple[str, str, str, str, bool, int, int, int, int, str]:
    """What one record adds to its hourly row, in `HourlyAggregator.add`'s order after the time."""
    i = rec.input
    return (rec.identity.arn, rec.modelId, rec.region or "", rec.accountId or "", rec.errorCode is not None,
            i.inputTokenCount, rec.output.outputTokenCount, i.cacheReadInputTokenCount, i.cacheWriteInputTokenCount,
            meta(rec.requestMetadata))  # fmt: skip


def _records(path: Path, tally: SkipTally, ignored: SkipTally) -> Iterator[tuple[int, Record]]:
    """Yield (epoch seconds, record) for each usable record of one file; count everything else."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        tally.skip("unreadable_file", f"{path}:1", str(exc))
        return
    with fh:
        yield from records_in(fh, str(path), tally, ignored)


def records_in(fh: Readable, name: str, tally: SkipTally, ignored: SkipTally) -> Iterator[tuple[int, Record]]:
    """Yield (epoch seconds, record) for each usable record of one open file or object called `name`."""
    n, bad_run = 0, 0
    try:
        pieces = chunks(fh)
        first = next(pieces, b"")
        while first and not first.strip():  # leading blank space (or a bomb of it) says nothing yet
            first = next(pieces, b"")
        pieces = as_utf8(first, pieces)
        first = next(pieces, b"")
        shape = sniff(first)
        if shape == "unknown":
            ignored.skip("not_log_records" if first.strip() else "empty_file", name)
            return
        for n, text in enumerate(records(_prepend(first, pieces), shape), 1):
            if isinstance(text, bytes):  # else TOO_LONG
                try:  # the hot path: one record a line, no generator and no copy per line
                    rec = decode(text)
                    epoch = epoch_of(rec)
                    bad_run = 0
                    yield epoch, rec
                    continue
                except BadLine:
                    pass  # said below, once the line is known not to be blank or an envelope
                if not text.strip():
                    continue
            found: Iterable[Record | BadLine] = (
                expand(text) if isinstance(text, bytes) else (BadLine("line_too_long", "a line over 32 MiB"),)
            )  # an envelope, concatenated records, or a bad line
            for item in found:
                try:
                    if isinstance(item, BadLine):
                        raise item
                    epoch = epoch_of(item)
                except BadLine as exc:
                    tally.skip(exc.reason, f"{name}:{n}", str(exc))
                    bad_run += 1
                    if bad_run > MAX_BAD_RUN:
                        raise FileSkip("not_log_records", f"{MAX_BAD_RUN:,} lines in a row are not records") from None
                    continue
                bad_run = 0
                yield epoch, item
    except FileSkip as exc:
        ignored.skip(exc.reason, f"{name}:{n + 1}", str(exc))
    except UNREADABLE as exc:
        # A truncated or corrupt file: the records read before the damage stand, and the rest is one loss of
        # unknown size (never "1 record skipped": a cut gzip object can hold thousands)
        ignored.skip("rest_of_file_unreadable", f"{name}:{n + 1}", f"{exc}; {n:,} lines were read before it")


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _drop_duplicates(files: list[Path], parts: list[_Batch], agg: HourlyAggregator, meta: MetaText) -> int:
    """Take back every record whose requestId was already counted; return how many."""
    suspects: set[int] = set()
    in_files: set[int] = set()
    for shard in {d for part in parts for d in part.keys}:
        slots = [(array("Q", bytes(d)), f) for d, f in (part.keys[shard] for part in parts if shard in part.keys)]
        twice = _twice(k for slot in slots for k in slot[0])
        if not twice:
            continue  # the common case: no request seen twice in this shard of the day
        suspects |= twice
        in_files.update(i for slot in slots for k, i in zip(*slot, strict=True) if k in twice)
    if not suspects:
        return 0
    # Read again only the files that hold a suspect, in the first pass's order: the first copy stays.
    counted: set[str] = set()
    dropped = 0
    quiet = SkipTally()  # their skips were counted in the first pass
    for index in sorted(in_files):
        for epoch, rec in _records(files[index], quiet, quiet):
            if not rec.requestId or key_number(request_key(rec.requestId)) not in suspects:
                continue
            if rec.requestId not in counted:
                counted.add(rec.requestId)
                continue
            agg.remove(epoch, usage_of(rec, meta))
            dropped += 1
    return dropped
