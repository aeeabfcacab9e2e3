"""Run CloudWatch Logs Insights aggregation queries: bounded concurrency, polling, deadline, splitting.

Owns the query text, parsing result rows from their string form, and the lifecycle of queries
(LimitExceeded retries, StopQuery on deadline or Ctrl-C, halving chunks whose results hit the row
cap). Takes a `logs` client per region; knows nothing of the store or the site.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from generator.attribution import MetaText
from generator.aws import AWS_ERRORS, error_code, reason
from generator.errors import SourceError
from generator.usage import HOUR, MAX_NAME, HourlyRow, as_table, row_of

# Logs Insights discovers at most 200 fields of a JSON event, and a record whose bodies are logged flattens
# to hundreds before its token counts: a discovered field would then be missing and its sum read as 0. So
# each count is also parsed from the raw @message (the last occurrence: the record's own counts follow its
# bodies inside "input" and "output") and the discovered field is used when there is one.
_TOKENS = (
    ("input_tokens", "input.inputTokenCount", "inputTokenCount"),
    ("output_tokens", "output.outputTokenCount", "outputTokenCount"),
    ("cache_read_tokens", "input.cacheReadInputTokenCount", "cacheReadInputTokenCount"),
    ("cache_write_tokens", "input.cacheWriteInputTokenCount", "cacheWriteInputTokenCount"),
)
# count(field) counts the records that have it; a sum over records that all lack a field comes back
# empty and is read as 0, so records without token counts (failed or blocked calls) are never lost.
COUNTS = ("invocations", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def query(start: int, end: int, meta_keys: tuple[str, ...] = ()) -> str:
    """The query for [start, end) in epoch seconds: exact to the millisecond, whatever StartQuery's whole seconds;
    grouped by the request-metadata values of `meta_keys` too."""
    return "\n".join([f"filter @timestamp >= {start * 1000} and @timestamp < {end * 1000}", *_body(meta_keys)])


@functools.cache
def _body(meta_keys: tuple[str, ...]) -> tuple[str, ...]:
    """The query after its time filter: each field parsed from @message as well, then summed by hour, principal,
    model id, account and each metadata key's value (taken like the counts: discovered, else parsed)."""
    metas = list(enumerate(meta_keys))
    return (
        *(f'| parse @message /.*"{key}" *: *(?<m_{name}>[0-9]+)/' for name, _, key in _TOKENS),
        '| parse @message /"modelId" *: *"(?<m_model>[^"]+)"/',
        '| parse @message /"identity" *: *\\{ *"arn" *: *"(?<m_arn>[^"]+)"/',
        '| parse @message /"accountId" *: *"(?<m_account>[0-9]{12})"/',
        *(f"| parse @message /{_meta_pattern(k, i)}/" for i, k in metas),
        "| fields " + ", ".join([
            *(f"coalesce({field}, m_{name}) as c_{name}" for name, field, _ in _TOKENS),
            "coalesce(modelId, m_model) as c_model", "coalesce(identity.arn, m_arn) as c_arn",
            "coalesce(accountId, m_account) as c_account",
            *(f"coalesce({_field('requestMetadata.' + k)}, m_meta{i}) as c_meta{i}" for i, k in metas),
        ]),
        "| stats count(*) as invocations, count(errorCode) as errors, "
        + ", ".join(f"sum(c_{name}) as {name}" for name, _, _ in _TOKENS)
        + ", count(c_input_tokens) as counted",
        "  by bin(1h) as hour, c_arn as principal, c_model as model_id, c_account as account"
        + "".join(f", c_meta{i} as meta{i}" for i, _ in metas),
    )  # fmt: skip


def _meta_pattern(key: str, i: int) -> str:
    """A regex for one metadata key's value in the raw event (so the 200-field cap never hides it)."""
    escaped = re.sub(r"([^A-Za-z0-9_ ])", r"\\\1", key)
    return f'"requestMetadata" *: *\\{{[^}}]*"{escaped}" *: *"(?<m_meta{i}>[^"]{{0,256}})"'


def _field(name: str) -> str:
    """A field name as Insights takes it: in backticks when it holds anything but letters, digits, _ and dots."""
    return name if re.fullmatch(r"[A-Za-z0-9_.]+", name) else f"`{name}`"


FAILED = {"Failed", "Cancelled", "Timeout", "Unknown"}
_ACCOUNT = re.compile(r"^\d{12}$")
_PLAIN_COUNT = re.compile(r"(\d{1,18})(?:\.0*)?")  # a sum of at most 2**40-token records, as Insights prints it


def place(target: str, region: str) -> str:
    """The key of a logs client: the region, or account/region for an account read through a role."""
    return f"{target}/{region}" if target else region


@dataclass(frozen=True)
class Chunk:
    """One query: a region and a half-open range of whole hours [start, end), epoch seconds."""

    region: str
    start: int
    end: int
    recheck: int = 0  # a settled day read again at this age in days, for late deliveries (0: new hours)
    target: str = ""  # the account reached through --assume-role ("" for our own credentials)

    @property
    def where(self) -> str:
        """Which logs client answers this chunk (see `place`)."""
        return place(self.target, self.region)

    def __str__(self) -> str:
        fmt = "%Y-%m-%d %H:00"
        a, b = (datetime.fromtimestamp(t, UTC).strftime(fmt) for t in (self.start, self.end))
        return f"{self.where} {a} to {b} UTC"

    def halves(self) -> tuple[Chunk, Chunk]:
        middle = self.start + (self.end - self.start) // HOUR // 2 * HOUR
        return (Chunk(self.region, self.start, middle, self.recheck, self.target),
                Chunk(self.region, middle, self.end, self.recheck, self.target))  # fmt: skip


@dataclass(frozen=True)
class ChunkResult:
    """A completed query: its rows and statistics."""

    chunk: Chunk
    rows: Sequence[HourlyRow]  # a RowTable: a 90-day first run holds every day's results until each is merged
    records_matched: float
    bytes_scanned: float
    ran_at: float  # epoch seconds when the query started: the earlier of our clock and AWS's
    foreign: int = 0
    without_counts: int = 0
    returned: int = 0  # result rows Insights returned (the row cap applies to these)


@dataclass
class RunStats:
    """What one run asked CloudWatch for."""

    queries: int = 0
    split: int = 0
    hours: int = 0
    records_matched: float = 0.0
    bytes_scanned: float = 0.0
    ranges: list[tuple[str, int, int]] = field(default_factory=list)


def _now() -> float:
    """This machine's clock (tests replace it to play a clock that is ahead)."""
    return time.time()


def parse_hour(value: str) -> int:
    """Parse Insights' bin value (`2025-03-11 00:00:00.000`, UTC) into epoch seconds."""
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            moment = datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        epoch = int(moment.timestamp())
        if epoch % HOUR:
            raise ValueError(f"hour {value!r} is not on the hour")
        return epoch
    raise ValueError(f"hour {value!r} is not a time")


def _count(name: str, value: str | None) -> int:
    if value is None or value == "":
        return 0  # a sum over records that all lack the field
    match = _PLAIN_COUNT.fullmatch(value)  # never Decimal("1e999999999"): that integer takes minutes to build
    if match is None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ValueError(f"{name} {shown!r} is not a plain non-negative whole number")
    return int(match[1])


def _name(name: str, value: str | None) -> str:
    if not value:
        raise ValueError(f"{name} is missing")
    if len(value) > MAX_NAME:
        raise ValueError(f"{name} is {len(value):,} characters long (at most {MAX_NAME:,})")
    return value


@dataclass(frozen=True)
class Parsed:
    """A chunk's rows, and what its records held besides."""

    rows: list[HourlyRow]
    foreign: int = 0  # events in the log group that are not model invocations (no modelId or identity)
    without_counts: int = 0  # successful calls that logged no token counts (blocked, image, rerank calls)


def parse_results(chunk: Chunk, results: Iterable[list[dict[str, str]]], meta_keys: tuple[str, ...] = ()) -> Parsed:
    """Turn GetQueryResults rows into hourly rows; events that are not invocations are counted, not fatal.

    Any other invalid row fails the chunk: a number Insights could not have written means the answer is wrong.
    """
    rows, foreign, without, meta = [], 0, 0, MetaText(meta_keys)
    for n, result in enumerate(results, 1):
        fields = {f["field"]: f.get("value") for f in result}
        try:
            hour = parse_hour(str(fields.get("hour") or fields.get("bin(1h)") or ""))
            if not chunk.start <= hour < chunk.end:
                raise ValueError(f"hour {fields.get('hour')} is outside the query range")
            counts = [_count(name, fields.get(name)) for name in COUNTS]
            if not fields.get("principal") or not fields.get("model_id"):
                foreign += counts[0]  # another writer's events in the group: not ours to price
                continue
            principal, model = _name("principal", fields.get("principal")), _name("model_id", fields.get("model_id"))
            counted = _count("counted", fields.get("counted")) if "counted" in fields else counts[0] - counts[1]
        except ValueError as exc:
            raise SourceError(f"Insights result row {n} of {chunk} is invalid: {exc}") from None
        without += max(0, counts[0] - counts[1] - counted)
        account = str(fields.get("account") or "")
        found = {k: str(v) for i, k in enumerate(meta_keys) if (v := fields.get(f"meta{i}")) is not None}
        rows.append(row_of(hour, principal, model, counts, chunk.region,
                           account=account if _ACCOUNT.match(account) else "", meta=meta(found)))  # fmt: skip
    return Parsed(rows, foreign, without)


UNPAGED_ROWS = 10_000
_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:[^:*]+$")


def log_group_argument(groups: Iterable[str]) -> dict[str, list[str]]:
    """StartQuery's log groups: names, or (with any ARN, a source account's group under cross-account
    observability) `logGroupIdentifiers`, which takes names and ARNs alike."""
    found = list(groups)
    return {"logGroupIdentifiers": found} if any(_GROUP_ARN.match(g) for g in found) else {"logGroupNames": found}


def _can_page(client: Any) -> bool:
    """Whether this client's GetQueryResults takes a nextToken (botocore since 1.35; fakes say so themselves)."""
    try:
        members = client.meta.service_model.operation_model("GetQueryResults").input_shape.members
    except AttributeError:
        return bool(getattr(client, "pages_results", True))
    return "nextToken" in members


class InsightsRunner:
    """Run chunks with at most `concurrency` queries at once, within `deadline` seconds."""

    def __init__(
        self,
        clients: dict[str, Any],
        log_groups: tuple[str, ...],
        *,
        concurrency: int = 4,
        deadline: float = 900.0,
        row_cap: int = 10_000,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        wall: Callable[[], float] | None = None,
        meta_keys: tuple[str, ...] = (),
    ) -> None:
        self.clients, self.log_groups, self.meta_keys = clients, log_groups, meta_keys
        # Past 10,000 rows GetQueryResults pages; a client whose API model cannot ask for the next page
        # would stop at 10,000 and a capped result would look complete, so the cap is clamped for it.
        pages = all(_can_page(c) for c in clients.values())
        self.row_cap = row_cap if pages else min(row_cap, UNPAGED_ROWS)
        self.concurrency, self.deadline = concurrency, deadline
        self.sleep, self.clock, self.wall = sleep or time.sleep, clock or time.monotonic, wall or _now
        self.stats = RunStats()
        self.unfinished: list[Chunk] = []  # what the deadline stopped (see run)
        self._started: dict[str, float] = {}  # query id -> when it started (see ChunkResult.ran_at)

    def run(self, chunks: Iterable[Chunk]) -> list[ChunkResult]:
        """Run the chunks and return those that finished; raise SourceError (after stopping the others) on any
        failure. At the deadline the running queries are stopped and what did not finish is `unfinished`, so the
        caller keeps the days that did and the next run reads the rest."""
        queue, done = list(chunks), list[ChunkResult]()
        self.unfinished = []
        running: dict[tuple[str, str], Chunk] = {}  # (region, query id): ids are unique per region only
        ends_at = self.clock() + self.deadline
        wait = 0.5
        try:
            while queue or running:
                while queue and len(running) < self.concurrency:
                    chunk = queue.pop(0)
                    running[(chunk.where, self._start(chunk, ends_at))] = chunk
                if self.clock() > ends_at:
                    self._stop(running)
                    self.unfinished = [*running.values(), *queue]
                    return done
                self.sleep(wait)
                wait = min(wait * 1.5, 5.0)
                for key, chunk in list(running.items()):
                    result = self._poll(key[1], chunk)
                    if result is None:
                        continue
                    del running[key]
                    wait = 0.5
                    if result.returned >= self.row_cap:
                        if chunk.end - chunk.start <= HOUR:
                            raise SourceError(
                                f"{chunk} has {result.returned} rows, the Insights row cap, within one hour; "
                                "raise --insights-row-cap (up to 100,000)"
                            )
                        self.stats.split += 1
                        queue[:0] = chunk.halves()
                        continue
                    done.append(result)
        except BaseException:
            self._stop(running)
            raise
        return done

    def _start(self, chunk: Chunk, ends_at: float) -> str:
        backoff = 1.0
        while True:
            try:
                response = self.clients[chunk.where].start_query(
                    **log_group_argument(self.log_groups),
                    # StartQuery's range is whole seconds, both ends inclusive: it reaches one second past the
                    # chunk, and the query's own @timestamp filter keeps [start, end) to the millisecond.
                    startTime=chunk.start,
                    endTime=chunk.end,
                    queryString=query(chunk.start, chunk.end, self.meta_keys),
                    limit=self.row_cap,
                )
                self.stats.queries += 1
                self.stats.hours += (chunk.end - chunk.start) // HOUR
                self.stats.ranges.append((chunk.where, chunk.start, chunk.end))
                self._started[str(response["queryId"])] = self._ran_at(response)
                return str(response["queryId"])
            except AWS_ERRORS as exc:
                code = error_code(exc)
                if code not in ("LimitExceededException", "ThrottlingException") or self.clock() > ends_at:
                    raise SourceError(f"cannot start the Insights query for {chunk} ({reason(exc)})") from None
                self.sleep(backoff * random.uniform(0.5, 1.5))  # jittered: concurrent runs spread out
                backoff = min(backoff * 2, 30.0)

    def _ran_at(self, response: dict[str, Any]) -> float:
        """The real time of a query: our clock, unless AWS's Date header says it is earlier (a clock ahead)."""
        local = self.wall()
        header = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        try:
            return min(local, email.utils.parsedate_to_datetime(header).timestamp()) if header else local
        except (TypeError, ValueError):
            return local

    def _poll(self, query_id: str, chunk: Chunk) -> ChunkResult | None:
        client = self.clients[chunk.where]
        try:
            page = client.get_query_results(queryId=query_id)
        except AWS_ERRORS as exc:
            raise SourceError(f"cannot read the Insights query for {chunk} ({reason(exc)})") from None
        status = page.get("status")
        if status in FAILED:
            raise SourceError(f"the Insights query for {chunk} ended {status}; nothing was published")
        if status != "Complete":
            return None  # Scheduled or Running: its partial rows are never used
        results = list(page.get("results", []))
        while page.get("nextToken"):
            page = client.get_query_results(queryId=query_id, nextToken=page["nextToken"])
            results.extend(page.get("results", []))
        stats = page.get("statistics", {})
        parsed = parse_results(chunk, results, self.meta_keys)
        result = ChunkResult(
            chunk,
            as_table(parsed.rows),
            float(stats.get("recordsMatched", 0)),
            float(stats.get("bytesScanned", 0)),
            self._started[query_id],
            parsed.foreign,
            parsed.without_counts,
            len(results),
        )
        self.stats.records_matched += result.records_matched
        self.stats.bytes_scanned += result.bytes_scanned
        return result

    def _stop(self, running: dict[tuple[str, str], Chunk]) -> None:
        for (_, query_id), chunk in running.items():
            with contextlib.suppress(*AWS_ERRORS):  # it may have finished meanwhile; the run fails either way
                self.clients[chunk.where].stop_query(queryId=query_id)
