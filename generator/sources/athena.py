"""The `athena` source: hourly rows from an Athena table over the S3-delivered logs, one query per UTC day.

Owns the table (partition projection on the delivery layout, so no crawler and no MSCK REPAIR; created
or updated by the tool), the day query (grouped by hour, principal, model, region, account and prompt
size, each requestId once, body offloads excluded), running it within a deadline (StopQueryExecution on
the deadline or Ctrl-C), and the run's bytes scanned and cost. Days are stored like the other sources'
hours and, once settled, never queried again.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from generator import aws, state
from generator.attribution import MetaText
from generator.aws import AWS_ERRORS, reason
from generator.errors import ConfigError, SourceError
from generator.layout import parse_url
from generator.skips import SkipReport
from generator.sources import SourceResult
from generator.sources.s3logs import place_of, places
from generator.usage import (
    DAY,
    HOUR,
    PROMPT_BOUNDARIES,
    HourlyRow,
    as_table,
    combine,
    day_start,
    floor_hour,
    row_of,
    utc_days,
    valid_counts,
    within,
)

PRICE_PER_TB = Decimal(5)  # USD per TB scanned
MIN_BYTES = 10 * 1000**2  # Athena bills at least 10 MB a query
FORMAT = 1
_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,127}")
_OUTPUT = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*)?")


@dataclass(frozen=True)
class AthenaOptions:
    """The table over the logs, where queries run, and the store."""

    location: str  # s3://bucket/prefix holding AWSLogs/
    database: str = "bedrock_usage"
    table: str = "invocation_logs"
    workgroup: str = "primary"
    output: str = ""  # s3://... for results ("" when the workgroup sets its own)
    region: str | None = None
    state: str = ".bedrock-usage-state"
    rebuild: bool = False
    settle_lag_hours: int = 2
    deadline_seconds: float = 900.0
    concurrency: int = 4  # day queries at once (an account runs 20 or more; the rest queue in the workgroup)
    profile: str | None = None
    endpoint_url: str | None = None
    meta_keys: tuple[str, ...] = ()  # the request-metadata keys rows keep: another set makes stored days stale

    def check(self) -> list[str]:
        """Every problem with these options, as config errors."""
        errors = [f"{what}: {value!r} is not a lower-case Athena name (letters, digits, _)"
                  for what, value in (("ATHENA_DATABASE", self.database), ("ATHENA_TABLE", self.table))
                  if not _IDENT.fullmatch(value)]  # fmt: skip
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", self.workgroup):
            errors.append(f"ATHENA_WORKGROUP: {self.workgroup!r} is not a workgroup name")
        if self.output and not _OUTPUT.fullmatch(self.output):
            errors.append(f"ATHENA_OUTPUT: {self.output!r} is not an S3 URL like s3://bucket/athena-results/")
        try:
            parse_url(self.location)
        except ConfigError as exc:
            errors.append(str(exc))
        return errors


class AthenaDay(msgspec.Struct, frozen=True):
    """One UTC day's rows from the table, and how far they are final."""

    format: int
    table: str  # the table's identity (database, table, location): another makes the day stale
    day: str
    settled_through: int
    queried_at: str
    bytes_scanned: int
    rows: list[HourlyRow]


def table_ddl(options: AthenaOptions, accounts: list[str], regions: list[str]) -> str:
    """CREATE EXTERNAL TABLE over the delivery layout, partitions projected from the folder names."""
    bucket, prefix = parse_url(options.location)
    root = f"s3://{bucket}/{prefix}AWSLogs/"
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {_ddl_name(options)} (
  `timestamp` string, `accountid` string, `region` string, `requestid` string, `modelid` string, `errorcode` string,
  `identity` struct<arn:string>,
  `input` struct<inputtokencount:bigint,cachereadinputtokencount:bigint,cachewriteinputtokencount:bigint>,
  `output` struct<outputtokencount:bigint>, `requestmetadata` map<string,string>)
PARTITIONED BY (`account` string, `logregion` string, `hour` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true', 'case.insensitive' = 'true')
LOCATION {_text(root)}
TBLPROPERTIES ({_projection(root, accounts, regions)})"""


def _projection(root: str, accounts: list[str], regions: list[str]) -> str:
    props = {
        "projection.enabled": "true",
        "projection.account.type": "enum", "projection.account.values": ",".join(accounts),
        "projection.logregion.type": "enum", "projection.logregion.values": ",".join(regions),
        "projection.hour.type": "date", "projection.hour.format": "yyyy/MM/dd/HH",
        "projection.hour.range": "2023/01/01/00,NOW", "projection.hour.interval": "1",
        "projection.hour.interval.unit": "HOURS",
        "storage.location.template": root + "${account}/BedrockModelInvocationLogs/${logregion}/${hour}/",
    }  # fmt: skip
    return ", ".join(f"{_text(k)} = {_text(v)}" for k, v in props.items())


# Athena's DDL (Hive) quotes names with backticks; its queries (Trino) refuse backticks and take double
# quotes. Names are checked against _IDENT first, so neither quote can occur inside one.
def _ddl_name(options: AthenaOptions) -> str:
    return f"`{options.database}`.`{options.table}`"


def _query_name(options: AthenaOptions) -> str:
    return f'"{options.database}"."{options.table}"'


def _text(value: str) -> str:
    """A SQL string literal (a quote doubled; the values reaching here are checked names and S3 paths)."""
    return "'" + value.replace("'", "''") + "'"


# The body offloads Bedrock writes beside the records: <...>/YYYY/MM/DD/HH/data/<uuid>_input.json.gz. Only that
# folder is excluded, never a "data" folder in the bucket or prefix above the delivery layout.
OFFLOADS = r"/BedrockModelInvocationLogs/[^/]+/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/data/"


def _prompt_class() -> str:
    prompt = ("coalesce(input.inputtokencount, 0) + coalesce(input.cachereadinputtokencount, 0)"
              " + coalesce(input.cachewriteinputtokencount, 0)")  # fmt: skip
    cases = " ".join(f"WHEN {prompt} > {b} THEN {b}" for b in sorted(PROMPT_BOUNDARIES, reverse=True))
    return f"CASE {cases} ELSE 0 END"


def day_query(options: AthenaOptions, first_hour: int, end_hour: int) -> str:
    """One query for the hours [first_hour, end_hour) of a UTC day: each requestId once, offloads excluded.

    A record is counted in the hour of its own timestamp; folders an hour either side are read, since a
    record can be delivered into the next hour's folder.
    """

    def folder(epoch: int) -> str:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y/%m/%d/%H")

    keys = options.meta_keys  # each kept request-metadata key's value, as a column (NULL when the call has none)
    metas = "".join(
        f",\n    substr(element_at(requestmetadata, {_text(k)}), 1, 256) AS meta{i}" for i, k in enumerate(keys)
    )
    names = "".join(f", meta{i}" for i in range(len(keys)))
    groups = ", ".join(str(n) for n in range(1, 7)) + "".join(f", {13 + i}" for i in range(len(keys)))

    return f"""WITH records AS (
  SELECT DISTINCT coalesce(requestid, cast(uuid() AS varchar)) AS request,
    to_unixtime(date_trunc('hour', from_iso8601_timestamp("timestamp"))) AS hour_start,
    identity.arn AS principal, modelid, coalesce(region, logregion) AS call_region,
    coalesce(accountid, account) AS call_account, errorcode IS NOT NULL AS failed,
    coalesce(input.inputtokencount, 0) AS input_tokens, coalesce(output.outputtokencount, 0) AS output_tokens,
    coalesce(input.cachereadinputtokencount, 0) AS cache_read,
    coalesce(input.cachewriteinputtokencount, 0) AS cache_write,
    {_prompt_class()} AS prompt_over{metas}
  FROM {_query_name(options)}
  WHERE hour >= '{folder(first_hour - HOUR)}' AND hour < '{folder(end_hour + HOUR)}'
    AND NOT regexp_like("$path", {_text(OFFLOADS)}) AND modelid IS NOT NULL AND identity.arn IS NOT NULL
    AND "timestamp" IS NOT NULL)
SELECT cast(hour_start AS bigint) AS hour, principal, modelid, call_region, call_account, prompt_over,
  count(*) AS invocations, count_if(failed) AS errors, sum(input_tokens) AS input_tokens,
  sum(output_tokens) AS output_tokens, sum(cache_read) AS cache_read, sum(cache_write) AS cache_write{names}
FROM records
WHERE hour_start >= {first_hour} AND hour_start < {end_hour}
GROUP BY {groups}
ORDER BY {groups}"""


T = TypeVar("T")


class AthenaRunner:
    """Run Athena statements within a deadline: one at a time, or a day's queries a few at once; stop what runs on
    the deadline, a failure or Ctrl-C (a query left running keeps billing)."""

    def __init__(self, client: Any, options: AthenaOptions, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.client, self.options, self.sleep, self.clock = client, options, sleep, clock
        self.ends_at = clock() + options.deadline_seconds
        self.queries, self.bytes_scanned, self.billed_bytes = 0, 0, 0

    def rows(self, sql: str, what: str) -> Iterator[list[str | None]]:
        """Run one query; yield its result rows (without the header) as lists of strings."""
        yield from self._results(self.execute(sql, what), what)

    def execute(self, sql: str, what: str) -> str:
        """Run one statement to completion; return its query id."""
        query_id = self._start(sql, what)
        try:
            wait = 0.25
            while self._poll(query_id, what) is None:
                if self.clock() > self.ends_at:
                    raise SourceError(
                        f"Athena {what} passed the {self.options.deadline_seconds:.0f} s deadline; stopped it"
                    )
                self.sleep(wait)
                wait = min(wait * 1.5, 5.0)
        except BaseException:  # the deadline, Ctrl-C or any failure
            self._stop(query_id)
            raise
        return query_id

    def run_all(
        self, jobs: Iterable[tuple[T, str, str]], done: Callable[[T, list[list[str | None]], int], None],
        at_once: int,
    ) -> list[T]:  # fmt: skip
        """Run the queries `jobs` ((key, sql, what)), at most `at_once` at a time, started in their order; call
        `done(key, result rows, bytes scanned)` as each finishes, so what it holds is kept at once. Past the
        deadline nothing more starts and what runs is stopped: their keys are returned, for the next run. Any
        failure stops the rest and raises."""
        queue, running = list(jobs), dict[str, tuple[T, str]]()
        wait = 0.25
        try:
            while queue or running:
                while queue and len(running) < at_once and self.clock() <= self.ends_at:
                    key, sql, what = queue.pop(0)
                    running[self._start(sql, what)] = (key, what)
                if self.clock() > self.ends_at:
                    for query_id in running:
                        self._stop(query_id)
                    return [key for key, _ in running.values()] + [key for key, _, _ in queue]
                finished = False
                for query_id in list(running):
                    key, what = running.pop(query_id)  # a query that failed is not stopped again
                    scanned = self._poll(query_id, what)
                    if scanned is None:
                        running[query_id] = (key, what)
                        continue
                    done(key, list(self._results(query_id, what)), scanned)
                    finished = True
                if not finished:
                    self.sleep(wait)
                wait = 0.25 if finished else min(wait * 1.5, 5.0)
        except BaseException:
            for query_id in running:
                self._stop(query_id)
            raise
        return []

    def _start(self, sql: str, what: str) -> str:
        start: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.options.workgroup}
        if self.options.output:
            start["ResultConfiguration"] = {"OutputLocation": self.options.output}
        try:
            query_id = self.client.start_query_execution(**start)["QueryExecutionId"]
        except AWS_ERRORS as exc:
            raise SourceError(f"Athena would not start {what} ({reason(exc)})") from None
        self.queries += 1
        return str(query_id)

    def _poll(self, query_id: str, what: str) -> int | None:
        """The bytes a finished query scanned; None while it runs; SourceError when it failed."""
        execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        status = execution["Status"]
        if status["State"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return None
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
        self.bytes_scanned += scanned
        self.billed_bytes += max(scanned, MIN_BYTES) if scanned else 0
        if status["State"] == "SUCCEEDED":
            return scanned
        reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage", "")
        hint = ("; the workgroup's bytes-scanned limit stopped it: raise the limit or read fewer days"
                if "limit" in reason.lower() and "scan" in reason.lower() else "")  # fmt: skip
        raise SourceError(f"Athena {what} {status['State'].lower()}: {_one_line(reason)}{hint}")

    def _stop(self, query_id: str) -> None:
        with contextlib.suppress(*AWS_ERRORS):  # it may have finished: the error that stopped us is the one to report
            self.client.stop_query_execution(QueryExecutionId=query_id)

    def _results(self, query_id: str, what: str) -> Iterator[list[str | None]]:
        header = True
        try:
            for page in self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
                for row in page["ResultSet"]["Rows"]:
                    if header:
                        header = False
                        continue
                    yield [cell.get("VarCharValue") for cell in row["Data"]]
        except AWS_ERRORS as exc:
            raise SourceError(f"cannot read the results of Athena {what} ({reason(exc)})") from None


def _message(exc: Exception) -> str:
    response = getattr(exc, "response", {}) or {}
    return _one_line(str(response.get("Error", {}).get("Message", exc)))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def parse_rows(
    results: Iterator[list[str | None]], first_hour: int, end_hour: int, what: str, meta_keys: tuple[str, ...] = ()
) -> list[HourlyRow]:
    """Result rows as hourly rows; any value Athena could not have written fails the day."""
    rows, meta = [], MetaText(meta_keys)
    for n, cells in enumerate(results, 1):
        try:
            hour, principal, model, region, account, over, *rest = cells
            counts, metas = rest[:6], rest[6:]
            if len(metas) != len(meta_keys):
                raise ValueError("wrong column count")
            epoch = int(str(hour))
            numbers = [int(str(c)) for c in counts]
            if len(numbers) != 6 or not first_hour <= epoch < end_hour or epoch % HOUR:
                raise ValueError("hour outside the query range or wrong column count")
            if min(numbers) < 0 or numbers[1] > numbers[0] or not principal or not model:
                raise ValueError("negative count, more errors than calls, or no principal or model")
            if int(str(over)) not in (0, *PROMPT_BOUNDARIES):
                raise ValueError(f"prompt class {over}")
        except (TypeError, ValueError) as exc:
            raise SourceError(f"Athena result row {n} of {what} is invalid: {exc}") from None
        account = str(account or "")
        found = {k: str(v) for k, v in zip(meta_keys, metas, strict=True) if v is not None}
        row = row_of(epoch, principal, model, numbers, str(region or ""), int(str(over)),
                     account if re.fullmatch(r"\d{12}", account) else "", meta(found))  # fmt: skip
        if not valid_counts(row):
            raise SourceError(f"Athena result row {n} of {what} has a name over the length limit")
        rows.append(row)
    return rows


def read_athena(
    options: AthenaOptions, start: datetime, now: datetime, client: Any = None, s3: Any = None
) -> SourceResult:
    """Bring the store up to date from the table for [start, now floored to the hour) and return its rows."""
    client = client or aws.client("athena", profile=options.profile, region=options.region,
                                  endpoint_url=options.endpoint_url)  # fmt: skip
    s3 = s3 or aws.client("s3", profile=options.profile, endpoint_url=options.endpoint_url)
    store = state.open_store(options.state, options.profile, options.endpoint_url)
    runner = AthenaRunner(client, options)
    bucket, prefix = parse_url(options.location)
    found = places(s3, bucket, prefix, {"list_requests": 0})
    accounts = sorted({place_of(p)[0] for p in found})
    regions = sorted({place_of(p)[1] for p in found})
    table = f"{options.database}.{options.table}@{options.location}"
    if options.meta_keys:  # days that kept other request-metadata keys are stale: they are queried again
        table += ";metadata=" + ",".join(options.meta_keys)
    ddl = table_ddl(options, accounts, regions)
    _ensure_table(runner, store, options, ddl)
    end = int(floor_hour(now).timestamp())
    begin = int(start.timestamp())
    real_now = min(now.timestamp(), time.time())  # settled by the real time, never a --now that is ahead
    settled_before = int(real_now) - options.settle_lag_hours * HOUR
    settled_before -= settled_before % HOUR
    kept: dict[date, Sequence[HourlyRow]] = {}  # each day's rows: a table (52 bytes a row; row objects take 580)
    Job = tuple[date, str, int, int, int, str]  # day, store name, hours [first, stop), bytes scanned before, what
    jobs: list[tuple[Job, str, str]] = []  # (the day, its query, what it is called)
    for day in utc_days(begin, end):
        name = f"athena/{hashlib.sha256(table.encode()).hexdigest()[:16]}/day={day.isoformat()}.json"
        old = None if options.rebuild else _read_day(store, name, table)
        first = day_start(day) if old is None else max(day_start(day), old.settled_through)
        stop = min(end, day_start(day) + DAY)
        settled = [] if old is None else [r for r in old.rows if r.hour < first or first >= stop]
        kept[day] = settled if first < stop else as_table(settled)  # to be written again with the query's rows
        if first < stop:
            what = f"query of {day} from {datetime.fromtimestamp(first, UTC):%H}:00"
            before = old.bytes_scanned if old else 0
            jobs.append(((day, name, first, stop, before, what), day_query(options, first, stop), what))
    days_queried: list[str] = []

    def keep(job: Job, result: list[list[str | None]], scanned: int) -> None:
        """A day's query finished: its rows are kept in the store now, so a run stopped later keeps this day."""
        day, name, first, stop, before, what = job
        fresh = parse_rows(iter(result), first, stop, what, options.meta_keys)
        settled = max(first, min(stop, settled_before))
        ran = datetime.now(UTC).isoformat(timespec="seconds")
        done = AthenaDay(FORMAT, table, day.isoformat(), settled, ran, before + scanned, [*kept[day], *fresh])
        store.write_blob(name, msgspec.json.encode(done))
        days_queried.append(day.isoformat())
        kept[day] = as_table(done.rows)

    unread = runner.run_all(jobs, keep, options.concurrency)
    days_queried.sort()
    tables = [within(day_rows, begin, end) for day_rows in kept.values()]
    kept.clear()  # each day's table goes as it is combined
    rows = combine(tables)
    if not len(rows) and runner.bytes_scanned:
        # the delivery folders hold objects (Athena read them) but no record came back: a wrong prefix or filter
        # must not read as a month of $0
        raise SourceError(
            f"Athena scanned {runner.bytes_scanned / 1e6:,.1f} MB under {options.location} but found no invocation "
            "records there: check --logs (the bucket and prefix Bedrock delivers to)"
        )
    details = {
        "queries": runner.queries, "days_queried": days_queried, "bytes_scanned": runner.bytes_scanned,
        "estimated_cost_usd": float((runner.billed_bytes * PRICE_PER_TB / 10**12).quantize(Decimal("0.000001"))),
        "table": f"{options.database}.{options.table}", "workgroup": options.workgroup, "state": options.state,
    }  # fmt: skip
    line = (f"Athena: {runner.queries} queries ({len(days_queried)} days), "
            f"{runner.bytes_scanned / 1e6:,.1f} MB scanned, ~${details['estimated_cost_usd']:.4f}")  # fmt: skip
    backfill = ""
    if unread:
        days = len(utc_days(begin, end))
        backfill = (f"backfilling: {days - len(unread)} of {days} days of logs read; the next run reads on from "
                    f"{min(job[0] for job in unread)}")  # fmt: skip
        line += f"; {backfill} (the {options.deadline_seconds:.0f} s deadline came first)"
    return SourceResult(
        rows,
        SkipReport(),
        f"athena: {table}",
        rows.calls(),
        {**details, "days_unread": len(unread)},
        line=line,
        backfill=backfill,
    )


def _ensure_table(runner: AthenaRunner, store: state.Store, options: AthenaOptions, ddl: str) -> None:
    """Create the table, or re-create it when the accounts, regions or location changed since the last run."""
    marker = f"athena/table-{options.database}.{options.table}.sha256"
    digest = hashlib.sha256(ddl.encode()).hexdigest().encode()
    if store.read_blob(marker) == digest:
        return
    runner.execute(f"CREATE DATABASE IF NOT EXISTS `{options.database}`", "creation of the database")  # DDL
    # The tool owns the table: one made for other accounts, regions or a location is replaced (the logs stay in S3).
    runner.execute(f"DROP TABLE IF EXISTS {_ddl_name(options)}", "drop of the old table")
    runner.execute(ddl, "creation of the table")
    store.write_blob(marker, digest)


def _read_day(store: state.Store, name: str, table: str) -> AthenaDay | None:
    data = store.read_blob(name)
    if data is None:
        return None
    try:
        day = msgspec.json.decode(data, type=AthenaDay)
    except msgspec.DecodeError:
        return None
    ok = day.format == FORMAT and day.table == table and all(valid_counts(r) for r in day.rows)
    return day if ok else None
