"""Teams and budgets from the config, and budget notices: each crossing said once a month, never again."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from moto import mock_aws

from generator.budgets import Budgets, Status, crossings, level, parse_budgets, status_text
from generator.config import load_settings
from generator.errors import ConfigError
from generator.run import build_site as build
from generator.site.export import slug
from generator.sources.demo import write_demo_logs
from generator.teams import parse_teams
from tests.conftest import NOW, NOW_ISO

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "generator/data/demo.toml"


def test_levels_and_crossings() -> None:
    assert [level(Decimal(v), Decimal(100)) for v in (79, 80, 99, 100, 150)] == ["ok", "near", "near", "over", "over"]
    over = Status("person", "ann", Decimal(100), Decimal(120), Decimal(150), True)
    near_by_forecast = Status("team", "ml", Decimal(100), Decimal(50), Decimal(85), True)
    keys = [k for k, _ in crossings([over, near_by_forecast])]
    assert keys == ["person ann|actual|over", "person ann|actual|near", "person ann|forecast|over",
                    "person ann|forecast|near", "team ml|forecast|near"]  # fmt: skip


def test_one_status_phrase_from_spend_and_forecast() -> None:
    cases = {("ok", "ok"): "within budget", ("ok", "near"): "within budget, forecast near",
             ("ok", "over"): "within budget, forecast over", ("near", "near"): "near budget",
             ("near", "over"): "near budget, forecast over", ("over", "over"): "over budget",
             ("over", "ok"): "over budget", ("near", "ok"): "near budget"}  # fmt: skip
    assert {k: status_text(*k) for k in cases} == cases
    within_forecast_over = Status("person", "ann", Decimal(150), Decimal(50), Decimal("237.15"), True)
    assert (within_forecast_over.status, within_forecast_over.severity) == ("within budget, forecast over", "over")


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _row(html: str, table: str, name: str) -> str:
    """The text of the row of table `table` (its id) whose header cell names `name`."""
    body = html.split(f'id="{table}"')[1].split("</table>")[0]
    rows = [r.split(">", 1)[1] for r in body.split("<tr")[1:]]
    return next(_text(r) for r in rows if f"{_text(r.split('</th>')[0])} ".startswith(f"{name} "))


def test_every_page_says_what_the_json_says_of_each_budget(demo_site: Path) -> None:
    """The month-to-date JSON's status of each budget is the phrase on the overview's budget table, the people
    table, the person's page and the team's page; no page gives a level of its own."""
    doc = json.loads((demo_site / "data/usage-mtd.json").read_text())
    said = {b["status"] for b in doc["budgets"]}
    assert len(said) >= 3 and any("forecast" in s for s in said)  # the demo's budgets say different things
    overview = (demo_site / "usage-mtd.html").read_text()
    phrases = re.compile(r"(?:within|near|over) budget(?:, forecast (?:near|over))?")
    for b in doc["budgets"]:
        assert b["status"] == status_text(b["level"], b["forecast_level"])
        name = {"total": "everyone", "team": f"team {b['name']}", "person": b["name"]}[b["scope"]]
        assert phrases.findall(_row(overview, "budgets", name)) == [b["status"]]
        if b["scope"] == "person":
            badge = [b["status"]] if b["severity"] != "ok" else []
            assert phrases.findall(_row(overview, "by-users", b["name"])) == badge
            page = _text((demo_site / f"person/{slug(b['name'])}.html").read_text())
            assert phrases.findall(page) == [b["status"]]
        if b["scope"] == "team":
            page = _text((demo_site / f"team/{slug(b['name'])}.html").read_text())
            assert phrases.findall(page) == [b["status"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[teams]\na = ["ann"]\nb = ["ann"]\n', "'ann' is in both 'a' and 'b'"),
        ('[teams]\na = "ann"\n', "teams.a must be a list of people"),
        ('team_from = "department"\n', "team_from must be one of"),
        ("[budgets]\ntotal = -5\n", "budgets.total must be a positive amount"),
        ('[budgets]\ntotal = "lots"\n', "budgets.total must be a positive amount"),
        ("[budgets.people]\nann = 0\n", "budgets.people.ann must be a positive amount"),
        ("[budgets]\nmonthly = 5\n", r"unknown key\(s\) monthly"),
    ],
)
def test_bad_teams_and_budgets_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "team.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings({"source": "demo", "config": str(config)}, environ={}, env_file=None)


def test_teams_from_the_table_or_the_principal() -> None:
    rules = parse_teams({"ml": ["ann"]}, "permission-set")
    sso = "arn:aws:sts::1:assumed-role/AWSReservedSSO_DataScience_0123456789abcdef/bob"
    assert rules.team_of("ann", [sso]) == "ml" and rules.team_of("bob", [sso]) == "DataScience"
    assert parse_teams({}, "iam-path").team_of("cy", ["arn:aws:iam::1:user/platform/cy"]) == "platform"
    assert parse_teams({}, "").team_of("cy", ["arn:aws:iam::1:user/platform/cy"]) == ""
    assert parse_budgets({"total": 10, "people": {"ann": 2.5}}) == Budgets(Decimal(10), {}, {"ann": Decimal("2.5")})


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(json.loads(body))
        self.send_response(Hook.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Hook.received, Hook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def _build(tmp_path: Path, logs: Path, now: str = NOW_ISO, **environ: str) -> Any:
    settings = load_settings(
        {"logs": (str(logs),), "config": str(DEMO_CONFIG), "out": tmp_path / "site", "now": now,
         "state": str(tmp_path / "state"), "price_list": "off"},
        environ=environ, env_file=None,
    )  # fmt: skip
    return build(settings)


def test_a_second_run_in_the_same_month_sends_nothing(tmp_path: Path, webhook: str) -> None:
    logs = tmp_path / "logs"
    write_demo_logs(logs, NOW)
    first = _build(tmp_path, logs, BUDGET_WEBHOOK=webhook)
    assert len(Hook.received) == 1
    text = Hook.received[0]["text"]
    assert "peterdir over budget: spent $167.28 of $150.00 (112%)" in text
    assert "near budget" not in text.split("peterdir over budget")[0].split("\n")[-1]  # over, not near too
    assert "budget notices (" in first.summary() and "peterdir over budget" in first.summary()
    second = _build(tmp_path, logs, BUDGET_WEBHOOK=webhook)
    assert len(Hook.received) == 1 and "budget notices" not in second.summary()
    # A new month starts over: its first crossing is news again.
    write_demo_logs(logs, NOW + timedelta(days=10))
    _build(tmp_path, logs, (NOW + timedelta(days=10)).isoformat(), BUDGET_WEBHOOK=webhook)
    assert len(Hook.received) == 2 and "2026-12" in Hook.received[1]["text"]


def test_a_failed_webhook_is_reported_and_tried_again(tmp_path: Path, webhook: str) -> None:
    logs = tmp_path / "logs"
    write_demo_logs(logs, NOW)
    Hook.status = 500
    first = _build(tmp_path, logs, BUDGET_WEBHOOK=webhook)
    assert "the budget webhook failed" in first.summary() and first.out.is_dir()  # the build stands
    Hook.status = 200
    _build(tmp_path, logs, BUDGET_WEBHOOK=webhook)
    assert len(Hook.received) == 2 and Hook.received[0]["text"] == Hook.received[1]["text"]
    _build(tmp_path, logs, BUDGET_WEBHOOK=webhook)
    assert len(Hook.received) == 2


def test_notices_go_to_the_stacks_topic(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_demo_logs(logs, NOW)
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="usage-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        for _ in range(2):
            _build(tmp_path, logs, BUDGET_TOPIC_ARN=topic)
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1 and "peterdir over budget" in json.loads(messages[0]["Body"])["Message"]


def test_the_demo_never_notifies(tmp_path: Path, webhook: str) -> None:
    build(load_settings({"source": "demo", "out": tmp_path / "site", "now": NOW_ISO, "state": str(tmp_path / "s")},
                        environ={"BUDGET_WEBHOOK": webhook}, env_file=None))  # fmt: skip
    assert Hook.received == [] and not (tmp_path / "s").exists()


@pytest.mark.parametrize("value", ["http://hooks.example.com/x", "ftp://x", "https://a b"])
def test_a_webhook_must_be_https(value: str) -> None:
    with pytest.raises(ConfigError, match="BUDGET_WEBHOOK"):
        load_settings({"source": "demo"}, environ={"BUDGET_WEBHOOK": value}, env_file=None)


def test_a_publish_dry_run_tells_no_one(tmp_path: Path, webhook: str) -> None:
    from generator.publish import Options
    from generator.run import publish_site

    logs = tmp_path / "logs"
    write_demo_logs(logs, NOW)
    settings = load_settings(
        {"logs": (str(logs),), "config": str(DEMO_CONFIG), "out": tmp_path / "site", "now": NOW_ISO,
         "state": str(tmp_path / "state"), "price_list": "off", "bucket": "site-bucket"},
        environ={"BUDGET_WEBHOOK": webhook}, env_file=None,
    )  # fmt: skip
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="site-bucket")
        result = publish_site(settings, Options(dry_run=True))
    assert result.outcome is None and Hook.received == [] and not (tmp_path / "state").exists()
