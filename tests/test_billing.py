"""Reconciliation with Cost Explorer: pure allocation cases and the build against a recorded response."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from generator import aws
from generator.cli import cli
from generator.identity import IdentityAudit
from generator.pricing import PriceBook, load_book, parse_prices
from generator.pricing.cost import Pricer
from generator.reconcile.billing import Bill, Billed, complete_days, reconcile, service_of
from generator.site.cube import DayCube
from generator.usage import HourlyRow, Window
from tests.conftest import NOW_ISO

BOOK = load_book()
SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-lite-v1:0"
DAY = date(2026, 11, 20)
WINDOW = Window("7d", datetime(2026, 11, 20, 7, tzinfo=UTC), datetime(2026, 11, 27, 7, tzinfo=UTC))
SONNET_SERVICE = "Claude Sonnet 4.5 (Amazon Bedrock Edition)"


# A dollar per million input tokens: a row's cost is its input tokens over a million.
DOLLAR = PriceBook(parse_prices([{"model": m, "input": 1, "output": 0} for m in (SONNET, NOVA)], "test"))


def spend(rows: list[HourlyRow]) -> Any:
    """Cost by UTC day, model and person, as the build's day cube keeps it for the bill."""
    people = {r.principal: IdentityAudit(r.principal, r.principal, "test") for r in rows}
    return DayCube((), ZoneInfo("UTC"), spend=True).add_all(rows, Pricer(DOLLAR, people, {})).spend


def row(person: str, model: str, cost: str, day: date = date(2026, 11, 21)) -> HourlyRow:
    """One call on `day` that costs `cost` dollars."""
    hour = int(datetime(day.year, day.month, day.day, 10, tzinfo=UTC).timestamp())
    return HourlyRow(hour, person, model, 1, 0, int(Decimal(cost) * 1_000_000), 1, 0, 0)


def test_complete_utc_days() -> None:
    assert complete_days(WINDOW) == (date(2026, 11, 21), date(2026, 11, 26))
    midnight = Window("x", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))
    assert complete_days(midnight) == (date(2026, 11, 20), date(2026, 11, 21))
    short = Window("1d", datetime(2026, 11, 26, 7, tzinfo=UTC), datetime(2026, 11, 27, 7, tzinfo=UTC))
    assert complete_days(short) is None


def test_service_matching() -> None:
    services = [SONNET_SERVICE, "Amazon Bedrock"]
    assert service_of(SONNET, services, BOOK) == SONNET_SERVICE
    assert service_of(NOVA, services, BOOK) == "Amazon Bedrock"


def test_the_spend_is_a_mapping_by_day_model_and_person() -> None:
    found = spend([row("ann", SONNET, "3"), row("ann", SONNET, "1"), row("bob", NOVA, "0.5", date(2026, 11, 22))])
    day = date(2026, 11, 21)
    assert dict(found.items()) == {(day, SONNET, "ann"): Decimal(4), (date(2026, 11, 22), NOVA, "bob"): Decimal("0.5")}
    assert found[(day, SONNET, "ann")] == Decimal(4) and (day, NOVA, "ann") not in found
    with pytest.raises(KeyError):
        found[(day, NOVA, "bob")]


def test_bill_is_shared_by_estimated_cost_not_invocations() -> None:
    costed = [row("ann", SONNET, "3"), row("bob", SONNET, "1"), row("bob", SONNET, "0"), row("cy", NOVA, "0.5")]
    bill = Bill((
        Billed(date(2026, 11, 21), SONNET_SERVICE, Decimal("8")),
        Billed(date(2026, 11, 21), "Amazon Bedrock", Decimal("0.4")),
        Billed(date(2026, 11, 22), "Amazon Bedrock", Decimal("1")),  # no usage that day
        Billed(date(2026, 11, 27), SONNET_SERVICE, Decimal("99")),  # outside the complete days
    ))  # fmt: skip
    rec = reconcile(spend(costed), WINDOW, bill, BOOK)
    people = {p.name: (p.billed, p.estimated) for p in rec.people}
    assert people == {"ann": (6, 3), "bob": (2, 1), "cy": (Decimal("0.4"), Decimal("0.5"))}
    services = {s.name: (s.billed, s.estimated) for s in rec.services}
    assert services == {SONNET_SERVICE: (8, 4), "Amazon Bedrock": (Decimal("1.4"), Decimal("0.5"))}
    assert rec.unallocated == 1
    assert [d.name for d in rec.days] == ["2026-11-21", "2026-11-22"]


def test_missing_bill_degrades_to_a_note() -> None:
    rec = reconcile(spend([row("ann", SONNET, "3")]), WINDOW, Bill((), "no permission"), BOOK)
    assert rec.note == "no permission" and rec.people == ()


def ce_response(days: list[str]) -> dict[str, Any]:
    return {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": d, "End": d},
                "Total": {},
                "Groups": [
                    {
                        "Keys": [SONNET_SERVICE, "USE1-Claude4.5Sonnet-input-tokens"],
                        "Metrics": {"UnblendedCost": {"Amount": "5.00", "Unit": "USD"}},
                    },
                    {
                        "Keys": [SONNET_SERVICE, "USE1-Claude4.5Sonnet-output-tokens-priority"],
                        "Metrics": {"UnblendedCost": {"Amount": "0.25", "Unit": "USD"}},
                    },
                    {
                        "Keys": ["Amazon Bedrock", "USE1-ProvisionedThroughput-ModelUnits"],
                        "Metrics": {"UnblendedCost": {"Amount": "0.10", "Unit": "USD"}},
                    },
                    {
                        "Keys": ["Amazon Simple Storage Service", "USE1-TimedStorage-ByteHrs"],
                        "Metrics": {"UnblendedCost": {"Amount": "3", "Unit": "USD"}},
                    },
                ],
                "Estimated": False,
            }
            for d in days
        ],
        "DimensionValueAttributes": [],
    }


def test_build_with_cost_explorer(stubbed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, stubber = stubbed("ce")
    first, last = date(2026, 8, 30), date(2026, 11, 26)  # the 90-day window's complete UTC days
    all_days = [date.fromordinal(d).isoformat() for d in range(first.toordinal(), last.toordinal() + 1)]
    period = {"Start": first.isoformat(), "End": "2026-11-27"}
    groups = [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
    base = {"TimePeriod": period, "Granularity": "DAILY", "Metrics": ["UnblendedCost"], "GroupBy": groups}
    stubber.add_response("get_cost_and_usage", {**ce_response(all_days[:40]), "NextPageToken": "p2"}, base)
    stubber.add_response("get_cost_and_usage", ce_response(all_days[40:]), {**base, "NextPageToken": "p2"})
    monkeypatch.setattr(aws, "client", lambda *a, **k: client)
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["build", "--out", str(out), "--now", NOW_ISO, "--cost-explorer"])
    assert result.exit_code == 0, result.output
    bill = json.loads((out / "data/usage-7d.json").read_text())["billing"]
    assert (bill["first_day"], bill["last_day"], bill["note"]) == ("2026-11-21", "2026-11-26", "")
    services = {s["name"]: s for s in bill["services"]}
    assert services[SONNET_SERVICE]["billed_usd"] == pytest.approx(6 * 5.25)
    assert "Amazon Simple Storage Service" not in services
    assert sum(p["billed_usd"] for p in bill["people"]) + bill["unallocated_usd"] == pytest.approx(6 * 5.35)
    # by usage type: what the logs never show is named, with its amount
    kinds = {k["name"]: k["billed_usd"] for k in bill["kinds"] if k["billed_usd"]}
    assert kinds == pytest.approx({"input": 30.0, "priority": 1.5, "provisioned": 0.6})
    assert bill["not_in_logs"] == [{"kind": "priority", "billed_usd": 1.5}, {"kind": "provisioned", "billed_usd": 0.6}]
    assert bill["not_in_logs_usd"] == pytest.approx(2.1) and bill["source"] == "cost-explorer"
    page = (out / "usage-7d.html").read_text()
    assert "Estimate and AWS bill" in page and "Billed, not in logs: <strong>$2.10</strong>" in page


def test_build_without_permission_still_builds(stubbed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, stubber = stubbed("ce")
    stubber.add_client_error("get_cost_and_usage", "AccessDeniedException", "not allowed", 400)
    monkeypatch.setattr(aws, "client", lambda *a, **k: client)
    out = tmp_path / "site"
    result = CliRunner().invoke(
        cli, ["build", "--out", str(out), "--now", NOW_ISO, "--cost-explorer", "--windows", "7d"]
    )
    assert result.exit_code == 0, result.output
    assert "Cost Explorer: no permission for ce:GetCostAndUsage; showing the estimate only" in result.output
    assert "no permission for ce:GetCostAndUsage" in (out / "usage-7d.html").read_text()
