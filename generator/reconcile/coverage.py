"""Log coverage: how much of what Bedrock itself counted the logs hold, per region, model and UTC day.

Owns reading the `AWS/Bedrock` and `AWS/BedrockMantle` CloudWatch metrics (ListMetrics, then GetMetricData in
batches of daily sums), keeping each settled day in the state store so a run asks only for new days, and setting
the counts beside the logs': invocations and tokens, log-delivery failures, regions with calls and no logs read,
calls on the priority and flex tiers, and mantle calls, which no invocation log holds. Takes a client per region;
a region that cannot be read is named in a line, never a failure.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from generator.aws import AWS_ERRORS, error_code, is_denied, reason
from generator.modelids import IN_REGION, parse_model_id
from generator.pricing import PriceBook
from generator.pricing.cost import utc_day
from generator.reconcile.billing import complete_days
from generator.state import Store
from generator.usage import DAY, HourlyRow, Window, day_start, utc_days

# Regions Bedrock runs in (the account's opt-in regions that are not enabled answer with an error and are passed by).
BEDROCK_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-gov-east-1", "us-gov-west-1", "ca-central-1",
    "ca-west-1", "sa-east-1", "mx-central-1", "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "eu-north-1", "eu-south-1", "eu-south-2", "il-central-1", "me-central-1", "me-south-1", "af-south-1",
    "ap-south-1", "ap-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1",
    "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7", "ap-east-2",
)  # fmt: skip
COUNTS = ("Invocations", "InputTokenCount", "OutputTokenCount")  # per ModelId: what the logs should hold
DELIVERY = ("ModelInvocationLogsCloudWatchDeliveryFailure", "ModelInvocationLogsS3DeliveryFailure",
            "ModelInvocationLargeDataS3DeliveryFailure")  # fmt: skip
MANTLE = ("Inferences", "TotalInputTokens", "TotalOutputTokens")  # bedrock-mantle: never in invocation logs
TIERS = ("priority", "flex", "latency-optimized")  # a `ModelId` of `<model>+<tier>`
THRESHOLD = 0.99  # a region, model and day whose logs hold less of what Bedrock counted is named
SETTLED = timedelta(hours=6)  # a UTC day's metrics are final this long after it ends
_BATCH = 500  # GetMetricData's limit of queries a request
_NOT_ENABLED = ("UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure", "OptInRequired")


@dataclass
class DayCounts:
    """What the metrics of one region say for one UTC day."""

    models: dict[str, list[int]] = field(default_factory=dict)  # ModelId -> [invocations, input, output tokens]
    delivery: dict[str, int] = field(default_factory=dict)  # delivery-failure metric -> count
    mantle: dict[str, list[int]] = field(default_factory=dict)  # mantle model -> [inferences, input, output]

    def to_json(self) -> bytes:
        return json.dumps({"models": self.models, "delivery": self.delivery, "mantle": self.mantle}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> DayCounts:
        doc = json.loads(data)
        return cls(doc["models"], doc["delivery"], doc["mantle"])


@dataclass
class Metrics:
    """The metrics read, by (region, UTC day), and what could not be read."""

    days: dict[tuple[str, date], DayCounts] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    requests: int = 0  # GetMetricData requests made this run


def _blob(region: str, day: date) -> str:
    return f"coverage/{region}/{day.isoformat()}.json"


def _series(client: Any, namespace: str, names: Iterable[str]) -> list[dict[str, Any]]:
    """Every metric of `names` in the namespace with its dimensions (ListMetrics: those with data in two weeks)."""
    wanted, token = set(names), None
    found: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}  # each series once, however listed
    while True:
        page = client.list_metrics(Namespace=namespace, **({"NextToken": token} if token else {}))
        for m in page.get("Metrics", []):
            if m.get("MetricName") in wanted:
                dims = tuple(sorted((d["Name"], d["Value"]) for d in m.get("Dimensions", [])))
                found[(m["MetricName"], dims)] = m
        token = page.get("NextToken")
        if not token:
            return list(found.values())


def _model_of(metric: dict[str, Any]) -> str | None:
    """The model a metric is for: its ModelId (or mantle's model) dimension; None for another breakdown."""
    dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
    return dims.get("ModelId") if set(dims) == {"ModelId"} else None


def _mantle_model(metric: dict[str, Any]) -> str | None:
    dims = {d["Name"].lower(): d["Value"] for d in metric.get("Dimensions", [])}
    return dims.get("model") or dims.get("modelid")


def _read_region(client: Any, days: list[date]) -> tuple[dict[date, DayCounts], int]:
    """Daily sums of every Bedrock metric of a region's client over `days` (contiguous); and the requests it took."""
    queries: list[tuple[str, str, str, dict[str, Any]]] = []  # (kind, model, metric name, metric)
    for metric in _series(client, "AWS/Bedrock", (*COUNTS, *DELIVERY)):
        name, model = metric["MetricName"], _model_of(metric)
        if name in COUNTS and model:
            queries.append(("models", model, name, metric))
        elif name in DELIVERY and not metric.get("Dimensions"):
            queries.append(("delivery", "", name, metric))
    for metric in _series(client, "AWS/BedrockMantle", MANTLE):
        model = _mantle_model(metric)
        if model:  # every breakdown of a model (its projects) is summed
            queries.append(("mantle", model, metric["MetricName"], metric))
    found = {day: DayCounts() for day in days}
    requests = 0
    start = datetime.fromtimestamp(day_start(days[0]), UTC)
    for first in range(0, len(queries), _BATCH):
        batch = queries[first : first + _BATCH]
        ask = [{"Id": f"m{i}", "MetricStat": {"Metric": m, "Period": 86400, "Stat": "Sum"}, "ReturnData": True}
               for i, (*_, m) in enumerate(batch)]  # fmt: skip
        token = None
        while True:
            requests += 1
            page = client.get_metric_data(
                MetricDataQueries=ask, StartTime=start, EndTime=start + timedelta(days=len(days)),
                **({"NextToken": token} if token else {}),
            )  # fmt: skip
            for result in page.get("MetricDataResults", []):
                kind, model, name, _ = batch[int(result["Id"][1:])]
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    counts = found.get(stamp.astimezone(UTC).date())
                    if counts is not None and math.isfinite(value) and value >= 0:  # a count is never NaN or < 0
                        _add(counts, kind, model, name, round(value))
            token = page.get("NextToken")
            if not token:
                break
    return found, requests


def _add(counts: DayCounts, kind: str, model: str, name: str, value: int) -> None:
    if kind == "delivery":
        counts.delivery[name] = counts.delivery.get(name, 0) + value
        return
    names = COUNTS if kind == "models" else MANTLE
    row = getattr(counts, kind).setdefault(model, [0, 0, 0])
    row[names.index(name)] += value


def read(
    client_for: Callable[[str], Any], regions: Iterable[str], days: list[date], store: Store | None, now: datetime
) -> Metrics:
    """The metrics of `days` in every region: settled days from the store, the rest from CloudWatch (then kept)."""
    out = Metrics()
    settled = {d for d in days if day_start(d) + DAY + SETTLED.total_seconds() <= now.timestamp()}

    failed: dict[str, list[str]] = defaultdict(list)  # what went wrong -> the regions it went wrong in

    def one(region: str) -> tuple[str, dict[date, DayCounts], int, str]:
        kept: dict[date, DayCounts] = {}
        for day in sorted(settled):
            blob = store.read_blob(_blob(region, day)) if store else None
            if blob is not None:
                kept[day] = DayCounts.from_json(blob)
        missing = [d for d in days if d not in kept]
        if not missing:
            return region, kept, 0, ""
        span = utc_days(day_start(missing[0]), day_start(missing[-1]) + DAY)
        try:
            fresh, requests = _read_region(client_for(region), span)
        except AWS_ERRORS as exc:
            if error_code(exc) in _NOT_ENABLED:
                return region, kept, 0, ""  # a region the account has not enabled has no calls
            return region, kept, 0, "was denied" if is_denied(exc) else f"failed ({reason(exc)})"
        for day in missing:
            kept[day] = fresh[day]
            if store and day in settled:
                store.write_blob(_blob(region, day), fresh[day].to_json())
        return region, kept, requests, ""

    with ThreadPoolExecutor(8) as pool:
        for region, kept, requests, problem in pool.map(one, sorted(set(regions))):
            out.days.update({(region, day): counts for day, counts in kept.items()})
            out.requests += requests
            if problem:
                failed[problem].append(region)
    out.problems = [
        f"log coverage: reading the AWS/Bedrock metrics {what} in {', '.join(where)}; grant cloudwatch:ListMetrics "
        "and cloudwatch:GetMetricData, or pass --no-coverage"
        for what, where in failed.items()
    ]  # fmt: skip
    return out


def logged_counts(
    rows: Iterable[HourlyRow], models: Mapping[str, str], home: str
) -> dict[tuple[str, date, str], list[int]]:
    """What the logs hold per (region, UTC day, model): invocations, input, output, cache read and cache write
    tokens (a row that names no region is counted in `home`, the run's region)."""
    found: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    model_of = _namer(models)
    for r in rows:
        row = found[(r.region or home, utc_day(r.hour), model_of(r.model_id))]
        row[0] += r.invocations
        row[1] += r.input_tokens
        row[2] += r.output_tokens
        row[3] += r.cache_read_tokens
        row[4] += r.cache_write_tokens
    return found


def _namer(models: Mapping[str, str]) -> Callable[[str], str]:
    """The base model a logged (or counted) model id names, remembered per id: the logs and the metrics meet on it."""
    return functools.lru_cache(maxsize=None)(lambda model_id: parse_model_id(model_id, models).model)


@dataclass(frozen=True)
class Gap:
    """A region, model and day whose logs hold less than THRESHOLD of what Bedrock counted."""

    region: str
    model: str
    day: date
    counted: int
    logged: int

    @property
    def share(self) -> float:
        return self.logged / self.counted


@dataclass(frozen=True)
class Coverage:
    """One window's logs beside Bedrock's own counts, over its complete UTC days."""

    first_day: date | None
    last_day: date | None
    counted: tuple[int, int, int] = (0, 0, 0)  # invocations, input and output tokens Bedrock counted
    logged: tuple[int, int, int] = (0, 0, 0)  # the same, in the logs, in the regions read
    gaps: tuple[Gap, ...] = ()
    delivery_failures: tuple[tuple[str, date, str, int], ...] = ()  # (region, day, metric, count)
    unlogged_regions: tuple[tuple[str, int], ...] = ()  # regions with calls and no logs: (region, invocations)
    # (model, tier, tier calls, all the model's calls, what pricing that share of its logged tokens at the tier's
    # rates changes the estimate by: None where the rates are unknown)
    tiers: tuple[tuple[str, str, int, int, Decimal | None], ...] = ()
    mantle: tuple[tuple[str, str, int, int, int], ...] = ()  # (region, model, inferences, input, output tokens)
    notes: tuple[str, ...] = ()  # why part of it could not be read

    @property
    def share(self) -> float | None:
        """The share of counted invocations the logs hold (None when Bedrock counted none)."""
        return min(self.logged[0], self.counted[0]) / self.counted[0] if self.counted[0] else None


def _split(model_id: str) -> tuple[str, str]:
    """`anthropic.x+flex` -> (`anthropic.x`, `flex`); an id with no tier suffix is the default tier."""
    base, plus, tier = model_id.rpartition("+")
    return (base, tier) if plus and tier in TIERS else (model_id, "")


def compare(
    metrics: Metrics,
    logged: Mapping[tuple[str, date, str], list[int]],
    window: Window,
    models: Mapping[str, str],
    book: PriceBook | None = None,
) -> Coverage:
    """The window's complete UTC days of metrics beside the logs; with `book`, what the tiers' calls change."""
    span = complete_days(window)
    if span is None:
        return Coverage(None, None, notes=tuple(metrics.problems))
    first, last = span
    counted: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    tiers: dict[tuple[str, date, str, str], int] = defaultdict(int)
    delivery: list[tuple[str, date, str, int]] = []
    mantle: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    model_of = _namer(models)
    for (region, day), counts in metrics.days.items():
        if not first <= day <= last:
            continue
        for model_id, values in counts.models.items():
            base, tier = _split(model_id)
            model = model_of(base)
            for i, v in enumerate(values):
                counted[(region, day, model)][i] += v
            tiers[(region, day, model, tier)] += values[0]
        delivery += [(region, day, name, n) for name, n in counts.delivery.items() if n]
        for model, values in counts.mantle.items():
            for i, v in enumerate(values):
                mantle[(region, model)][i] += v
    regions = {region for region, _, _ in counted}
    in_logs = {k: v for k, v in logged.items() if first <= k[1] <= last and k[0] in regions}
    total_counted = [sum(v[i] for v in counted.values()) for i in range(3)]
    total_logged = [sum(v[i] for v in in_logs.values()) for i in range(3)]
    gaps = [Gap(region, model, day, c[0], in_logs.get((region, day, model), [0])[0])
            for (region, day, model), c in counted.items()
            if c[0] and in_logs.get((region, day, model), [0])[0] < THRESHOLD * c[0]]  # fmt: skip
    by_region: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (region, _, _), c in counted.items():
        by_region[region][0] += c[0]
    for (region, _, _), held in in_logs.items():
        by_region[region][1] += held[0]
    return Coverage(
        first, last, (total_counted[0], total_counted[1], total_counted[2]),
        (total_logged[0], total_logged[1], total_logged[2]),
        tuple(sorted(gaps, key=lambda g: (g.logged - g.counted, g.day, g.region, g.model))),
        tuple(sorted(delivery)),
        tuple(sorted((r, c) for r, (c, logs) in by_region.items() if c and not logs)),
        _tiers(tiers, counted, in_logs, book),
        tuple(sorted((r, m, v[0], v[1], v[2]) for (r, m), v in mantle.items() if any(v))),
        tuple(metrics.problems),
    )  # fmt: skip


def _tiers(
    calls: Mapping[tuple[str, date, str, str], int],
    counted: Mapping[tuple[str, date, str], list[int]],
    logged: Mapping[tuple[str, date, str], list[int]],
    book: PriceBook | None,
) -> tuple[tuple[str, str, int, int, Decimal | None], ...]:
    """Per model and tier: its calls, all the model's calls, and the change from pricing that share of the model's
    logged tokens each day at the tier's rates instead of the standard ones (in-region prices of the region)."""
    found: dict[tuple[str, str], list[Any]] = {}
    every: dict[str, int] = defaultdict(int)
    for (_, _, model), c in counted.items():
        every[model] += c[0]
    for (region, day, model, tier), n in sorted(calls.items()):
        if not tier or not n:
            continue
        seen = found.setdefault((model, tier), [0, Decimal(0)])
        seen[0] += n
        standard = book.lookup(model, IN_REGION, day, "", region) if book else None
        rates = book.tier_price(model, tier, region, day) if book else None
        if seen[1] is None or standard is None or rates is None:
            seen[1] = None
            continue
        tokens = logged.get((region, day, model), [0, 0, 0, 0, 0])[1:]
        fields = ("input", "output", "cache_read", "cache_write")
        change = sum((t * ((getattr(rates, f) if getattr(rates, f) is not None else mine) - mine)
                      for t, f in zip(tokens, fields, strict=True) if (mine := getattr(standard, f)) is not None),
                     Decimal(0))  # fmt: skip
        seen[1] += change * n / counted[(region, day, model)][0] / 1_000_000
    return tuple(sorted((m, t, n, every[m], change) for (m, t), (n, change) in found.items()))


def line(cov: Coverage, key: str) -> str:
    """The build summary's one line about a window's coverage."""
    if cov.share is None:
        return "; ".join(cov.notes)
    parts = [f"logs cover {cov.share:.1%} of the {cov.counted[0]:,} invocations Bedrock counted ({key})"]
    if cov.gaps:
        worst = cov.gaps[0]
        parts.append(f"{len(cov.gaps)} region-model-days under {THRESHOLD:.0%} (worst: {worst.region} "
                     f"{worst.model} {worst.day}: {worst.logged:,} of {worst.counted:,})")  # fmt: skip
    if cov.unlogged_regions:
        parts.append("calls in regions with no logs read: "
                     + ", ".join(f"{r} ({n:,})" for r, n in cov.unlogged_regions))  # fmt: skip
    if cov.delivery_failures:
        parts.append(f"log delivery failed {sum(n for *_, n in cov.delivery_failures):,} times")
    if cov.mantle:
        parts.append(f"{sum(m[2] for m in cov.mantle):,} bedrock-mantle calls, which no log holds")
    return "; ".join([*parts, *cov.notes])


def mantle_cost(
    book: PriceBook, region: str, model: str, day: date, input_tokens: int, output_tokens: int
) -> Decimal | None:
    """An estimate of mantle tokens at the model's in-region token price in that region (None: no such price)."""
    ref = parse_model_id(model)
    quote = book.quote(ref.model, IN_REGION, day, "", region)
    if quote is None or quote.price.unit != "token" or quote.price.input is None or quote.price.output is None:
        return None
    return (input_tokens * quote.price.input + output_tokens * quote.price.output) / 1_000_000
