"""Read one file of Bedrock invocation records, whatever shape it arrived in, within fixed bounds.

Owns format sniffing (gzip or plain; JSON lines, a JSON array, pretty-printed records, CloudWatch
export-task lines `<timestamp> <json>`), the record decoder and every bound on hostile input: line
and document size, nesting, token counts, name length and decompressed size. Yields
decoded records; never aggregates.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, Protocol, cast

import msgspec
from isal import isal_zlib as _inflate  # ISA-L: zlib's interface, gzip inflated about twice as fast

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
_decode_list = msgspec.json.Decoder(list[msgspec.Raw]).decode
TOO_LONG = object()  # stands for a line over MAX_LINE in the line stream


def sniff(head: bytes) -> str:
    """Name the shape of a file from its first bytes: gzip, lines, export, array, document or unknown."""
    text = head.lstrip()
    if text.startswith(b"["):
        return "array"
    if _EXPORT_LINE.match(text):
        return "export"
    if text.startswith(b"{"):
        return "document" if text.split(b"\n", 1)[0].rstrip() == b"{" else "lines"  # `{` alone: pretty-printed
    return "unknown"


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
    if rec.timestamp.tzinfo is None:
        raise BadLine("invalid_field", "timestamp has no time zone")
    return rec


def records(pieces: Iterator[bytes], shape: str) -> Iterator[bytes | object]:
    """Turn a file's pieces into record texts (or TOO_LONG) for its shape."""
    if shape in ("lines", "export"):
        for line in lines(pieces):
            if shape == "export" and isinstance(line, bytes):
                line = line.partition(b" ")[2] if _EXPORT_LINE.match(line) else line
            yield line
        return
    document = _whole(pieces)
    if shape == "array":
        try:
            yield from (bytes(item) for item in _decode_list(document))
        except (msgspec.DecodeError, RecursionError) as exc:
            raise FileSkip("unreadable_file", f"not a JSON array of records: {exc}") from None
        return
    yield from _documents(document.decode("utf-8", "replace"))


def _whole(pieces: Iterator[bytes]) -> bytes:
    held, size = [], 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_DOCUMENT:
            raise FileSkip("document_too_large", f"a JSON document over {MAX_DOCUMENT >> 20} MiB; use JSON lines")
        held.append(piece)
    return b"".join(held)


def _documents(text: str) -> Iterator[bytes]:
    """Yield each pretty-printed JSON value in `text` (one record, or a stream such as `jq .` writes)."""
    decoder, at = json.JSONDecoder(), 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return
        try:
            value, at = decoder.raw_decode(text, at)
        except RecursionError:
            raise FileSkip("too_deeply_nested", "JSON nested deeper than the decoder allows") from None
        except ValueError as exc:
            raise FileSkip("unreadable_file", f"not JSON records: {exc}") from None
        yield json.dumps(value).encode()


def _reason(message: str) -> str:
    if "missing required field" in message:
        return "missing_field"
    if "TokenCount" in message:
        return "bad_token_count"
    if "length <=" in message:
        return "name_too_long"
    return "invalid_field"
