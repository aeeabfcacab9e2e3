"""The demo's own AWS answers: Bedrock's CloudWatch counts and a bill, made from the demo's logs with the holes a
real account has, so the demo shows log coverage and the reconciliation without an AWS account.

The holes: eu-west-1 logged only 80% of two days' calls (and says so in a delivery-failure count), ap-southeast-2
never logged at all, a tenth of Nova Pro's calls ran on the flex tier, 2% of the calls went through bedrock-mantle,
and a provisioned model unit is billed by the hour. Deterministic: the same rows give the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal

from generator.pricing import PriceBook
from generator.pricing.cost import utc_day
from generator.reconcile.billing import Bill, Billed
from generator.reconcile.coverage import DayCounts, Metrics, mantle_cost
from generator.usage import HourlyRow

LATE_REGION, UNLOGGED_REGION, MANTLE_MODEL = "eu-west-1", "ap-southeast-2", "openai.gpt-oss-120b"
FLEX_MODEL = "eu.amazon.nova-pro-v1:0"
PROVISIONED_PER_DAY = Decimal("2.40")  # one model unit at $0.10 an hour


def metrics(rows: Iterable[HourlyRow], days: list[date]) -> Metrics:
    """What CloudWatch would count for the demo's calls over `days` (each UTC day's sums), holes included."""
    found = Metrics(days={(region, day): DayCounts() for region in ("us-east-1", LATE_REGION, UNLOGGED_REGION)
                          for day in days})  # fmt: skip
    for r in rows:
        counts = found.days.get((r.region or "us-east-1", utc_day(r.hour)))
        if counts is not None:
            seen = counts.models.setdefault(r.model_id, [0, 0, 0])
            seen[0] += r.invocations
            seen[1] += r.input_tokens
            seen[2] += r.output_tokens
    late = set(days[-3:-1])  # two days before the last whose logs hold only 80% of the calls
    for (region, day), counts in found.days.items():
        calls = sum(v[0] for v in counts.models.values())
        if region == "us-east-1" and calls:
            n = round(calls * 0.02 / 0.98)  # mantle: 2% of all calls
            counts.mantle[MANTLE_MODEL] = [n, 30_000 * n, 3_000 * n]
        if region == LATE_REGION and day in late:
            missing = 0
            for values in counts.models.values():
                extra = values[0] // 4  # the logs hold 80% of what Bedrock counted
                values[0] += extra
                missing += extra
            counts.delivery["ModelInvocationLogsCloudWatchDeliveryFailure"] = missing
        if region == LATE_REGION and FLEX_MODEL in counts.models:
            standard = counts.models[FLEX_MODEL]
            flex = (standard[0] + 9) // 10  # a tenth, rounded up
            counts.models[f"{FLEX_MODEL}+flex"] = [flex, 0, 0]
            standard[0] -= flex
        if region == UNLOGGED_REGION and day.weekday() < 5:
            counts.models["apac.anthropic.claude-sonnet-4-20250514-v1:0"] = [40, 120_000, 24_000]
    return found


def bill(kind_spend: Mapping[tuple[date, str], Decimal], first: date, last: date, book: PriceBook,
         counted: Metrics) -> Bill:  # fmt: skip
    """A Cost Explorer bill for the demo's days: the estimate of each token kind rounded to the cent, the
    provisioned model unit by the day, and the mantle calls at their price."""
    charges: list[Billed] = []
    for (on, kind), cost in sorted(kind_spend.items()):
        if first <= on <= last and kind != "estimated per unit":
            charges.append(Billed(on, "Amazon Bedrock", cost.quantize(Decimal("0.01")), f"USE1-{kind}", kind))
    day = first
    while day <= last:
        charges.append(Billed(day, "Amazon Bedrock", PROVISIONED_PER_DAY, "USE1-ProvisionedThroughput-ModelUnits",
                              "provisioned"))  # fmt: skip
        mantle = counted.days.get(("us-east-1", day), DayCounts()).mantle.get(MANTLE_MODEL)
        priced = mantle_cost(book, "us-east-1", MANTLE_MODEL, day, mantle[1], mantle[2]) if mantle else None
        if priced:
            charges.append(Billed(day, "Amazon Bedrock", priced.quantize(Decimal("0.01")), "USE1-mantle-input-tokens",
                                  "mantle"))  # fmt: skip
        day += timedelta(days=1)
    return Bill(tuple(charges))
