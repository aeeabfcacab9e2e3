"""The `cloudwatch` source: hourly rows from Logs Insights, queried only where the store lacks them.

Owns one run: which days and regions to read, querying what is unsettled, writing the updated
partitions, and the run's query statistics. A failed query fails the run before anything is
written or published.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from generator import aws, state
from generator.skips import SkipReport
from generator.sources import SourceResult, insights
from generator.sources.insights import Chunk, ChunkResult, InsightsRunner, RunStats
from generator.sources.partitions import Partition, merge, plan_chunks, read_partition, write_partition
from generator.usage import DAY, RowTable, combine, day_start, floor_hour, utc_days, within

GB = Decimal(1024**3)
# Logs Insights, USD per GB scanned (the CloudWatch pricing page); other regions are assumed at us-east-1's
# price and the summary says so: pass --insights-price-per-gb for yours.
INSIGHTS_PRICES = {"us-east-1": Decimal("0.005"), "us-east-2": Decimal("0.005"), "us-west-2": Decimal("0.005"),
                   "ap-northeast-1": Decimal("0.0076")}  # fmt: skip
DEFAULT_PRICE = Decimal("0.005")


@dataclass(frozen=True)
class CloudWatchOptions:
    """Where the logs are, where the store is, and how to query."""

    log_groups: tuple[str, ...] = ("/aws/bedrock/modelinvocations",)
    regions: tuple[str, ...] = ("us-east-1",)
    state: str = ".bedrock-usage-state"
    rebuild: bool = False
    since: date | None = None
    settle_lag_hours: int = 2
    recheck_days: tuple[int, ...] = (1,)  # ages at which a settled day is read again for late deliveries
    assume_roles: tuple[str, ...] = ()  # roles in other accounts whose log groups are read too
    concurrency: int = 4
    deadline_seconds: float = 900.0
    row_cap: int = 10_000
    price_per_gb: Decimal | None = None  # USD per GB scanned for every region; None: INSIGHTS_PRICES by region
    profile: str | None = None
    endpoint_url: str | None = None
    meta_keys: tuple[str, ...] = ()  # the request-metadata keys rows keep: another set makes partitions stale


def read_cloudwatch(options: CloudWatchOptions, start: datetime, now: datetime) -> SourceResult:
    """Bring the store up to date for [start, now floored to the hour) and return its rows."""
    end = int(floor_hour(now).timestamp())
    begin = int(start.timestamp())
    sources = ",".join(sorted(options.log_groups))
    if options.meta_keys:  # partitions that kept other metadata keys are stale: their days are queried again
        sources += ";metadata=" + ",".join(options.meta_keys)
    store = state.open_store(options.state, options.profile, options.endpoint_url)
    days = utc_days(begin, end)
    # Our own account's log groups, then each account reached by --assume-role (the target is its account id).
    roles = {"": None, **{role_account(arn): arn for arn in options.assume_roles}}
    places = [(t, r) for t in roles for r in options.regions]
    partitions = {(t, r, d): read_partition(store, r, d, t) for t, r in places for d in days}
    since = (options.since or days[0]) if options.rebuild else None
    real_now = min(now.timestamp(), insights._now())  # re-checks are due by the real time, never a --now ahead
    chunks = plan_chunks(places, partitions, begin, end, sources, since, real_now, options.recheck_days)
    clients = {
        insights.place(t, r): aws.client("logs", profile=options.profile, region=r, role_arn=roles[t])
        for t, r in places
    }
    runner = InsightsRunner(
        clients, options.log_groups, concurrency=options.concurrency,
        deadline=options.deadline_seconds, row_cap=options.row_cap, meta_keys=options.meta_keys,
    )  # fmt: skip
    results = runner.run(chunks)
    # A day whose queries did not all finish by the deadline is not kept (the next run asks for it again);
    # every other day is, so a run stopped by its deadline still moves the backfill on.
    cut = {_day_of(c) for c in runner.unfinished}
    results = [r for r in results if _day_of(r.chunk) not in cut]
    checks = _keep(results, partitions, store, options, sources)
    tables = [within(p.rows, begin, end) for p in partitions.values() if p is not None]
    partitions.clear()  # each partition's table goes as it is combined
    rows = combine(tables)
    backfill = ""
    if cut:
        planned = {_day_of(c) for c in chunks}
        backfill = (f"backfilling: {len(planned) - len(cut)} of {len(planned)} days of logs read; the next run "
                    f"reads on from {min(day for _, _, day in cut)}")  # fmt: skip
    return _result(options, runner.stats, results, checks, rows, backfill)


def _day_of(chunk: Chunk) -> tuple[str, str, date]:
    """The partition a chunk belongs to: its account, region and UTC day."""
    return chunk.target, chunk.region, datetime.fromtimestamp(chunk.start, UTC).date()


Recheck = tuple[str, date, float, int]  # a re-checked day: where, day, bytes scanned, calls found late


def _keep(
    results: list[ChunkResult],
    partitions: dict[tuple[str, str, date], Partition | None],
    store: state.Store,
    options: CloudWatchOptions,
    sources: str,
) -> list[Recheck]:
    """Merge each day's query results into its partition and write it; return the days that were re-checked."""
    checks: list[Recheck] = []
    by_day: dict[tuple[str, str, date], list[ChunkResult]] = defaultdict(list)
    for result in results:
        by_day[_day_of(result.chunk)].append(result)
    lag = options.settle_lag_hours * 3600
    for (target, region, day), parts in sorted(by_day.items()):
        # Settled by the real time the queries ran, never --now or a clock that is ahead: an hour written
        # as final that the log service can still receive would lose its late records for good.
        ran_at = min(p.ran_at for p in parts)
        settled_before = int(ran_at) - lag
        queried = (min(p.chunk.start for p in parts), max(p.chunk.end for p in parts))
        rows = [row for p in parts for row in p.rows]
        stats = (sum(p.records_matched for p in parts), sum(p.bytes_scanned for p in parts))
        recheck = max(p.chunk.recheck for p in parts)
        old = partitions[(target, region, day)]
        # A whole day read when it was already `age` days old needs no re-check at that age (a backfill).
        day_end = day_start(day) + DAY
        whole = queried[0] <= day_start(day) and queried[1] >= day_end and settled_before >= day_end
        read_late = [a for a in options.recheck_days if whole and ran_at >= day_end + a * DAY]
        merged = merge(
            old, target, region, day, sources, queried, rows, settled_before, datetime.fromtimestamp(ran_at, UTC),
            stats, [*read_late, *([recheck] if recheck else [])],
        )  # fmt: skip
        if recheck:
            checks.append((parts[0].chunk.where, day, stats[1], _calls(merged) - _calls(old)))
        write_partition(store, merged)
        partitions[(target, region, day)] = merged
    return checks


def _result(
    options: CloudWatchOptions, s: RunStats, results: list[ChunkResult], checks: list[Recheck],
    rows: RowTable, backfill: str = "",
) -> SourceResult:  # fmt: skip
    """The source's result: its rows, the events that were not invocation records, and the run's statistics."""
    details: dict[str, Any] = {
        "queries": s.queries,
        "chunks_split": s.split,
        "hours_queried": s.hours,
        "records_matched": int(s.records_matched),
        "bytes_scanned": int(s.bytes_scanned),
        "estimated_cost_usd": float(_scan_cost(results, options.price_per_gb).quantize(Decimal("0.000001"))),
        "price_assumed_for": sorted({r.chunk.region for r in results} - set(INSIGHTS_PRICES))
        if options.price_per_gb is None
        else [],
        "rechecked_days": [f"{r} {d}" for r, d, _, _ in checks],
        "recheck_bytes_scanned": int(sum(b for _, _, b, _ in checks)),
        "late_records_found": sum(n for _, _, _, n in checks),
        "foreign_events": sum(r.foreign for r in results),
        "calls_without_token_counts": sum(r.without_counts for r in results),
        "log_groups": list(options.log_groups),
        "regions": list(options.regions),
        "accounts_through_roles": [role_account(a) for a in options.assume_roles],
        "state": options.state,
    }
    description = f"cloudwatch: {', '.join(options.log_groups)} in {', '.join(options.regions)}" + (
        f", and accounts {', '.join(details['accounts_through_roles'])} through roles" if options.assume_roles else ""
    )
    foreign = details["foreign_events"]
    skipped = SkipReport((("not_an_invocation_record", foreign),), ("events without modelId or identity.arn",))
    line = (
        f"Insights: {s.queries} queries over {s.hours} hours, {int(s.records_matched):,} records, "
        f"{s.bytes_scanned / 1e6:,.1f} MB scanned, ~${details['estimated_cost_usd']:.4f}"
        + (f" (us-east-1's price assumed for {', '.join(details['price_assumed_for'])}: pass --insights-price-per-gb)"
           if details["price_assumed_for"] else "")
        + (f"; {backfill} (the {options.deadline_seconds:.0f} s deadline came first)" if backfill else "")
    )  # fmt: skip
    return SourceResult(
        rows,
        skipped if foreign else SkipReport(),
        description,
        rows.calls(),
        details,
        line=line,
        backfill=backfill,
    )


def _scan_cost(results: list[ChunkResult], price: Decimal | None) -> Decimal:
    """What the run's queries cost: each region's bytes at its Insights price (or the one given)."""
    total = Decimal(0)
    for r in results:
        unit = price if price is not None else INSIGHTS_PRICES.get(r.chunk.region, DEFAULT_PRICE)
        total += Decimal(r.bytes_scanned) / GB * unit
    return total


def role_account(arn: str) -> str:
    """The account id of a role ARN (`arn:aws:iam::210987654321:role/...`)."""
    return arn.split(":")[4]


def _calls(p: Partition | None) -> int:
    return sum(r.invocations for r in p.rows) if p is not None else 0
