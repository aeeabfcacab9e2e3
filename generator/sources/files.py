"""Read Bedrock model-invocation log records from files, exactly as Bedrock writes them.

Streams `.json.gz` objects of the S3 delivery layout and plain `.json`/`.jsonl` files into hourly
rows: memory grows with hourly rows, never with records. Bad lines are counted, never fatal.
"""

from __future__ import annotations

import itertools
import os
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import Annotated

import msgspec

from generator.errors import SourceError
from generator.sources import SkipTally, SourceResult
from generator.usage import HourlyAggregator

SUFFIXES = (".json.gz", ".jsonl.gz", ".json", ".jsonl")
PERMISSION_CHECK = "amazon-bedrock-logs-permission-check"
CHUNK = 1 << 20
PER_WORKER = 64  # files: fewer per core are read in this process

Count = Annotated[int, msgspec.Meta(ge=0)]


class _Identity(msgspec.Struct, frozen=True):
    arn: str


class _Input(msgspec.Struct, frozen=True):
    inputTokenCount: Count = 0
    cacheReadInputTokenCount: Count = 0
    cacheWriteInputTokenCount: Count = 0


class _Output(msgspec.Struct, frozen=True):
    outputTokenCount: Count = 0


class _Record(msgspec.Struct, frozen=True):
    # Only the fields we use are declared: msgspec skips the (large) bodies without decoding them.
    timestamp: datetime
    identity: _Identity
    modelId: str
    input: _Input = _Input()
    output: _Output = _Output()
    errorCode: str | None = None


_decode = msgspec.json.Decoder(_Record).decode
_decode_list = msgspec.json.Decoder(list[msgspec.Raw]).decode


def find_log_files(paths: Iterable[Path]) -> list[Path]:
    """List the record files under `paths`, skipping body-offload objects and the permission check."""
    found: list[Path] = []
    for root in paths:
        if root.is_file():
            found.append(root)
            continue
        if not root.is_dir():
            raise SourceError(f"--logs {root}: no such file or folder")
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "data")  # body-offload objects, not records
            found.extend(Path(folder, n) for n in sorted(names) if n.endswith(SUFFIXES) and PERMISSION_CHECK not in n)
    return found


def read_files(paths: Iterable[Path], workers: int | None = None) -> SourceResult:
    """Read every record file under `paths` into hourly rows, on every core when there are many files."""
    paths = tuple(paths)
    files = find_log_files(paths)
    workers = workers or min(os.cpu_count() or 1, max(1, len(files) // PER_WORKER))
    size = -(-len(files) // workers)  # contiguous batches: merged in order, examples stay in file order
    batches = [files[i : i + size] for i in range(0, len(files), size)] if workers > 1 else [files]
    results = _read_parallel(batches) if len(batches) > 1 else [_read_batch(files)]
    agg, tally, records = HourlyAggregator(), SkipTally(), 0
    for part_rows, part_tally, part_records in results:
        agg.merge(part_rows)
        tally.merge(part_tally)
        records += part_records
    where = ", ".join(str(p) for p in paths)
    return SourceResult(tuple(agg.rows()), tally.report(), f"files: {where}", records)


def _read_parallel(batches: list[list[Path]]) -> list[tuple[HourlyAggregator, SkipTally, int]]:
    try:
        with ProcessPoolExecutor(len(batches)) as pool:
            return list(pool.map(_read_batch, batches))
    except (OSError, NotImplementedError, BrokenProcessPool):
        # No process pool here (AWS Lambda has no /dev/shm): read in this process instead.
        return [_read_batch([f for batch in batches for f in batch])]


def _read_batch(files: list[Path]) -> tuple[HourlyAggregator, SkipTally, int]:
    agg, tally = HourlyAggregator(), SkipTally()
    records = sum(_read_file(path, agg, tally) for path in files)
    return agg, tally, records


def _read_file(path: Path, agg: HourlyAggregator, tally: SkipTally) -> int:
    """Add one file's records to `agg`; return how many were used."""
    used = 0
    lineno = 0
    add = agg.add
    try:
        chunks = _gunzip_chunks(path) if path.name.endswith(".gz") else _plain_chunks(path)
        first = next(chunks, b"")
        if first.lstrip().startswith(b"["):
            lines: Iterator[bytes] = _array_items(first + b"".join(chunks))
        else:
            lines = _lines(itertools.chain((first,), chunks))
        for lineno, line in enumerate(lines, 1):
            try:
                rec = _decode(line)
                epoch = int(rec.timestamp.timestamp())
                if rec.timestamp.tzinfo is None:
                    raise ValueError("timestamp has no time zone")
            except msgspec.ValidationError as exc:
                tally.skip(_reason(str(exc)), f"{path}:{lineno}", str(exc))
                continue
            except msgspec.DecodeError as exc:
                if line.strip():
                    tally.skip("malformed_json", f"{path}:{lineno}", str(exc))
                continue
            except ValueError as exc:
                tally.skip("invalid_field", f"{path}:{lineno}", str(exc))
                continue
            i = rec.input
            error = rec.errorCode is not None
            add(epoch, rec.identity.arn, rec.modelId, error, i.inputTokenCount, rec.output.outputTokenCount,
                i.cacheReadInputTokenCount, i.cacheWriteInputTokenCount)  # fmt: skip
            used += 1
    except (OSError, EOFError, zlib.error) as exc:
        # A truncated or corrupt file: the records read before the damage stand, the rest is lost.
        tally.skip("unreadable_file", f"{path}:{lineno + 1}", str(exc))
    return used


def _plain_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _gunzip_chunks(path: Path) -> Iterator[bytes]:
    """Decompress a (possibly multi-member) gzip file in bounded chunks."""
    unzip = zlib.decompressobj(wbits=31)
    with path.open("rb") as fh:
        while raw := fh.read(CHUNK):
            while raw:
                yield unzip.decompress(raw)
                raw = unzip.unused_data
                if raw:  # the next gzip member
                    unzip = zlib.decompressobj(wbits=31)
    if not unzip.eof:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _array_items(data: bytes) -> Iterator[bytes]:
    try:
        yield from (bytes(item) for item in _decode_list(data))
    except msgspec.DecodeError as exc:
        raise OSError(f"not a JSON array of records: {exc}") from exc


def _reason(message: str) -> str:
    if "missing required field" in message:
        return "missing_field"
    if "TokenCount" in message:
        return "bad_token_count"
    return "invalid_field"
