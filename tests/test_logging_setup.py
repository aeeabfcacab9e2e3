"""`setup-logging` against moto (Logs, IAM, STS, Bedrock): plan, apply, and a second run that changes nothing."""

import json
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from generator.cli import cli
from generator.logging_setup import apply_plan, plan_logging

GROUP = "/aws/bedrock/modelinvocations"


@pytest.fixture
def aws_mock() -> Any:
    with mock_aws():
        yield {s: boto3.client(s, region_name="us-east-1") for s in ("logs", "iam", "bedrock", "sts")}


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["setup-logging", "--region", "us-east-1", *args])


def test_dry_run_prints_every_change_and_makes_none(aws_mock: dict[str, Any]) -> None:
    result = run("--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"would create log group {GROUP} (it does not exist)",
        "would keep its logs 120 days (retention is new group)",
        "would create role bedrock-invocation-logging for Bedrock to write logs (it does not exist)",
        f"would allow role bedrock-invocation-logging to write to {GROUP} (its policy is missing or differs)",
        f"would send Bedrock invocation logs in us-east-1 to {GROUP} (it is off)",
    ]
    assert aws_mock["logs"].describe_log_groups()["logGroups"] == []


def test_setup_then_nothing_to_change(aws_mock: dict[str, Any]) -> None:
    first = run("--retention-days", "30")
    assert first.exit_code == 0 and "done: 5 change(s)" in first.output
    (group,) = aws_mock["logs"].describe_log_groups()["logGroups"]
    assert group["logGroupName"] == GROUP and group["retentionInDays"] == 30
    role = aws_mock["iam"].get_role(RoleName="bedrock-invocation-logging")["Role"]
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    config = aws_mock["bedrock"].get_model_invocation_logging_configuration()["loggingConfig"]
    assert config["cloudWatchConfig"]["logGroupName"] == GROUP and config["textDataDeliveryEnabled"] is False
    policy = aws_mock["iam"].get_role_policy(
        RoleName="bedrock-invocation-logging", PolicyName="write-bedrock-invocation-logs"
    )
    document = (
        policy["PolicyDocument"] if isinstance(policy["PolicyDocument"], dict) else json.loads(policy["PolicyDocument"])
    )
    assert document["Statement"][0]["Resource"].endswith(f"log-group:{GROUP}:log-stream:aws/bedrock/modelinvocations")

    second = run("--retention-days", "30")
    assert second.exit_code == 0
    assert (
        second.output.strip() == f"nothing to change: Bedrock invocation logging in us-east-1 already goes to {GROUP}"
    )


def test_existing_choices_are_kept(aws_mock: dict[str, Any]) -> None:
    aws_mock["bedrock"].put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "audit", "keyPrefix": "bedrock/"}, "textDataDeliveryEnabled": True}
    )
    steps = plan_logging(aws_mock, log_group=GROUP, retention_days=None, role_name="r", region="us-east-1")
    apply_plan(steps, aws_mock, sleep=lambda s: None)
    config = aws_mock["bedrock"].get_model_invocation_logging_configuration()["loggingConfig"]
    assert config["s3Config"]["bucketName"] == "audit" and config["textDataDeliveryEnabled"] is True
    assert config["cloudWatchConfig"]["roleArn"] == "arn:aws:iam::123456789012:role/r"
