"""Read one file of Bedrock invocation records, whatever container it arrived in, within fixed bounds.

Owns format sniffing by content (gzip or plain; UTF-8 with or without a BOM, UTF-16 with one; JSON lines,
a JSON array, pretty-printed or concatenated records, CloudWatch export-task lines `<timestamp> <json>`,
Logs Insights CSV exports), the envelopes records come in (Firehose subscription messages,
`filter-log-events`/`get-log-events` output, Insights JSON rows with `@message`), the record decoder and
every bound on hostile input: line and document size, nesting, token counts, name length and
decompressed size. Yields decoded records; never aggregates.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, Protocol, cast

import msgspec
from isal import isal_zlib as _inflate  # ISA-L: zlib's interface, gzip inflated about twice as fast

from generator.attribution import MAX_KEY, MAX_PAIRS, MAX_VALUE
from generator.usage import MAX_NAME

CHUNK = 1 << 20
MAX_LINE = 32 << 20  # bytes: one record line (Bedrock offloads bodies over ~100 KB to S3)
MAX_DOCUMENT = 64 << 20  # bytes: a whole-file JSON array or pretty-printed records
MAX_FILE = 4 << 30  # bytes after decompression: past this a file is a bomb, not a log object

MAX_TOKENS = 2**40
GZIP_MAGIC = b"\x1f\x8b"
UNREADABLE: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error, cast("type[Exception]", _inflate.error))
_EXPORT_LINE = re.compile(rb"^\d{4}-\d\d-\d\dT[\d:.]+Z? ")  # CloudWatch export: `<ingestion time> <event>`

Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
# The caller's request metadata, within Bedrock's own limits (more pairs than any record can carry is a forgery)
Metadata = Annotated[
    dict[
        Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KEY)],
        Annotated[str, msgspec.Meta(max_length=MAX_VALUE)],
    ],
    msgspec.Meta(max_length=MAX_PAIRS),
]


class _Identity(msgspec.Struct, frozen=True):
    arn: Name


class _Input(msgspec.Struct, frozen=True):
    inputTokenCount: Count = 0
    cacheReadInputTokenCount: Count = 0
    cacheWriteInputTokenCount: Count = 0


class _Output(msgspec.Struct, frozen=True):
    outputTokenCount: Count = 0


class Record(msgspec.Struct, frozen=True):
    # Only the fields we use are declared: msgspec skips the (large) bodies without decoding them.
    timestamp: datetime
    identity: _Identity
    modelId: Name
    region: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # where the call was made: prices vary
    accountId: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    input: _Input = _Input()
    output: _Output = _Output()
    errorCode: str | None = None
    requestId: Annotated[str, msgspec.Meta(max_length=MAX_NAME)] | None = None
    requestMetadata: Metadata | None = None


class Readable(Protocol):
    """An open binary file, or an S3 object's streaming body."""

    def read(self, n: int = -1, /) -> bytes: ...


class FileSkip(Exception):
    """The rest of a file cannot be read; `reason` is the counted reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class BadLine(Exception):
    """One line that is not a usable record; `reason` is the counted reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_decode = msgspec.json.Decoder(Record).decode
TOO_LONG = object()  # stands for a line over MAX_LINE in the line stream


def sniff(head: bytes) -> str:
    """Name the shape of a file from its first bytes: lines, export, array, document, csv or unknown."""
    text = head.lstrip()
    first_line = text.split(b"\n", 1)[0]
    if b"@message" in first_line and not text.startswith((b"[", b"{")):
        return "csv"  # a Logs Insights export: a header naming @message, then one row per event
    if text.startswith(b"["):
        return "array"
    if _EXPORT_LINE.match(text):
        return "export"
    if text.startswith(b"{"):
        return "document" if text.split(b"\n", 1)[0].rstrip() == b"{" else "lines"  # `{` alone: pretty-printed
    return "unknown"


def as_utf8(first: bytes, pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The pieces as UTF-8 without a byte-order mark; UTF-16 (with its BOM) is transcoded as it streams."""
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        decoder = codecs.getincrementaldecoder("utf-16")("replace")
        yield decoder.decode(first).encode()
        for piece in pieces:
            yield decoder.decode(piece).encode()
        yield decoder.decode(b"", final=True).encode()
        return
    yield first.removeprefix(codecs.BOM_UTF8)
    yield from pieces


def chunks(fh: Readable) -> Iterator[bytes]:
    """Yield a file's content in bounded pieces, decompressing (multi-member) gzip as it goes."""
    raw = fh.read(CHUNK)
    if not raw.startswith(GZIP_MAGIC):
        total = 0
        while raw:
            total += len(raw)
            if total > MAX_FILE:
                raise FileSkip("file_too_large", f"over {MAX_FILE >> 30} GiB")
            yield raw
            raw = fh.read(CHUNK)
        return
    unzip, total = _inflate.decompressobj(wbits=31), 0
    while raw:
        while raw:
            out = unzip.decompress(raw, CHUNK)  # bounded output: a bomb never lands in memory whole
            raw = unzip.unconsumed_tail
            total += len(out)
            if total > MAX_FILE:
                raise FileSkip("file_too_large", f"decompresses to over {MAX_FILE >> 30} GiB")
            if out:
                yield out
            if unzip.eof:
                raw = unzip.unused_data
                if not raw:
                    break
                unzip = _inflate.decompressobj(wbits=31)  # the next gzip member
        raw = fh.read(CHUNK)
    if not unzip.eof:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")


def lines(pieces: Iterable[bytes]) -> Iterator[bytes | object]:
    """Split a stream into lines, yielding TOO_LONG (once) for any line over MAX_LINE; blank runs cost nothing."""
    held: list[bytes] = []  # the start of a line that continues into the next piece
    held_size, dropping = 0, False
    for piece in pieces:
        if not piece.strip():  # whitespace only (a bomb of newlines): it can only end the held line
            if b"\n" in piece:
                if dropping:
                    dropping = False
                elif held:
                    yield b"".join(held)
                held, held_size = [], 0
            continue
        first_nl = piece.find(b"\n")
        if first_nl < 0:
            if not dropping:
                held.append(piece)
                held_size += len(piece)
                if held_size > MAX_LINE:
                    held, held_size, dropping = [], 0, True
                    yield TOO_LONG
            continue
        head = piece[:first_nl]
        if dropping:
            dropping = False
        elif held_size + len(head) > MAX_LINE:
            yield TOO_LONG
        else:
            yield b"".join([*held, head]) if held else head
        parts = piece[first_nl + 1 :].split(b"\n")
        tail = parts.pop()
        yield from parts
        held, held_size = ([tail], len(tail)) if tail else ([], 0)
        if held_size > MAX_LINE:
            held, held_size, dropping = [], 0, True
            yield TOO_LONG
    if held and not dropping:
        yield b"".join(held)


def decode(line: bytes) -> Record:
    """Decode one record line; raise BadLine with a counted reason."""
    try:
        rec = _decode(line)
    except msgspec.ValidationError as exc:
        raise BadLine(_reason(str(exc)), str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadLine("malformed_json", str(exc)) from None
    except RecursionError:
        raise BadLine("too_deeply_nested", "JSON nested deeper than the decoder allows") from None
    except UnicodeDecodeError as exc:  # msgspec checks UTF-8 as it reads a string
        raise BadLine("invalid_utf8", str(exc)) from None
    if rec.timestamp.tzinfo is None:
        raise BadLine("invalid_field", "timestamp has no time zone")
    return rec


# Record times a real clock could have written: Bedrock logs began in 2023, so anything outside these years is a
# broken clock or a forgery (year 1 at +23:59 is year 0 in UTC, which no date can hold).
EARLIEST, LATEST = 946_684_800, 4_102_444_800  # 2000-01-01 and 2100-01-01, UTC


def epoch_of(rec: Record) -> int:
    """The record's time in epoch seconds; BadLine for a time outside 2000-2099 (UTC)."""
    try:
        epoch = int(rec.timestamp.timestamp())
    except (ValueError, OverflowError, OSError):
        epoch = -1
    if not EARLIEST <= epoch < LATEST:
        raise BadLine("invalid_field", f"timestamp {rec.timestamp.isoformat()[:40]} is not between 2000 and 2100")
    return epoch


class _Event(msgspec.Struct, frozen=True):
    message: str = ""


class _Envelope(msgspec.Struct, frozen=True):
    """What CloudWatch Logs wraps events in: a Firehose subscription message, `filter-log-events` or
    `get-log-events` output, or one row of an Insights JSON export."""

    messageType: str | None = None
    logEvents: list[_Event] | None = None
    events: list[_Event] | None = None
    at_message: str | None = msgspec.field(default=None, name="@message")


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
CONTROL = "CONTROL_MESSAGE"  # CloudWatch's own test message to a new subscription: no events


def expand(text: bytes, depth: int = 0) -> Iterator[Record | BadLine]:
    """The records in one text: itself, or the events of the envelope it is, or each of several JSON values
    written one after another; a BadLine for each one that is not a usable record."""
    try:
        yield decode(text)
        return
    except BadLine as problem:
        inner = _unwrap(text) if depth < 2 else None
        if inner is None:
            yield problem
            return
    for item in inner:
        yield from expand(item, depth + 1)


def _unwrap(text: bytes) -> list[bytes] | None:
    """The texts inside an envelope or a run of concatenated values; None when `text` is neither."""
    try:
        envelope = _decode_envelope(text)
    except msgspec.DecodeError as exc:
        if "trailing characters" not in str(exc):
            return None
        try:
            return list(_values(text.decode("utf-8", "replace")))  # `{...}{...}`: Firehose writes no delimiter
        except FileSkip:
            return None
    except (msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
    if envelope.messageType == CONTROL:
        return []
    found = envelope.logEvents if envelope.logEvents is not None else envelope.events
    if found is not None:
        return [e.message.encode() for e in found]
    return None if envelope.at_message is None else [envelope.at_message.encode()]


def records(pieces: Iterator[bytes], shape: str) -> Iterator[bytes | object]:
    """Turn a file's pieces into record texts (or TOO_LONG) for its shape."""
    if shape == "lines":
        return lines(pieces)  # the common shape: its lines are its records, with no step between
    return _records(pieces, shape)


def _records(pieces: Iterator[bytes], shape: str) -> Iterator[bytes | object]:
    if shape == "export":
        for line in lines(pieces):
            if isinstance(line, bytes):
                line = line.partition(b" ")[2] if _EXPORT_LINE.match(line) else line
            yield line
        return
    if shape == "csv":
        yield from _csv_messages(pieces)
        return
    # One document, held whole (bounded by MAX_DOCUMENT); its values are found one at a time, so memory
    # follows the largest value, never the number of values (an array of 22 million empty objects).
    yield from _values(_whole(pieces).decode("utf-8", "replace"), array=shape == "array")


def _csv_messages(pieces: Iterator[bytes]) -> Iterator[bytes | object]:
    """The @message column of a Logs Insights CSV export, one record text per row."""
    rows = csv.reader(line.decode("utf-8", "replace") if isinstance(line, bytes) else "" for line in lines(pieces))
    header = next(rows, [])
    column = header.index("@message") if "@message" in header else -1
    if column < 0:
        raise FileSkip("not_log_records", "a CSV file without an @message column")
    for row in rows:
        yield row[column].encode() if len(row) > column else b"{}"


def _whole(pieces: Iterator[bytes]) -> bytes:
    held, size = [], 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_DOCUMENT:
            raise FileSkip("document_too_large", f"a JSON document over {MAX_DOCUMENT >> 20} MiB; use JSON lines")
        held.append(piece)
    return b"".join(held)


def _values(text: str, array: bool = False) -> Iterator[bytes]:
    """Yield each JSON value in `text`, one after another (records `jq .` wrote, or written with no delimiter),
    or each item of the JSON array `text` is; the raw text of each, never re-encoded."""
    decoder, at, end = json.JSONDecoder(), 0, len(text)

    def skip(at: int, also: str = "") -> int:
        while at < end and (text[at].isspace() or text[at] in also):
            at += 1
        return at

    if array:
        at = skip(at)
        if at >= end or text[at] != "[":
            raise FileSkip("unreadable_file", "not a JSON array of records")
        at += 1
    while True:
        at = skip(at, "," if array else "")
        if at >= end or (array and text[at] == "]"):
            return
        try:
            _, stop = decoder.raw_decode(text, at)
        except RecursionError:
            raise FileSkip("too_deeply_nested", "JSON nested deeper than the decoder allows") from None
        except ValueError as exc:
            raise FileSkip("unreadable_file", f"not JSON records: {exc}") from None
        yield text[at:stop].encode()
        at = stop


def _reason(message: str) -> str:
    if "$.requestMetadata" in message:
        return "bad_request_metadata"
    if "missing required field" in message:
        return "missing_field"
    if "TokenCount" in message:
        return "bad_token_count"
    if "length <=" in message:
        return "name_too_long"
    return "invalid_field"
