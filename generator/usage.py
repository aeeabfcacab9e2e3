"""Hourly usage rows, and the report windows over them.

Owns the unit of data every source produces: one row per UTC hour x principal x model id as
logged x source region (prices differ by region). Pure: no I/O, no identity mapping and no prices here.
"""

from __future__ import annotations

import itertools
import operator
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar, overload
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from generator import memory
from generator.attribution import MAX_TEXT
from generator.counters import USAGE_COUNTS
from generator.errors import SourceError

T = TypeVar("T")
HOUR = 3600
DAY = 24 * HOUR
MAX_NAME = 1024  # characters: a principal or model id longer than this is not a name but an attack
# Prompt sizes (input + cache read + cache write tokens) above which some models bill a whole request at a
# long-context rate; a row keeps the largest one its calls exceeded, so the premium can be priced.
PROMPT_BOUNDARIES = (100_000, 200_000, 272_000)
_SMALLEST = PROMPT_BOUNDARIES[0]
WINDOW_KEYS = ("1d", "7d", "30d", "90d", "mtd", "last-month")
WINDOW_LABELS = {
    "1d": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "mtd": "Month to date",
    "last-month": "Last month",
}
_TRAILING_DAYS = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}


class HourlyRow(msgspec.Struct, frozen=True, order=True, gc=False, array_like=True):
    """Usage of one model id by one principal during one UTC hour (a C struct: a million are cheap to make)."""

    hour: int  # epoch seconds, a multiple of 3600
    principal: str
    model_id: str
    invocations: int
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    region: str = ""  # the region the call was made in ("" when the source cannot say)
    prompt_over: int = 0  # the largest PROMPT_BOUNDARIES value every call's prompt exceeded (0: none, or unknown)
    account: str = ""  # the AWS account the call was made in ("" when the source cannot say)
    meta: str = ""  # the kept request-metadata pairs as one sorted JSON object ("" for none; see attribution)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


usage_counts = attrgetter(*USAGE_COUNTS)  # a row's six counts, in the order `row_of` takes them


def prompt_class(prompt_tokens: int) -> int:
    """The largest PROMPT_BOUNDARIES value a prompt of this many tokens exceeds, or 0."""
    return max((b for b in PROMPT_BOUNDARIES if prompt_tokens > b), default=0)


def row_of(
    hour: int,
    principal: str,
    model_id: str,
    counts: Sequence[int],
    region: str = "",
    prompt_over: int = 0,
    account: str = "",
    meta: str = "",
) -> HourlyRow:
    """Make a row from its six counts in field order (invocations, errors, input, output, cache read, cache write)."""
    invocations, errors, input_tokens, output_tokens, cache_read, cache_write = counts
    return HourlyRow(
        hour, principal, model_id, invocations, errors, input_tokens, output_tokens, cache_read, cache_write, region,
        prompt_over, account, meta,
    )  # fmt: skip


_PAST_64_BITS = (
    "one hour's token counts of one principal and model add up past 2**63: not a Bedrock log; remove the forged records"
)
_Key = tuple[str, str, str, int, str, str]  # principal, model id, region, prompt_over, account, meta: a row in its hour
_LOW = (1 << 32) - 1


def ranks(values: Sequence[Any]) -> np.ndarray:
    """Each value's place among `values` in their order (so sorting their indices by it sorts by value)."""
    found = np.empty(len(values), np.int64)
    found[sorted(range(len(values)), key=values.__getitem__)] = np.arange(len(values))
    return found


def narrowest(values: np.ndarray, kind: type[np.signedinteger[Any]]) -> np.ndarray:
    """Integer values as `kind` where they all fit, else as 64-bit integers where they fit, else as Python ints."""
    for fits in (kind, np.int64):
        limits = np.iinfo(fits)
        if not len(values) or (limits.min <= values.min() and values.max() <= limits.max):
            return values.astype(fits, copy=False)
    return values.astype(object)


class Numbered:
    """Values (names, or tuples of them) as dense integers from 0, each value once: `number` from value to integer,
    `values` from integer to value."""

    def __init__(self) -> None:
        self.number: dict[Any, int] = {}
        self.values: list[Any] = []

    def __call__(self, value: Any) -> int:
        n = self.number.get(value)
        if n is None:
            n = self.number[value] = len(self.values)
            self.values.append(value)
        return n


class HourlyAggregator:
    """Sum invocation records into hourly rows; memory grows with rows, never with records.

    Each hour maps its rows' keys to where their six counts are in one flat array of 64-bit integers. A key
    is one integer: the numbers of its principal, its model id and its variant (region, prompt_over, account
    and meta together, which few rows differ in), each name kept once. About 170 bytes a row, where a tuple,
    a list and its integers took 400.
    """

    def __init__(self) -> None:
        self._hours: dict[int, tuple[dict[int, int], array[int]]] = {}
        self._name = Numbered()  # principals, model ids, regions, accounts and metas
        self._variant: dict[tuple[str, int, str, str], int] = {}
        self._variants: list[tuple[int, int, int, int]] = []  # (region, prompt_over, account, meta), names numbered

    def _key(self, principal: str, model_id: str, region: str, over: int, account: str, meta: str) -> int:
        number, variant = self._name.number, self._variant
        v = variant.get((region, over, account, meta))
        if v is None:
            v = variant[(region, over, account, meta)] = len(self._variants)
            self._variants.append((self._name(region), over, self._name(account), self._name(meta)))
        p, m = number.get(principal), number.get(model_id)
        if p is None:
            p = self._name(principal)
        if m is None:
            m = self._name(model_id)
        return p | m << 32 | v << 64

    def _unkey(self, key: int) -> _Key:
        names = self._name.values
        region, over, account, meta = self._variants[key >> 64]
        return names[key & _LOW], names[key >> 32 & _LOW], names[region], over, names[account], names[meta]

    def _counts(self, hour: int, key: int) -> tuple[array[int], int]:
        """The hour's counts and where `key`'s six are, made (zero) for a new key."""
        found = self._hours.get(hour)
        if found is None:
            found = self._hours[hour] = ({}, array("q"))
        keys, counts = found
        at = keys.get(key)
        if at is None:
            at = keys[key] = len(counts)
            counts.extend(_ZEROS)
        return counts, at

    def add(
        self,
        epoch: int,
        principal: str,
        model_id: str,
        region: str,
        account: str,
        error: bool,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int,
        cache_write_tokens: int,
        meta: str = "",
    ) -> None:
        """Count one invocation that happened at `epoch` (seconds)."""
        prompt = input_tokens + cache_read_tokens + cache_write_tokens
        over = prompt_class(prompt) if prompt > _SMALLEST else 0
        counts, at = self._counts(epoch - epoch % HOUR, self._key(principal, model_id, region, over, account, meta))
        try:
            counts[at + 2] += input_tokens
            counts[at + 3] += output_tokens
            counts[at + 4] += cache_read_tokens
            counts[at + 5] += cache_write_tokens
        except OverflowError:
            raise SourceError(_PAST_64_BITS) from None
        counts[at] += 1
        counts[at + 1] += error

    def remove(self, epoch: int, usage: tuple[str, str, str, str, bool, int, int, int, int, str]) -> None:
        """Take back one invocation that `add(epoch, *usage)` counted (a duplicate found later)."""
        principal, model_id, region, account, error, *tokens, meta = usage
        over = prompt_class(tokens[0] + tokens[2] + tokens[3])
        counts, at = self._counts(epoch - epoch % HOUR, self._key(principal, model_id, region, over, account, meta))
        for i, value in enumerate((1, error, *tokens), at):
            counts[i] -= value

    def add_row(self, row: HourlyRow) -> None:
        """Add a row's sums (rows of the same hour, principal, model, region and account are one row)."""
        key = self._key(row.principal, row.model_id, row.region, row.prompt_over, row.account, row.meta)
        _add(*self._counts(row.hour, key), usage_counts(row))

    def rows(self) -> RowTable:
        """Return the rows sorted by hour, principal, model id and the rest, as columns in chunks of about CHUNK_ROWS
        rows (an hour's rows gathered with the next hours'), emptying the aggregator an hour at a time (each chunk's
        columns are whole arrays of their own, so the hours' memory goes back as the chunks fill)."""
        hours, self._hours = self._hours, {}
        names, variants = self._name.values, np.array(self._variants, np.int64).reshape(-1, 4)
        rank = ranks(names)  # each name's place in order
        by_variant = np.lexsort([rank[variants[:, 3]], rank[variants[:, 2]], variants[:, 1], rank[variants[:, 0]]])
        variant_rank = np.empty(len(variants), np.int64)
        variant_rank[by_variant] = np.arange(len(variants))  # (region, prompt_over, account, meta) in that order

        def each_hour() -> Iterator[Chunk]:
            for i, h in enumerate(sorted(hours)):
                if i % 64 == 63:
                    memory.give_back()  # the hours read so far: their pages go back as the chunks fill
                keys, found = hours.pop(h)
                key = list(keys)
                p = np.fromiter((k & _LOW for k in key), np.int64, len(key))
                m = np.fromiter((k >> 32 & _LOW for k in key), np.int64, len(key))
                v = np.fromiter((k >> 64 for k in key), np.int64, len(key))
                at = np.fromiter(keys.values(), np.int64, len(key)) // 6
                sums = np.frombuffer(found, np.int64).reshape(-1, len(USAGE_COUNTS))[at]
                kept = np.flatnonzero(sums[:, 0])  # a key whose calls were all taken back makes no row
                order = kept[np.lexsort([variant_rank[v[kept]], rank[m[kept]], rank[p[kept]]])]
                text = (p, m, variants[v, 0], variants[v, 2], variants[v, 3])
                yield Chunk(np.full(len(order), h, np.int64), tuple(t[order].astype(np.int32) for t in text),
                            variants[v[order], 1].astype(np.int32), sums[order])  # fmt: skip

        return RowTable(names, _gathered(each_hour()))


def _add(counts: array[int], at: int, values: Iterable[int]) -> None:
    """Add six counts into `counts` from `at`."""
    try:
        for i, value in enumerate(values, at):
            counts[i] += value
    except OverflowError:
        raise SourceError(_PAST_64_BITS) from None


_ZEROS = array("q", bytes(48))
_NAME_FIELDS = ("principal", "model_id", "region", "account", "meta")


CHUNK_ROWS = 1 << 18  # rows a table holds in one set of columns (about 20 MB): what a reader frees at a time


class Chunk(NamedTuple):
    """Rows as numpy columns, by hour, then principal, model id and the rest (their names' order)."""

    hour: np.ndarray  # int64 epoch seconds (packed in a table: int32 hour numbers)
    text: tuple[np.ndarray, ...]  # int32 name numbers, one column per _NAME_FIELDS
    over: np.ndarray  # int32 prompt_over
    counts: np.ndarray  # int64, rows x 6 (USAGE_COUNTS) (packed in a table: int32 where a chunk's all fit)


def joined(chunks: Sequence[Chunk | Columns]) -> Chunk:
    """One chunk of `chunks` end to end (the one's own columns, uncopied)."""
    if len(chunks) == 1:
        c = chunks[0]
        return Chunk(c.hour, c.text, c.over, c.counts)
    if not chunks:
        return Chunk(np.zeros(0, np.int64), tuple(np.zeros(0, np.int32) for _ in _NAME_FIELDS),
                     np.zeros(0, np.int32), np.zeros((0, len(USAGE_COUNTS)), np.int64))  # fmt: skip
    return Chunk(np.concatenate([c.hour for c in chunks]),
                 tuple(np.concatenate([c.text[i] for c in chunks]) for i in range(len(_NAME_FIELDS))),
                 np.concatenate([c.over for c in chunks]), np.concatenate([c.counts for c in chunks]))  # fmt: skip


class Columns(NamedTuple):
    """Hourly rows as numpy columns, in a RowTable's order (hour, then principal, model id and the rest)."""

    hour: np.ndarray  # int64 epoch seconds (packed in a table: int32 hour numbers)
    text: tuple[np.ndarray, ...]  # int32 name numbers, one column per _NAME_FIELDS
    over: np.ndarray  # int32 prompt_over
    counts: np.ndarray  # int64, rows x 6 (USAGE_COUNTS) (packed in a table: int32 where a chunk's all fit)
    first: int  # the index of the first of these rows in their table
    names: list[str]  # what the name numbers stand for

    def column(self, field: str) -> np.ndarray:
        return self.text[_NAME_FIELDS.index(field)]


class Lazy(Sequence[T]):
    """A sequence of items made only as they are read (from numpy columns, say): by index, by slice (a list) or
    in order, and equal to any sequence of the same items."""

    def _item(self, i: int) -> T:
        """The item at index `i` (0 <= i < len)."""
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self._item(j) for j in range(*i.indices(len(self)))]
        return self._item(range(len(self))[i])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(self) == len(other) and all(map(operator.eq, self, other))

    __hash__ = None  # type: ignore[assignment]


class RowTable(Lazy[HourlyRow]):
    """Hourly rows held as numpy columns in hour order: the hour's number, five name numbers, prompt_over and six
    counts a row, 32-bit where they fit (52 bytes, where 64-bit columns took 80 and a row object and its integers
    220); a row object is made only while it is read, and a reader gets epoch seconds and 64-bit counts. The columns
    come in chunks, each chunk's hours before the next's, so a reader that is done with a chunk can let it go."""

    def __init__(self, names: list[str], chunks: Iterable[Chunk]) -> None:
        self._names = names
        self._chunks: list[Columns] = []  # packed: hour numbers (int32), counts int32 where a chunk's all fit
        first = 0
        for c in chunks:
            if len(c.hour):
                self._chunks.append(Columns(*_packed(c), first, names))
                first += len(c.hour)

    def __len__(self) -> int:
        return sum(len(c.hour) for c in self._chunks)

    def __iter__(self) -> Iterator[HourlyRow]:
        for c in self._chunks:
            for at in range(0, len(c.hour), 4096):  # a slice of columns at a time: plain integers read fast
                yield from _rows(c, at, at + 4096)

    def calls(self) -> int:
        """The rows' invocations, added up (without making a row object)."""
        return sum(int(c.counts[:, 0].sum(dtype=np.int64)) for c in self._chunks)

    def chunks(self) -> tuple[Columns, ...]:
        """The columns chunk by chunk, as a reader gets them (epoch seconds, 64-bit counts: a copy)."""
        return tuple(map(_wide, self._chunks))

    def runs(
        self, bounds: Sequence[float], most: int = 1 << 19, breaks: Sequence[float] = (), drop: bool = False
    ) -> Iterator[tuple[int, Columns]]:
        """The rows as columns, a run at a time: the hours between two neighbouring `bounds` (sorted), or before the
        first or after the last, at most `most` rows a run, and where a run must end early, at the last of `breaks`
        (sorted hours: local midnights, say) that keeps it within `most`. Each run comes with the index of the bound
        before it (-1: before the first). A run within one chunk is a view of it; one across chunks, a copy. With
        `drop`, each chunk leaves the table once its rows are read (the table is then empty)."""
        most = max(1, most)
        chunks = self._chunks if drop else list(self._chunks)  # the reader takes each off as it is read

        def places(hours: Sequence[float]) -> np.ndarray:  # where each hour would go among all the rows
            at = np.asarray(hours, np.float64) / HOUR  # among the hours' numbers
            return sum((np.searchsorted(c.hour, at, "left") for c in chunks), np.zeros(len(at), np.int64))

        cuts = [0, *places(bounds).tolist(), sum(len(c.hour) for c in chunks)]
        ends = places(breaks)
        take = _Reader(chunks).take
        for at, (start, stop) in enumerate(itertools.pairwise(cuts), -1):
            first = start
            while first < stop:
                last = min(stop, first + most)
                if last < stop:  # the run must end early: at the last break within reach, if there is one
                    found = ends[(ends > first) & (ends <= last)]
                    last = int(found[-1]) if len(found) else last
                yield at, _wide(take(first, last))
                first = last

    def _item(self, j: int) -> HourlyRow:
        for c in self._chunks:
            if j < len(c.hour):
                break
            j -= len(c.hour)
        return next(_rows(c, j, j + 1))

    def names(self, field: str) -> set[str]:
        """Every value of a name field ("principal", "model_id", "region", "account" or "meta") the rows hold."""
        found = set().union(*(np.unique(c.column(field)).tolist() for c in self._chunks))
        return {self._names[n] for n in found}


def _packed(c: Chunk | Columns) -> Chunk:
    """A chunk as a table holds it: hours as their numbers from 1970 and counts as 32-bit integers where they all
    fit (a packed chunk as it is)."""
    hour = c.hour if c.hour.dtype == np.int32 else (c.hour // HOUR).astype(np.int32)  # to year 245,000
    return Chunk(hour, c.text, c.over, narrowest(c.counts, np.int32))


def _wide(c: Columns) -> Columns:
    """A table's columns as its readers take them: epoch seconds, and counts 64-bit (so no sum of them wraps)."""
    return c._replace(hour=c.hour.astype(np.int64) * HOUR, counts=c.counts.astype(np.int64, copy=False))


def _rows(c: Columns, start: int, stop: int) -> Iterator[HourlyRow]:
    """Rows `start` to `stop` of a packed chunk, as row objects."""
    names = c.names
    hours = (c.hour[start:stop].astype(np.int64) * HOUR).tolist()
    parts = (hours, *(t[start:stop].tolist() for t in c.text), c.over[start:stop].tolist())
    for (h, p, m, r, a, meta, o), n in zip(zip(*parts, strict=True), c.counts[start:stop].tolist(), strict=True):
        yield row_of(h, names[p], names[m], n, names[r], o, names[a], names[meta])


class _Reader:
    """Reads rows from chunks in order, a run at a time, taking each chunk off the list once it is read."""

    def __init__(self, chunks: list[Columns]) -> None:
        self.chunks = chunks
        self.before = 0  # the rows of the chunks already taken off

    def take(self, first: int, last: int) -> Columns:
        """Rows `first` to `last` (counted from the first chunk's first row): a view, or a copy across chunks."""
        parts = []
        while first < last:
            c = self.chunks[0]
            lo, hi = first - self.before, min(last - self.before, len(c.hour))
            parts.append(Columns(*_part(c, lo, hi), c.first + lo, c.names))
            first = self.before + hi
            if hi == len(c.hour):  # this chunk is read
                self.before += hi
                self.chunks.pop(0)
        return _joined_columns(parts)


def _joined_columns(parts: list[Columns]) -> Columns:
    """Neighbouring runs of rows as one (the one itself, uncopied)."""
    if len(parts) == 1:
        return parts[0]
    return Columns(*joined(parts), parts[0].first, parts[0].names)


FITS = float(1 << 62)  # a sum whose bound is below this fits a signed 64-bit integer with room to spare


def exact(values: np.ndarray) -> np.ndarray:
    """Integer `values` (rows x k), as Python integers where a sum of a column could pass 64 bits (bounded by the
    rows times the largest size, which copies nothing)."""
    if values.dtype == object or not len(values):
        return values
    largest = max(-float(values.min()), float(values.max()))
    return values.astype(object) if largest * len(values) >= FITS else values


def sort_runs(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sort rows by the key columns (the first the most significant), putting each column's sorted copy in its
    place in `keys` (so an unsorted column nothing else holds goes as soon as it is copied); return the order and
    which sorted row starts a run of equal keys."""
    order = np.lexsort(keys[::-1])
    change = np.zeros(len(order), bool)
    change[:1] = True
    for i in range(len(keys)):
        keys[i] = keys[i][order]
        change[1:] |= keys[i][1:] != keys[i][:-1]
    return order, change


def combine(tables: list[RowTable]) -> RowTable:
    """One table of the rows of `tables` (read from different files, say), rows of the same hour and key summed
    and rows left with no calls dropped. The list is emptied as the tables are read. Chunks whose hours no other
    chunk's span are laid end to end as they are; only the rows of hours two chunks' spans share (where one file's
    hours meet the next's) are sorted and summed, so memory holds the tables and a copy of those rows, never a
    copy of them all."""
    tables[:] = [t for t in tables if len(t)] or tables[:1]
    if len(tables) == 1:
        return tables.pop()
    names = sorted({name for t in tables for name in t._names})
    number = {name: n for n, name in enumerate(names)}  # numbers in name order: a number is its name's rank
    chunks: list[Chunk] = []  # every table's chunks, renumbered into `names`
    for t in tables:
        to = np.fromiter((number[name] for name in t._names), np.int32, len(t._names))
        while t._chunks:
            held = t._chunks.pop(0)
            chunks.append(Chunk(held.hour, tuple(to[column] for column in held.text), held.over, held.counts))
    tables.clear()
    chunks.sort(key=lambda c: int(c.hour[0]))
    shared = _shared_hours([(int(c.hour[0]), int(c.hour[-1])) for c in chunks])
    alone: list[Chunk] = []  # the parts of chunks in no shared span, and each shared span's sums
    contested: list[Chunk] = []
    for c in chunks:
        cuts = np.searchsorted(c.hour, np.asarray([t for span in shared for t in (span[0], span[1] + 1)]), "left")
        edges = [0, *cuts.tolist(), len(c.hour)]
        for k, (a, b) in enumerate(itertools.pairwise(edges)):
            if a < b:
                (contested if k % 2 else alone).append(_part(c, a, b))
    chunks.clear()
    if contested:
        summed = _summed(joined(contested))
        contested.clear()
        cuts = np.searchsorted(summed.hour, np.asarray([span[0] for span in shared[1:]]), "left").tolist()
        alone += [_part(summed, a, b) for a, b in itertools.pairwise([0, *cuts, len(summed.hour)]) if a < b]
    alone.sort(key=lambda c: int(c.hour[0]))
    return RowTable(names, _gathered(_drained(alone)))


def _part(c: Chunk | Columns, start: int, stop: int) -> Chunk:
    """Rows `start` to `stop` of a chunk's columns (views)."""
    return Chunk(c.hour[start:stop], tuple(t[start:stop] for t in c.text), c.over[start:stop], c.counts[start:stop])


def _shared_hours(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans of hours (first, last) that two or more of `spans` (sorted by first hour) cover, merged, in order."""
    shared: list[tuple[int, int]] = []
    reach = None  # the last hour any span so far covers
    for first, last in spans:
        if reach is not None and first <= reach:
            a, b = first, min(last, reach)
            if shared and a <= shared[-1][1] + 1:
                shared[-1] = (shared[-1][0], max(shared[-1][1], b))
            else:
                shared.append((a, b))
        reach = last if reach is None else max(reach, last)
    return shared


def _gathered(parts: Iterable[Chunk]) -> Iterator[Chunk]:
    """Neighbouring small parts joined into chunks of about CHUNK_ROWS rows (a part that big stands alone, uncopied),
    each part let go as it is joined."""
    held: list[Chunk] = []
    size = 0  # the rows held
    for part in parts:
        if len(part.hour) >= CHUNK_ROWS:
            yield joined(held)
            held, size = [], 0
            yield part
            continue
        held.append(part)
        size += len(part.hour)
        if size >= CHUNK_ROWS:
            yield joined(held)
            held, size = [], 0
    yield joined(held)


def _drained(items: list[Chunk]) -> Iterator[Chunk]:
    """The items, each taken off the list as it is read (so the list holds none that has been passed on)."""
    while items:
        yield items.pop(0)


def _summed(c: Chunk) -> Chunk:
    """The rows of `c` sorted as a table holds them, rows of the same hour and key summed, rows of no calls dropped."""
    principal, model, region, account, meta = c.text
    keys = [c.hour, principal, model, region, c.over, account, meta]  # RowTable's order: hour first
    order, change = sort_runs(keys)
    counts = exact(c.counts.astype(np.int64, copy=False))[order]  # packed counts are summed 64-bit
    del order
    starts = np.flatnonzero(change)
    sums = np.add.reduceat(counts, starts)
    if sums.dtype == object:  # Python integers, where a sum might have wrapped
        if np.any(np.abs(sums) >= 1 << 63):
            raise SourceError(_PAST_64_BITS)
        sums = sums.astype(np.int64)
    kept = starts[sums[:, 0] != 0]  # a row whose calls were all taken back is no row
    hour, principal, model, region, over, account, meta = (k[kept] for k in keys)
    return Chunk(hour, (principal, model, region, account, meta), over, sums[sums[:, 0] != 0])


def as_table(rows: Sequence[HourlyRow]) -> RowTable:
    """The rows as a RowTable (itself when it is one): by hour, rows of the same hour and key summed."""
    if isinstance(rows, RowTable):
        return rows
    agg = HourlyAggregator()
    for row in rows:
        agg.add_row(row)
    return agg.rows()


def within(rows: Sequence[HourlyRow], begin: int, end: int) -> RowTable:
    """The rows from hour `begin` to `end` as a table (the rows' own, when they are a table and every row is in)."""
    table = as_table(rows)
    if not len(table) or (begin <= table[0].hour and table[-1].hour < end):
        return table
    return as_table([r for r in table if begin <= r.hour < end])


def names_in(rows: Sequence[HourlyRow], field: str) -> set[str]:
    """Every value of a name field the rows hold (read from a RowTable's columns without making its rows)."""
    if isinstance(rows, RowTable):
        return rows.names(field)
    return {getattr(r, field) for r in rows}


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval [start, end) that one set of pages describes."""

    key: str
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return WINDOW_LABELS[self.key]

    def contains(self, hour: int) -> bool:
        """Tell whether the hour starting at `hour` (epoch seconds) lies in the window."""
        return self.start.timestamp() <= hour < self.end.timestamp()


def iso(moment: datetime) -> str:
    """Format a moment as UTC ISO 8601 with whole seconds, as the logs and the JSON files do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_hour(moment: datetime) -> datetime:
    """Return `moment` in UTC, floored to the whole hour."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def make_windows(now: datetime, tz: ZoneInfo) -> tuple[Window, ...]:
    """Build every report window ending at `now` floored to the hour.

    Trailing windows are N x 24 h; `mtd` and `last-month` are calendar months in `tz`.
    """
    end = floor_hour(now)
    windows = [Window(k, end - timedelta(days=n), end) for k, n in _TRAILING_DAYS.items()]
    local = end.astimezone(tz)
    month_start = datetime(local.year, local.month, 1, tzinfo=tz)
    prev = month_start - timedelta(days=1)
    prev_start = datetime(prev.year, prev.month, 1, tzinfo=tz)
    windows.append(Window("mtd", month_start.astimezone(UTC), end))
    windows.append(Window("last-month", prev_start.astimezone(UTC), month_start.astimezone(UTC)))
    return tuple(windows)


def local_day(hour: int, tz: ZoneInfo) -> date:
    """Return the calendar day in `tz` on which the hour starting at `hour` begins."""
    return datetime.fromtimestamp(hour, tz).date()


def day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def utc_days(start: int, end: int) -> list[date]:
    """Every UTC day that has an hour in [start, end)."""
    first = datetime.fromtimestamp(start, UTC).date()
    last = datetime.fromtimestamp(end - HOUR, UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def valid_counts(row: HourlyRow) -> bool:
    """A row a source could have made: a whole hour, names and counts in bounds."""
    counts = usage_counts(row)
    return (
        row.hour % HOUR == 0
        and all(isinstance(n, str) and 0 < len(n) <= MAX_NAME for n in (row.principal, row.model_id))
        and all(type(c) is int and c >= 0 for c in counts)
        and row.errors <= row.invocations
        and isinstance(row.meta, str)
        and len(row.meta) <= MAX_TEXT
    )  # fmt: skip
