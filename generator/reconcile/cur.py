"""The Cost and Usage Report (CUR 2.0 / Data Exports) as a bill: its Bedrock line items, by day, usage type and
calling principal, read in place from a folder or an S3 prefix (gzip CSV, or Parquet with the `cur` extra).

Owns finding the export's files for the days asked and reading only the Bedrock line items of each (a file's sums
are kept in the store by its ETag, so an unchanged file is read once). Gives a `billing.Bill`; kinds and the
comparison with the estimate are `billing`'s.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

from generator.aws import AWS_ERRORS, is_denied, reason
from generator.errors import SourceError
from generator.reconcile.billing import Bill, Billed, kind_of
from generator.sources.athena import AthenaRunner
from generator.state import Store

COLUMNS = ("line_item_usage_start_date", "line_item_product_code", "line_item_usage_type",
           "line_item_unblended_cost")  # fmt: skip
OPTIONAL = ("line_item_iam_principal", "line_item_line_item_type")
SUFFIXES = (".csv.gz", ".csv", ".parquet")
MAX_NAME = 1024  # characters of a product, usage type or principal kept (a longer one is cut, as in the logs)
MAX_AMOUNT = Decimal(10) ** 12  # dollars: a line item above a trillion is a damaged file, not a bill
_PERIOD = re.compile(r"BILLING_PERIOD=(\d{4})-(\d{2})")


def _is_bedrock(product_code: str, usage_type: str) -> bool:
    return "bedrock" in product_code.lower() or "mantle" in usage_type.lower()


def _periods(key: str) -> tuple[date, date] | None:
    """The billing period a CUR 2.0 file is for (`.../BILLING_PERIOD=2026-11/...`), or None when its path says not."""
    found = _PERIOD.search(key)
    if not found:
        return None
    year, month = int(found[1]), int(found[2])
    start = date(year, month, 1)
    return start, date(year + month // 12, month % 12 + 1, 1)


def _wanted(key: str, first: date, last: date) -> bool:
    if not key.endswith(SUFFIXES):
        return False
    period = _periods(key)
    return period is None or (period[0] <= last and first < period[1])


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    """A CSV export's rows, read as a stream (a gzip file is inflated as it is read, never whole)."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rt", encoding="utf-8", newline="") if gzipped
          else path.open(encoding="utf-8", newline="")) as text:  # fmt: skip
        reader = csv.DictReader(text)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise SourceError(f"not a CUR 2.0 export: no {', '.join(missing)} column")
        yield from reader


def _parquet_rows(path: Path) -> Iterator[dict[str, str]]:
    """A Parquet export's Bedrock rows: DuckDB reads only the columns named, and filters as it reads."""
    try:
        import duckdb
    except ImportError:
        raise SourceError(
            "a Parquet CUR export needs DuckDB: pip install 'bedrock-usage-site[cur]', or export the CUR as gzip CSV"
        ) from None
    names = [r[0] for r in duckdb.execute("SELECT name FROM parquet_schema(?)", [str(path)]).fetchall()]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise SourceError(f"not a CUR 2.0 export: no {', '.join(missing)} column")
    columns = [*COLUMNS, *(c for c in OPTIONAL if c in names)]
    select = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in columns)
    query = (f"SELECT {select} FROM read_parquet(?) WHERE lower(line_item_product_code) LIKE '%bedrock%' "
             "OR lower(line_item_usage_type) LIKE '%mantle%'")  # fmt: skip
    found = duckdb.execute(query, [str(path)])
    while batch := found.fetchmany(10_000):
        for row in batch:
            yield dict(zip(columns, row, strict=True))


def _amount(text: str | None) -> Decimal:
    """A line item's cost; ValueError for one that is not a finite amount a bill could hold."""
    amount = Decimal(text or "0")
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise ValueError(f"cost {text!r:.40}")
    return amount


def charges_of(path: Path, name: str) -> list[Billed]:
    """The Bedrock line items of one export file, summed by day, product, usage type, line type and principal;
    SourceError names the file and what is wrong with it."""
    rows = _parquet_rows(path) if name.endswith(".parquet") else _csv_rows(path)
    sums: dict[tuple[date, str, str, str, str], Decimal] = defaultdict(Decimal)
    try:
        for row in rows:
            code, usage = row.get("line_item_product_code") or "", row.get("line_item_usage_type") or ""
            if not _is_bedrock(code, usage):
                continue
            amount = _amount(row.get("line_item_unblended_cost"))
            day = date.fromisoformat((row.get("line_item_usage_start_date") or "")[:10])
            kind = kind_of(usage, row.get("line_item_line_item_type") or "")
            principal = (row.get("line_item_iam_principal") or "")[:MAX_NAME]
            sums[(day, code[:MAX_NAME], usage[:MAX_NAME], kind, principal)] += amount
    except (InvalidOperation, ValueError, UnicodeDecodeError, csv.Error, EOFError, OSError) as exc:
        raise SourceError(
            f"{name}: a line item has no usable date or cost, or the file is damaged ({exc!r:.80})"
        ) from None
    except SourceError as exc:
        raise SourceError(f"{name}: {exc}") from None
    return [Billed(day, code, amount, usage, kind, principal)
            for (day, code, usage, kind, principal), amount in sorted(sums.items())]  # fmt: skip


class _Files:
    """The export's files under a folder or an S3 prefix: (name, version, fetch) for each, where fetch gives the
    file on this machine (an S3 object is downloaded to a temporary folder, streamed, never held in memory)."""

    def __init__(self, where: str, s3: Callable[[], Any], scratch: Path) -> None:
        self.where, self.s3, self.scratch = where, s3, scratch

    def listing(self) -> Iterable[tuple[str, str, Callable[[], Path]]]:
        if not self.where.startswith("s3://"):
            root = Path(self.where)
            if not root.is_dir():
                raise SourceError(f"--cur {self.where}: no such folder")
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                stat = path.stat()
                yield str(path.relative_to(root)), f"{stat.st_mtime_ns}-{stat.st_size}", partial(Path, path)
            return
        bucket, _, prefix = self.where[5:].partition("/")
        client = self.s3()

        def fetch(key: str) -> Callable[[], Path]:
            def download() -> Path:
                for done in self.scratch.iterdir():  # one object on disk at a time
                    done.unlink()
                target = self.scratch / hashlib.sha256(key.encode()).hexdigest()[:24]
                client.download_file(bucket, key, str(target))
                return target

            return download

        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], str(item.get("ETag", "")), fetch(item["Key"])


def read_cur(where: str, first: date, last: date, s3: Callable[[], Any], store: Store | None) -> Bill:
    """The Bedrock charges of [first, last] in the export at `where` (a folder or s3://bucket/prefix). A file read
    before whose version is unchanged is taken from the store; a denied read becomes the bill's note."""
    charges: list[Billed] = []
    files = 0
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for name, version, fetch in _Files(where, s3, Path(scratch)).listing():
                if not _wanted(name, first, last):
                    continue
                files += 1
                found = _charges(fetch, name, version, f"{where}/{name}", store)
                charges += [c for c in found if first <= c.day <= last]
    except AWS_ERRORS as exc:
        why = f"no permission to read {where}" if is_denied(exc) else f"reading {where} failed ({reason(exc)})"
        return Bill((), f"CUR: {why}; showing the estimate only")
    except SourceError as exc:
        return Bill((), f"CUR: {exc}; showing the estimate only")
    if not files:
        return Bill((), f"CUR: no export files (.csv.gz, .csv, .parquet) for these days under {where}")
    return Bill(tuple(charges), source="cur")


def _charges(fetch: Callable[[], Path], name: str, version: str, where: str, store: Store | None) -> list[Billed]:
    """One file's charges: from the store when it kept this version of the file, else read (and then kept)."""
    blob = f"cur/{hashlib.sha256(where.encode()).hexdigest()[:24]}.json"
    kept = json.loads(store.read_blob(blob) or b"null") if store else None
    if kept and kept.get("version") == version:
        return [Billed(date.fromisoformat(d), s, Decimal(a), u, k, p) for d, s, a, u, k, p in kept["charges"]]
    found = charges_of(fetch(), name)
    if store:
        rows = [[c.day.isoformat(), c.service, str(c.amount), c.usage_type, c.kind, c.principal] for c in found]
        store.write_blob(blob, json.dumps({"version": version, "charges": rows}).encode())
    return found


ATHENA = re.compile(r"athena:([A-Za-z0-9_]{1,128})\.([A-Za-z0-9_]{1,128})")  # --cur athena:DATABASE.TABLE


def athena_query(table: tuple[str, str], first: date, last: date, principal: bool) -> str:
    """The one query that sums the export table's Bedrock line items of [first, last] (Athena's Trino dialect)."""
    who = "line_item_iam_principal" if principal else "''"
    end = date.fromordinal(last.toordinal() + 1)
    return (
        f"SELECT CAST(CAST(line_item_usage_start_date AS DATE) AS VARCHAR), line_item_product_code, "
        f"line_item_usage_type, line_item_line_item_type, {who}, CAST(SUM(line_item_unblended_cost) AS VARCHAR) "
        f'FROM "{table[0]}"."{table[1]}" '
        f"WHERE line_item_usage_start_date >= TIMESTAMP '{first.isoformat()} 00:00:00' "
        f"AND line_item_usage_start_date < TIMESTAMP '{end.isoformat()} 00:00:00' "
        "AND (lower(line_item_product_code) LIKE '%bedrock%' OR lower(line_item_usage_type) LIKE '%mantle%') "
        "GROUP BY 1, 2, 3, 4, 5"
    )


def read_cur_athena(runner: AthenaRunner, where: str, first: date, last: date) -> Bill:
    """The Bedrock charges of [first, last] from the export's Athena table (`athena:DATABASE.TABLE`): the CUR never
    passes through the job, only its sums do. A table without `line_item_iam_principal` bills no principal."""
    found = ATHENA.fullmatch(where)
    if found is None:
        raise SourceError(f"--cur {where[:100]!r}: give athena:DATABASE.TABLE (the CUR 2.0 export's table)")
    table = (found[1], found[2])
    try:
        columns = {str(r[0]) for r in runner.rows(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = '{table[0].lower()}' AND table_name = '{table[1].lower()}'",
            "the CUR table's columns")}  # fmt: skip
        if not set(COLUMNS) <= columns:
            missing = ", ".join(sorted(set(COLUMNS) - columns))
            return Bill((), f"CUR: {table[0]}.{table[1]} is not a CUR 2.0 export table (no {missing})")
        rows = runner.rows(athena_query(table, first, last, "line_item_iam_principal" in columns), "the CUR query")
        charges = [Billed(date.fromisoformat(str(day)), str(code or ""), _amount(cost), str(usage or ""),
                          kind_of(str(usage or ""), str(line or "")), str(who or ""))
                   for day, code, usage, line, who, cost in rows]  # fmt: skip
    except (SourceError, ValueError, InvalidOperation) as exc:
        return Bill((), f"CUR: {exc}; showing the estimate only")
    return Bill(tuple(charges), source="cur")
