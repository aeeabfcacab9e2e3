"""Reconcile the estimate with the AWS bill: Cost Explorer's daily Bedrock charges per service.

Owns reading `ce:GetCostAndUsage`, matching billed services to models, and allocating each
billed amount to people in proportion to their estimated cost for those models that day. Takes a
client; without permission it degrades to estimate-only with a note, never a failure.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

from generator.aws import AWS_ERRORS, is_denied, reason
from generator.pricing import PriceBook, name_key
from generator.usage import Window

GENERIC = "Amazon Bedrock"  # Amazon's own and most open-weight models are billed under this service
_EDITION = re.compile(r"^(?P<name>.+?)\s*\(Amazon Bedrock Edition\)$", re.IGNORECASE)


@dataclass(frozen=True)
class Billed:
    """One service's charge on one UTC day."""

    day: date
    service: str
    amount: Decimal


@dataclass(frozen=True)
class Bill:
    """What Cost Explorer said, or why it could not say it."""

    charges: tuple[Billed, ...]
    note: str = ""  # set when the bill is missing; pages then show the estimate only


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
                "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
            }
            if token:
                kwargs["NextPageToken"] = token
            page = client.get_cost_and_usage(**kwargs)
            for result in page.get("ResultsByTime", []):
                day = date.fromisoformat(result["TimePeriod"]["Start"])
                for group in result.get("Groups", []):
                    service = group["Keys"][0]
                    if "bedrock" in service.lower():
                        amount = Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
                        charges.append(Billed(day, service, amount))
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
    spend: Mapping[tuple[date, str, str], Decimal], window: Window, bill: Bill, book: PriceBook
) -> Reconciliation:
    """Put billed next to estimated dollars and allocate each day's bill to people by estimated cost
    (`spend`: estimated cost by UTC day, model and person, as the day cube keeps it)."""
    span = complete_days(window)
    if span is None or bill.note:
        note = bill.note or "no complete UTC day in this window to compare"
        return Reconciliation(None, None, note, (), (), (), Decimal(0))
    first, last = span
    services = {c.service for c in bill.charges}
    estimate: dict[tuple[date, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    service_for: dict[str, str] = {}
    for (day, model, person), cost in spend.items():
        if first <= day <= last:
            service = service_for.get(model) or service_for.setdefault(model, service_of(model, services, book))
            estimate[(day, service)][person] += cost
    billed_by: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for c in bill.charges:
        if first <= c.day <= last:
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
    return Reconciliation(
        first, last, "", _lines(per_service), _lines(people), _lines(per_day, by_name=True), unallocated
    )


def _lines(table: dict[str, list[Decimal]], by_name: bool = False) -> tuple[Line, ...]:
    lines = [Line(name, billed, estimated) for name, (billed, estimated) in table.items()]
    lines.sort(key=(lambda x: x.name) if by_name else (lambda x: (-x.billed, -x.estimated, x.name)))
    return tuple(lines)
