"""Log coverage: the logs beside Bedrock's own CloudWatch counts, end to end against moto's CloudWatch (a region
whose logging was off for three days, a region with no logs at all, a delivery failure, mantle calls, flex calls),
the store of settled days, denied regions, application-profile and tier ModelIds, and the settings."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from generator.build import build
from generator.config import ConfigError
from generator.reconcile import coverage
from generator.state import LocalStore
from generator.usage import HourlyRow, Window
from tests.test_sources import lines, record

NOW = "2026-11-27T07:30:00+00:00"
DAYS = [date(2026, 11, 21) + timedelta(days=i) for i in range(6)]  # the 7d window's complete UTC days
PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
MANTLE = {"Model": "openai.gpt-oss-120b", "Project": "proj_1"}
FAILED = "ModelInvocationLogsCloudWatchDeliveryFailure"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"


def put(region: str, namespace: str, name: str, dims: dict[str, str], day: date, value: float) -> None:
    cw = boto3.client("cloudwatch", region_name=region)
    stamp = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    cw.put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()], "Timestamp": stamp,
        "Value": value}])  # fmt: skip


def calls(region: str, model: str, day: date, n: int) -> list[dict[str, object]]:
    return [record(f"u{i % 3}", f"{day.isoformat()}T10:{i % 60:02d}:00Z", region=region, modelId=model)
            for i in range(n)]  # fmt: skip


def org(logs: Path) -> None:
    """us-east-1 logged in full (with 10% of Nova Pro on flex), eu-west-1 logged only three of six days (and one
    delivery failure), ap-northeast-1 never logged, and mantle calls (2% of all) in us-east-1."""
    found = []
    for day in DAYS:
        found += calls("us-east-1", "amazon.nova-lite-v1:0", day, 100)
        found += calls("us-east-1", "amazon.nova-pro-v1:0", day, 50)
        put("us-east-1", "AWS/Bedrock", "Invocations", {"ModelId": "amazon.nova-lite-v1:0"}, day, 100)
        put("us-east-1", "AWS/Bedrock", "InputTokenCount", {"ModelId": "amazon.nova-lite-v1:0"}, day, 1000)
        put("us-east-1", "AWS/Bedrock", "Invocations", {"ModelId": "amazon.nova-pro-v1:0"}, day, 45)
        put("us-east-1", "AWS/Bedrock", "Invocations", {"ModelId": "amazon.nova-pro-v1:0+flex"}, day, 5)
        for name, value in (("Inferences", 4), ("TotalInputTokens", 1000), ("TotalOutputTokens", 500)):
            put("us-east-1", "AWS/BedrockMantle", name, MANTLE, day, value)
        if day < date(2026, 11, 24):
            found += calls("eu-west-1", "eu.amazon.nova-lite-v1:0", day, 40)
        put("eu-west-1", "AWS/Bedrock", "Invocations", {"ModelId": "eu.amazon.nova-lite-v1:0"}, day, 40)
        put("ap-northeast-1", "AWS/Bedrock", "Invocations", {"ModelId": "apac.amazon.nova-lite-v1:0"}, day, 10)
    put("eu-west-1", "AWS/Bedrock", FAILED, {}, date(2026, 11, 24), 3)
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "calls.jsonl").write_bytes(lines(*found))


def test_the_site_names_each_hole_with_its_amount(tmp_path: Path, make_settings: Any) -> None:
    with mock_aws():
        org(tmp_path / "logs")
        regions = {"COVERAGE_REGIONS": "us-east-1,eu-west-1,ap-northeast-1"}
        settings = make_settings(regions, source="files", logs=(str(tmp_path / "logs"),), out=tmp_path / "site",
                                 now=NOW, coverage=True)  # fmt: skip
        result = build(settings)
    cov = json.loads((tmp_path / "site/data/usage-7d.json").read_text())["coverage"]
    # by hand: Bedrock counted 6 x (100 + 50 + 40 + 10) = 1,200 calls; the logs hold 6 x 150 + 3 x 40 = 1,020
    assert (cov["first_day"], cov["last_day"]) == ("2026-11-21", "2026-11-26")
    assert cov["invocations"] == {"counted": 1200, "logged": 1020} and cov["share"] == 0.85
    gaps = {(g["region"], g["day"]): (g["logged"], g["counted"]) for g in cov["gaps"]}
    assert {d for r, d in gaps if r == "eu-west-1"} == {"2026-11-24", "2026-11-25", "2026-11-26"}
    assert gaps[("eu-west-1", "2026-11-25")] == (0, 40) and len(gaps) == 3 + 6
    assert cov["unlogged_regions"] == [{"region": "ap-northeast-1", "invocations": 60}]
    failed = {"region": "eu-west-1", "day": "2026-11-24", "metric": FAILED, "count": 3}
    assert cov["delivery_failures"] == [failed]
    # flex: 5 of Nova Pro's 50 calls a day; its logged tokens (50 x 10 input, 5 output, 2 cache read) at LiteLLM's
    # flex rates (0.4 / 1.6 / 0.1 against 0.8 / 3.2 / 0.2): 6 days x 0.1 x -610 / 1M
    flex = {
        "model": "amazon.nova-pro-v1:0",
        "tier": "flex",
        "invocations": 30,
        "share": 0.1,
        "adjustment_usd": -0.000366,
    }
    assert cov["tiers"] == [flex]
    # mantle: 24 of 1,224 calls (2%); 6,000 input and 3,000 output tokens at gpt-oss-120b's 0.15 / 0.60 per 1M
    assert cov["mantle"] == [{"region": "us-east-1", "model": "openai.gpt-oss-120b", "invocations": 24,
                              "input_tokens": 6000, "output_tokens": 3000, "estimated_usd": 0.0027}]  # fmt: skip
    assert cov["notes"] == []
    assert "logs cover 85.0% of the 1,200 invocations Bedrock counted (7d)" in result.summary()
    assert "calls in regions with no logs read: ap-northeast-1 (60)" in result.summary()
    page = (tmp_path / "site/usage-7d.html").read_text()
    assert "Logs cover <strong>85.0%</strong>" in page and "ap-northeast-1 (60)" in page
    assert "openai.gpt-oss-120b in us-east-1 (24 calls, about $0.0027)" in page.replace("&#39;", "'")


class Counting:
    """A CloudWatch client that answers from a table and counts GetMetricData requests."""

    def __init__(self, per_day: dict[date, int]) -> None:
        self.per_day, self.requests = per_day, 0

    def list_metrics(self, Namespace: str, **_: Any) -> dict[str, Any]:
        dims = [{"Name": "ModelId", "Value": "m"}]
        metric = {"Namespace": Namespace, "MetricName": "Invocations", "Dimensions": dims}
        return {"Metrics": [metric] if Namespace == "AWS/Bedrock" else []}

    def get_metric_data(self, StartTime: datetime, EndTime: datetime, **_: Any) -> dict[str, Any]:
        self.requests += 1
        days = [d for d in self.per_day if StartTime.date() <= d < EndTime.date()]
        stamps = [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days]
        return {"MetricDataResults": [{"Id": "m0", "Timestamps": stamps, "Values": [self.per_day[d] for d in days]}]}


def test_settled_days_are_kept_and_never_asked_for_again(tmp_path: Path) -> None:
    store, now = LocalStore(tmp_path), datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
    days = [*DAYS, date(2026, 11, 27)]
    client = Counting({d: 10 + i for i, d in enumerate(days)})
    first = coverage.read(lambda region: client, ["us-east-1"], days, store, now)
    assert client.requests == 1 and first.days[("us-east-1", date(2026, 11, 26))].models == {"m": [15, 0, 0]}
    assert len(list(tmp_path.rglob("*.json"))) == 6  # today is not settled: not kept
    client.per_day[date(2026, 11, 27)] = 99  # today's count grows; settled days would be answered from the store
    again = coverage.read(lambda region: client, ["us-east-1"], days, store, now)
    assert client.requests == 2 and again.days[("us-east-1", date(2026, 11, 27))].models == {"m": [99, 0, 0]}
    assert again.days[("us-east-1", date(2026, 11, 21))].models == {"m": [10, 0, 0]}


class Denied:
    def list_metrics(self, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListMetrics")


def test_a_denied_region_is_one_line_and_the_rest_still_counts() -> None:
    now = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
    client = Counting({d: 5 for d in DAYS})
    found = coverage.read(lambda region: Denied() if region != "us-east-1" else client,
                          ["us-east-1", "eu-west-1", "eu-west-2"], DAYS, None, now)  # fmt: skip
    assert found.problems == [
        "log coverage: reading the AWS/Bedrock metrics was denied in eu-west-1, eu-west-2; grant "
        "cloudwatch:ListMetrics and cloudwatch:GetMetricData, or pass --no-coverage"
    ]
    window = Window("7d", datetime(2026, 11, 20, 7, tzinfo=UTC), datetime(2026, 11, 27, 7, tzinfo=UTC))
    cov = coverage.compare(found, {}, window, {})
    assert cov.counted[0] == 30 and cov.share == 0.0 and cov.notes == tuple(found.problems)


def test_profile_and_tier_model_ids_meet_the_logs_model() -> None:
    """A metric ModelId may be an application profile's ARN, a system profile, or carry a `+priority` tier."""
    day = date(2026, 11, 25)
    found = coverage.Metrics(days={("us-east-1", day): coverage.DayCounts(models={
        PROFILE: [70, 0, 0], f"{PROFILE}+priority": [10, 0, 0], f"us.{HAIKU}": [20, 0, 0],
    })})  # fmt: skip
    hour = int(datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp())
    rows = [HourlyRow(hour, "p", PROFILE, 80, 0, 0, 0, 0, 0, "us-east-1"),
            HourlyRow(hour, "p", HAIKU, 20, 0, 0, 0, 0, 0, "us-east-1")]  # fmt: skip
    models = {PROFILE: HAIKU}
    logged = coverage.logged_counts(rows, models, "us-east-1")
    window = Window("7d", datetime(2026, 11, 20, 7, tzinfo=UTC), datetime(2026, 11, 27, 7, tzinfo=UTC))
    cov = coverage.compare(found, logged, window, models)
    assert cov.counted[0] == cov.logged[0] == 100 and not cov.gaps
    assert cov.tiers == ((HAIKU, "priority", 10, 100, None),)  # no book given: the rates are unknown


def test_coverage_is_on_for_aws_sources_and_off_for_files_unless_asked(make_settings: Any, tmp_path: Path) -> None:
    files = {"source": "files", "logs": (str(tmp_path),)}
    assert not make_settings(**files).coverage
    assert make_settings({"COVERAGE": "on"}, **files).coverage
    assert make_settings(source="cloudwatch", regions=("us-east-1",)).coverage
    assert not make_settings(source="cloudwatch", regions=("us-east-1",), coverage=False).coverage
    with pytest.raises(ConfigError, match="COVERAGE: use auto, on or off"):
        make_settings({"COVERAGE": "maybe"}, **files)
    with pytest.raises(ConfigError, match="COVERAGE_REGIONS: 'mars-1' is not an AWS region"):
        make_settings({"COVERAGE_REGIONS": "us-east-1 mars-1"}, **files)


def test_without_credentials_coverage_says_so_and_the_build_goes_on(
    tmp_path: Path, make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/calls.jsonl").write_bytes(lines(*calls("us-east-1", "amazon.nova-lite-v1:0", DAYS[0], 3)))
    settings = make_settings(source="files", logs=(str(tmp_path / "logs"),), out=tmp_path / "site", now=NOW,
                             coverage=True)  # fmt: skip
    result = build(settings)
    cov = json.loads((tmp_path / "site/data/usage-7d.json").read_text())["coverage"]
    assert cov["share"] is None and "log coverage not read" in cov["notes"][0]
    assert "log coverage not read" in result.summary()
    off = make_settings(source="files", logs=(str(tmp_path / "logs"),), out=tmp_path / "off", now=NOW)
    build(off)
    assert json.loads((tmp_path / "off/data/usage-7d.json").read_text())["coverage"] is None


def test_a_count_that_is_no_count_is_passed_by() -> None:
    now = datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
    client = Counting({DAYS[0]: float("nan"), DAYS[1]: -5, DAYS[2]: 1e30, DAYS[3]: 7.0})
    found = coverage.read(lambda region: client, ["us-east-1"], DAYS[:4], None, now)
    counts = [found.days[("us-east-1", d)].models.get("m", [0])[0] for d in DAYS[:4]]
    assert counts == [0, 0, round(1e30), 7]  # a huge count stays a count (Python ints do not overflow)
