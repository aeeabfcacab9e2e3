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


@pytest.fixture
def s3_mock() -> Any:
    with mock_aws():
        yield {s: boto3.client(s, region_name="us-east-1") for s in ("s3", "bedrock", "sts")}


def test_s3_delivery_setup_then_nothing_to_change(s3_mock: dict[str, Any]) -> None:
    dry = run("--s3-bucket", "org-bedrock-logs", "--s3-prefix", "bedrock", "--expire-days", "400", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        "would create private bucket org-bedrock-logs (it does not exist)",
        "would block public access to org-bedrock-logs (a new bucket)",
        "would let Bedrock in us-east-1 write logs to s3://org-bedrock-logs/bedrock/AWSLogs/123456789012/ "
        "(the bucket policy does not allow it)",
        "would expire log objects after 400 days (no such lifecycle rule)",
        "would deliver Bedrock invocation logs in us-east-1 to s3://org-bedrock-logs/bedrock/ (S3 delivery is off)",
    ]
    assert "org-bedrock-logs" not in [b["Name"] for b in s3_mock["s3"].list_buckets()["Buckets"]]

    first = run("--s3-bucket", "org-bedrock-logs", "--s3-prefix", "bedrock", "--expire-days", "400")
    assert first.exit_code == 0 and "done: 5 change(s)" in first.output, first.output
    s3 = s3_mock["s3"]
    (statement,) = json.loads(s3.get_bucket_policy(Bucket="org-bedrock-logs")["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "bedrock.amazonaws.com"} and statement["Action"] == "s3:PutObject"
    assert (
        statement["Resource"]
        == "arn:aws:s3:::org-bedrock-logs/bedrock/AWSLogs/123456789012/BedrockModelInvocationLogs/*"
    )
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:bedrock:us-east-1:123456789012:*"},
    }
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket="org-bedrock-logs")["Rules"]
    assert rule["Expiration"] == {"Days": 400} and rule["Filter"] == {"Prefix": "bedrock/AWSLogs/"}
    assert s3.get_public_access_block(Bucket="org-bedrock-logs")["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
    config = s3_mock["bedrock"].get_model_invocation_logging_configuration()["loggingConfig"]
    assert config["s3Config"] == {"bucketName": "org-bedrock-logs", "keyPrefix": "bedrock"}

    second = run("--s3-bucket", "org-bedrock-logs", "--s3-prefix", "bedrock", "--expire-days", "400")
    assert second.exit_code == 0 and "nothing to change" in second.output, second.output


def test_s3_delivery_keeps_the_buckets_other_statements(s3_mock: dict[str, Any]) -> None:
    s3 = s3_mock["s3"]
    s3.create_bucket(Bucket="shared-logs")
    other = {"Sid": "Auditors", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared-logs/*"}  # fmt: skip
    s3.put_bucket_policy(Bucket="shared-logs", Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]}))
    result = run("--s3-bucket", "shared-logs")
    assert result.exit_code == 0, result.output
    sids = [s["Sid"] for s in json.loads(s3.get_bucket_policy(Bucket="shared-logs")["Policy"])["Statement"]]
    assert sids == ["Auditors", "AllowBedrockInvocationLogs"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--s3-bucket", "Not_A_Bucket"), "is not an S3 bucket name"),
        (("--expire-days", "30"), "go with --s3-bucket"),
        (("--s3-bucket", "b-ok", "--s3-prefix", "../x"), "--s3-prefix"),
    ],
)
def test_s3_setup_arguments_are_checked(s3_mock: dict[str, Any], args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2 and message in result.output, result.output
