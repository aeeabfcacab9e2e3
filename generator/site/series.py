"""Each person's use of each model per local day over the widest window: what the person pages and files show.

Owns the one set of sums that grows with people x models x days (9M days at 10,000 people x 10 models x 90 days,
0.4 GB as arrays in memory), so it is kept on disk. The cube hands over a run of rows' days at a time; they go to
one of `BUCKETS` anonymous temporary files by person. `finish` then reads a bucket at a time, puts its days in
the order the pages read them (person after person), and writes them to one more file as two arrays (counts,
costs), so a person's days are two reads at known places, by this process or a fork of it. The files are unlinked
as they are made: nothing is left behind, even by a build that is killed. The rest (which person is where) is a
few bytes a person; a bucket with a sum past 64 bits (forged counts) stays in memory as Python integers.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Sequence
from datetime import date
from typing import IO, NamedTuple

import numpy as np

from generator.errors import GeneratorError
from generator.pricing.book import MONEY_EXPONENT
from generator.usage import FITS, narrowest

SERIES = ("invocations", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
          "unpriced_invocations")  # fmt: skip
WIDTH = len(SERIES) + 2  # a day's record: the day's ordinal, the SERIES counts, the cost in money units
# a person's model's days, a row of WIDTH integers each: the index into `days`, the SERIES counts, the cost in money
# units (int64, or Python integers where one passes 64 bits)
Days = np.ndarray
BUCKETS = 64  # files the days are spread over by person before `finish`: one is read at a time (1/64 of them)
_KEYS = 3  # a stored day's columns before its record: person, model, and when the pair was first seen


class Series:
    """A window's days by person and model, on disk (see the module's words); `add` runs of them, `finish`, then
    read a person's (`of`) as often as the pages need."""

    def __init__(self, days: Sequence[date], exponent: int = MONEY_EXPONENT) -> None:
        self.days = tuple(days)
        self.exponent = exponent
        self._first = days[0].toordinal() if days else 0
        self._names: Sequence[str] = ()  # what the runs' person and model numbers stand for
        self._buckets: list[IO[bytes] | None] = [None] * BUCKETS  # int64 rows of _KEYS + WIDTH columns
        self._wide: list[list[np.ndarray]] = [[] for _ in range(BUCKETS)]  # rows with a sum past 64 bits: in memory
        self._file: IO[bytes] | None = None  # the people's days, bucket by bucket, person after person, once finished
        self._blocks: list[_Block] = []  # where each bucket's days are in the file (or in memory)
        self._where: dict[str, tuple[int, int, int, tuple[str, ...], tuple[int, ...]]] = {}  # block, rows, models, cuts
        self._finished = self._closed = False

    def add(self, names: Sequence[str], person: np.ndarray, model: np.ndarray, seen: np.ndarray,
            counts: np.ndarray, cost: np.ndarray) -> None:  # fmt: skip
        """Add one run of rows' days: each day's person and model (numbers into `names`, the same list every run),
        when the pair was first seen (a row's place in the table: a person's models are listed in that order), its
        ordinal and SERIES counts (`counts`, rows of WIDTH - 1) and cost. A day may come in two runs (one begun in
        the first): `finish` adds them up."""
        if self._finished:
            raise RuntimeError("the series is finished: it takes no more days")
        if not len(person):
            return
        self._names = names
        rows = np.empty((len(person), _KEYS + WIDTH), object if object in (counts.dtype, cost.dtype) else np.int64)
        rows[:, 0], rows[:, 1], rows[:, 2], rows[:, _KEYS:-1], rows[:, -1] = person, model, seen, counts, cost
        if rows.dtype == object:
            fits = _fits_int64(rows)
            for b, part in _by_bucket(person[~fits], rows[~fits]):
                self._wide[b].append(part)
            person, rows = person[fits], rows[fits].astype(np.int64)
        for b, part in _by_bucket(person, rows):
            found = self._buckets[b]
            if found is None:
                found = self._buckets[b] = _temporary()
            _write(found, part.tobytes())

    def finish(self) -> None:
        """Gather each person's days, bucket by bucket, into the file the pages read (once)."""
        if self._finished:
            return
        self._finished = True
        out = self._file = _temporary() if any(self._buckets) or any(self._wide) else None
        for b in range(BUCKETS):
            parts, found = self._wide[b], self._buckets[b]
            self._wide[b], self._buckets[b] = [], None
            if found is not None:
                found.seek(0)
                parts.insert(0, np.frombuffer(found.read(), np.int64).reshape(-1, _KEYS + WIDTH))
                found.close()
            if not parts:
                continue
            assert out is not None
            self._put(out, np.concatenate(parts) if len(parts) > 1 else parts[0])
        if out is not None:
            try:
                out.flush()  # read by its descriptor, here and in a fork
            except OSError as e:
                raise _disk_error(e) from e

    def _put(self, out: IO[bytes], rows: np.ndarray) -> None:
        """Write a bucket's days person after person, each person's in the order `of` gives them: by model (in the
        order first seen), then day, a day two runs share added up into one; and note where each person's are."""
        person, model, seen, day = (rows[:, i].astype(np.int64) for i in range(_KEYS + 1))
        order = np.lexsort([model, person])
        pairs = np.flatnonzero(np.r_[True, np.diff(person[order]) != 0] | np.r_[True, np.diff(model[order]) != 0])
        rank = np.empty(len(rows), np.int64)  # a model's place in its person's list: when the pair was first seen
        rank[order] = np.repeat(np.minimum.reduceat(seen[order], pairs), np.diff(np.r_[pairs, len(rows)]))
        order = np.lexsort([day, rank, person])
        days, person, rank, model = rows[order, _KEYS:], person[order], rank[order], model[order]
        repeat = (person[1:] == person[:-1]) & (rank[1:] == rank[:-1]) & (days[1:, 0] == days[:-1, 0])
        if repeat.any():  # a day two runs share: one day, added up
            kept = np.r_[True, ~repeat]
            days, person, rank, model = _add_up(days, repeat), person[kept], rank[kept], model[kept]
        days[:, 0] -= self._first  # the day's index into `days`
        block = _Block(out.tell(), narrowest(days[:, :-1], np.int32), narrowest(days[:, -1], np.int64))
        if object in (block.counts.dtype, block.cost.dtype):
            self._blocks.append(block)  # past 64 bits (forged): kept as Python integers, in memory
        else:
            _write(out, block.counts.tobytes() + block.cost.tobytes())
            kinds = np.empty((0, WIDTH - 1), block.counts.dtype), np.empty(0, block.cost.dtype)  # not views: no days
            self._blocks.append(block._replace(counts=kinds[0], cost=kinds[1], rows=len(days)))
        at = len(self._blocks) - 1
        people = np.flatnonzero(np.r_[True, person[1:] != person[:-1], True]).tolist()
        pairs = np.flatnonzero(np.r_[True, (person[1:] != person[:-1]) | (rank[1:] != rank[:-1]), True]).tolist()
        names, i = self._names, 0
        for lo, hi in itertools.pairwise(people):
            j = pairs.index(hi, i)
            cuts = pairs[i : j + 1]
            self._where[names[int(person[lo])]] = (at, lo, hi, tuple(names[int(model[c])] for c in cuts[:-1]),
                                                   tuple(c - lo for c in cuts))  # fmt: skip
            i = j

    def people(self) -> set[str]:
        self._check()
        return set(self._where)

    def of(self, person: str) -> dict[str, Days]:
        """A person's models (in the order they were first seen), each with its days in day order: rows of the day's
        index into `days`, the SERIES counts and the cost (int64, or Python integers where one passes 64 bits)."""
        self._check()
        found = self._where.get(person)
        if found is None or self._file is None:
            return {}
        at, lo, hi, models, cuts = found
        counts, cost = self._blocks[at].read(self._file.fileno(), lo, hi)
        days = np.empty((len(cost), WIDTH), object if object in (counts.dtype, cost.dtype) else np.int64)
        days[:, :-1], days[:, -1] = counts, cost
        return {m: days[a:b] for m, (a, b) in zip(models, itertools.pairwise(cuts), strict=True)}

    def close(self) -> None:
        """Let the files go (their space on disk with them); the series reads nothing after this."""
        for f in [self._file, *self._buckets]:
            if f is not None:
                f.close()
        self._file, self._buckets, self._wide, self._where = None, [None] * BUCKETS, [[] for _ in range(BUCKETS)], {}
        self._blocks = []
        self._finished = self._closed = True

    def _check(self) -> None:
        if self._closed:
            raise RuntimeError("the series is closed: its files are gone")
        if not self._finished and (any(self._buckets) or any(self._wide)):
            raise RuntimeError("finish the series before reading it")


class _Block(NamedTuple):
    """One bucket's days in the file: from `offset`, the counts (rows x WIDTH - 1) and then the costs, each of the
    dtype of `counts` and `cost` (empty arrays) and `rows` long; or, past 64 bits, the arrays themselves."""

    offset: int
    counts: np.ndarray
    cost: np.ndarray
    rows: int = -1  # -1: the arrays are the days themselves

    def read(self, fd: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows `lo` to `hi` of the counts and of the costs."""
        if self.rows < 0:
            return self.counts[lo:hi], self.cost[lo:hi]
        width, each, cost = WIDTH - 1, self.counts.itemsize, self.cost.itemsize
        counts = os.pread(fd, (hi - lo) * width * each, self.offset + lo * width * each)
        costs = os.pread(fd, (hi - lo) * cost, self.offset + self.rows * width * each + lo * cost)
        return (np.frombuffer(counts, self.counts.dtype).reshape(-1, width), np.frombuffer(costs, self.cost.dtype))


def _by_bucket(person: np.ndarray, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """The rows split by their person's bucket, each part in the rows' order."""
    if not len(person):
        return []
    bucket = np.asarray(person, np.int64) % BUCKETS
    order = np.argsort(bucket, kind="stable")
    bucket = bucket[order]
    cuts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1], True]).tolist()
    return [(int(bucket[lo]), rows[order[lo:hi]]) for lo, hi in itertools.pairwise(cuts)]


def _fits_int64(rows: np.ndarray) -> np.ndarray:
    """Which rows of Python integers have every value within 64 bits."""
    limits = np.iinfo(np.int64)
    return np.array([all(limits.min <= v <= limits.max for v in row) for row in rows.tolist()], bool)


def _temporary() -> IO[bytes]:
    """A file of this build's own, unlinked from the start (Linux: no name at all), so it is gone when closed or when
    the process ends, however it ends."""
    try:
        return tempfile.TemporaryFile()
    except OSError as e:
        raise _disk_error(e) from e


def _write(f: IO[bytes], data: bytes) -> None:
    try:
        f.write(data)
    except OSError as e:
        raise _disk_error(e) from e


def _disk_error(e: OSError) -> GeneratorError:
    return GeneratorError(
        f"could not keep people's daily use in a temporary file in {tempfile.gettempdir()} ({e.strerror or e}); "
        "free space there, or set TMPDIR to a folder on a bigger disk"
    )


def _add_up(days: Days, repeat: np.ndarray) -> Days:
    """Each row that `repeat`s the day before it added into that row (64-bit where no sum can wrap: bounded by the
    largest value times the most rows added into one; else Python integers)."""
    group = np.cumsum(np.r_[True, ~repeat]) - 1
    if days.dtype != object and max(-float(days.min()), float(days.max())) * int(np.bincount(group).max()) >= FITS:
        days = days.astype(object)
    summed = days[np.flatnonzero(np.r_[True, ~repeat])]  # a copy: the sums go into it
    again = np.flatnonzero(repeat) + 1
    np.add.at(summed[:, 1:], group[again], days[again, 1:])
    return narrowest(summed, np.int64) if summed.dtype == object else summed
