"""Reconcile the estimate with the AWS bill: Cost Explorer's (or the CUR's) daily Bedrock charges.

Owns reading `ce:GetCostAndUsage` (by service and usage type), naming each usage type's kind (the token kinds
the logs estimate, and what they never show: provisioned throughput, batch, mantle, service tiers, adjustments),
matching billed services to models, and giving each person their bill: the charges of their own principals
where the CUR names them, else each day's charge shared in proportion to their estimated cost for those models.
Takes a client; without permission it degrades to estimate-only with a note, never a failure.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

from generator.aws import AWS_ERRORS, is_denied, reason
from generator.modelids import ModelRef, parse_model_id
from generator.pricing import PriceBook, name_key
from generator.pricing.cost import cost_of, utc_day
from generator.usage import HourlyRow, Window, row_of, usage_counts

GENERIC = "Amazon Bedrock"  # Amazon's own and most open-weight models are billed under this service
_EDITION = re.compile(r"^(?P<name>.+?)\s*\(Amazon Bedrock Edition\)$", re.IGNORECASE)


# A usage type's kind, by what its name says, first match wins: `USE1-Claude4Sonnet-input-tokens`,
# `USE1-...-cache-read-input-token-count`, `USE1-mantle-input-tokens-...`, `USE1-...-ProvisionedThroughput...`
KINDS: tuple[tuple[str, str], ...] = (
    ("mantle", "mantle"), ("provisioned", "provisioned"), ("modelunit", "provisioned"), ("commitment", "provisioned"),
    ("batch", "batch"), ("priority", "priority"), ("flex", "flex"), ("cache-read", "cache_read"),
    ("cacheread", "cache_read"), ("cache-write", "cache_write"), ("cachewrite", "cache_write"),
    ("input", "input"), ("output", "output"),
)  # fmt: skip
LOGGED_KINDS = ("input", "output", "cache_read", "cache_write")  # what an estimate from the logs can hold
KIND_LABELS = {
    "input": "input tokens", "output": "output tokens", "cache_read": "cache read tokens",
    "cache_write": "cache write tokens", "provisioned": "provisioned throughput", "batch": "batch",
    "mantle": "mantle", "priority": "priority tier", "flex": "flex tier", "other": "other Bedrock lines",
    "adjustment": "credits, refunds and tax", "estimated per unit": "images and other per-unit calls",
}  # fmt: skip
USAGE_LINES = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "")  # other line types are adjustments
NO_PRINCIPAL = "(no principal in the bill)"


def kind_of(usage_type: str, line_type: str = "Usage") -> str:
    """The kind of a Bedrock charge: a token kind the logs estimate, or one they never show."""
    if line_type not in USAGE_LINES:
        return "adjustment"  # credits, refunds, taxes, fees
    text = usage_type.lower()
    return next((kind for needle, kind in KINDS if needle in text), "other")


@dataclass(frozen=True)
class Billed:
    """One charge on one UTC day: a service's (Cost Explorer) or a line item's (the CUR)."""

    day: date
    service: str
    amount: Decimal
    usage_type: str = ""
    kind: str = ""  # see kind_of ("" when the bill does not say: all of it is compared with the estimate)
    principal: str = ""  # the IAM principal the CUR bills it to ("" when it does not say)


@dataclass(frozen=True)
class Bill:
    """What the bill said, or why it could not say it."""

    charges: tuple[Billed, ...]
    note: str = ""  # set when the bill is missing; pages then show the estimate only
    source: str = "cost-explorer"  # or cur


@dataclass(frozen=True)
class Line:
    """Billed next to estimated dollars for a person, a service or a day."""

    name: str
    billed: Decimal
    estimated: Decimal

    @property
    def difference(self) -> Decimal:
        return self.billed - self.estimated


@dataclass(frozen=True)
class Reconciliation:
    """A window's estimate against its bill, over the complete UTC days inside the window."""

    first_day: date | None
    last_day: date | None
    note: str
    services: tuple[Line, ...]
    people: tuple[Line, ...]
    days: tuple[Line, ...]
    unallocated: Decimal  # billed where the logs show no priced usage of the service's models
    source: str = "cost-explorer"
    kinds: tuple[Line, ...] = ()  # billed and estimated by kind (the kinds the logs never show: estimated 0)
    day_kinds: tuple[tuple[date, Line], ...] = ()  # the same by UTC day, in day order
    by_principal: bool = False  # people's bills are their own principals' charges, not shares of the day's

    @property
    def not_in_logs(self) -> tuple[Line, ...]:
        """The billed kinds no invocation log shows, largest first."""
        return tuple(k for k in self.kinds if k.name not in LOGGED_KINDS and k.billed)

    @property
    def off_by(self) -> float | None:
        """How far the estimate is from the bill on the kinds the logs show (None: nothing estimated)."""
        logged = [k for k in self.kinds if k.name in LOGGED_KINDS]
        estimated = sum((k.estimated for k in logged), Decimal(0))
        billed = sum((k.billed for k in logged), Decimal(0))
        return float((estimated - billed) / billed) if billed else None


def fetch_bill(client: Any, start: date, end: date) -> Bill:
    """Read daily Bedrock charges per service for [start, end); a denial becomes a note."""
    charges: list[Billed] = []
    token = None
    try:
        while True:
            kwargs: dict[str, Any] = {
                "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                "Granularity": "DAILY",
                "Metrics": ["UnblendedCost"],
                "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            }
            if token:
                kwargs["NextPageToken"] = token
            page = client.get_cost_and_usage(**kwargs)
            for result in page.get("ResultsByTime", []):
                day = date.fromisoformat(result["TimePeriod"]["Start"])
                for group in result.get("Groups", []):
                    service, usage = (*group["Keys"], "")[:2]
                    if "bedrock" in service.lower():
                        amount = Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
                        charges.append(Billed(day, service, amount, usage, kind_of(usage) if usage else ""))
            token = page.get("NextPageToken")
            if not token:
                break
    except AWS_ERRORS as exc:
        why = "no permission for ce:GetCostAndUsage" if is_denied(exc) else f"Cost Explorer failed ({reason(exc)})"
        return Bill((), f"{why}; showing the estimate only")
    return Bill(tuple(charges))


def service_of(model: str, services: Iterable[str], book: PriceBook) -> str:
    """Return the billed service a base model's usage appears under."""
    wanted = name_key(book.name_of(model))
    for service in services:
        match = _EDITION.match(service)
        if match and name_key(match["name"]) == wanted:
            return service
    return GENERIC


def complete_days(window: Window) -> tuple[date, date] | None:
    """The first and last UTC days wholly inside the window (Cost Explorer bills by UTC day)."""
    start = window.start.astimezone(UTC)
    first = start.date() if start.hour == 0 else start.date() + timedelta(days=1)
    last = window.end.astimezone(UTC).date() - timedelta(days=1)
    return (first, last) if first <= last else None


def reconcile(
    spend: Mapping[tuple[date, str, str], Decimal],
    window: Window,
    bill: Bill,
    book: PriceBook,
    kind_spend: Mapping[tuple[date, str], Decimal] | None = None,
    person_of: Callable[[str], str] | None = None,
) -> Reconciliation:
    """Put billed next to estimated dollars, by service, kind, day and person (`spend`: estimated cost by UTC day,
    model and person, as the day cube keeps it; `kind_spend`: by UTC day and kind). A person's bill is their own
    principals' charges where the bill names principals (`person_of` maps one to its person), else each day's
    charge for a service shared among people by their estimated cost for its models."""
    span = complete_days(window)
    if span is None or bill.note:
        note = bill.note or "no complete UTC day in this window to compare"
        return Reconciliation(None, None, note, (), (), (), Decimal(0), bill.source)
    first, last = span
    services = {c.service for c in bill.charges}
    estimate: dict[tuple[date, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    service_for: dict[str, str] = {}
    for (day, model, person), cost in spend.items():
        if first <= day <= last:
            service = service_for.get(model) or service_for.setdefault(model, service_of(model, services, book))
            estimate[(day, service)][person] += cost
    charges = [c for c in bill.charges if first <= c.day <= last]
    billed_by: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for c in charges:
        billed_by[(c.day, c.service)] += c.amount
    people: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    per_service: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    per_day: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    unallocated = Decimal(0)
    for key in sorted(set(estimate) | set(billed_by)):
        day, service = key
        shares, billed = estimate.get(key, {}), billed_by.get(key, Decimal(0))
        estimated = sum(shares.values(), Decimal(0))
        for target in (per_service[service], per_day[day.isoformat()]):
            target[0] += billed
            target[1] += estimated
        if estimated == 0:
            unallocated += billed
        for person, cost in shares.items():
            people[person][0] += billed * cost / estimated
            people[person][1] += cost
    by_principal = person_of is not None and any(c.principal for c in charges)
    if by_principal:
        assert person_of is not None
        own: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for person, (_, estimated) in people.items():
            own[person][1] = estimated
        for c in charges:
            own[person_of(c.principal) if c.principal else NO_PRINCIPAL][0] += c.amount
        people = own
    by_day: dict[tuple[date, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for c in charges:
        if c.kind:
            by_day[(c.day, c.kind)][0] += c.amount
    if by_day:  # the estimate by kind only beside a bill that says its kinds
        for (day, kind), cost in (kind_spend or {}).items():
            if first <= day <= last:
                by_day[(day, kind)][1] += cost
    kinds: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for (_, kind), (billed, estimated) in by_day.items():
        kinds[kind][0] += billed
        kinds[kind][1] += estimated
    day_kinds = tuple((day, Line(kind, b, e)) for (day, kind), (b, e) in sorted(by_day.items()))
    return Reconciliation(
        first, last, "", _lines(per_service), _lines(people), _lines(per_day, by_name=True), unallocated,
        bill.source, _lines(kinds), day_kinds, by_principal,
    )  # fmt: skip


def _lines(table: dict[str, list[Decimal]], by_name: bool = False) -> tuple[Line, ...]:
    lines = [Line(name, billed, estimated) for name, (billed, estimated) in table.items()]
    lines.sort(key=(lambda x: x.name) if by_name else (lambda x: (-x.billed, -x.estimated, x.name)))
    return tuple(lines)


def spend_by_kind(
    rows: Iterable[HourlyRow], book: PriceBook, models: Mapping[str, str]
) -> dict[tuple[date, str], Decimal]:
    """The estimate by UTC day and kind: each token kind at its price, per-unit calls apart (sums of rows first,
    then priced: cost is linear in tokens, so the sums are exact)."""
    sums: dict[tuple[int, str, str, int], list[int]] = defaultdict(lambda: [0] * 6)
    for r in rows:
        acc = sums[(r.hour - r.hour % 86400, r.model_id, r.region, r.prompt_over)]
        for i, value in enumerate(usage_counts(r)):
            acc[i] += value
    out: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    refs: dict[str, ModelRef] = {}
    for (hour, model_id, region, over), counts in sums.items():
        ref = refs.get(model_id) or refs.setdefault(model_id, parse_model_id(model_id, models))
        whole = row_of(hour, "", model_id, counts, region, over)
        day = utc_day(hour)
        by_kind = Decimal(0)
        calls_only = [counts[0], counts[1], 0, 0, 0, 0]
        # a model billed per unit (an image a call) costs something with no tokens: all of it goes below
        if not cost_of(row_of(hour, "", model_id, calls_only, region, over), ref, book).cost:
            for i, kind in enumerate(LOGGED_KINDS, start=2):  # the four token counts follow calls and errors
                alone = list(calls_only)
                alone[i] = counts[i]
                cost = cost_of(row_of(hour, "", model_id, alone, region, over), ref, book).cost
                out[(day, kind)] += cost
                by_kind += cost
        rest = cost_of(whole, ref, book).cost - by_kind
        if rest:
            out[(day, "estimated per unit")] += rest
    return dict(out)
