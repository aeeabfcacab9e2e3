"""Errors that name the true cause: no network (and the endpoint), an unknown profile (and the files searched), no
credentials, expired credentials, access denied (and the action), and throttling. Through botocore's Stubber and
an endpoint on a loopback port nothing listens on."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ProfileNotFound
from botocore.stub import Stubber
from click.testing import CliRunner

from generator import aws
from generator.cli import cli
from generator.errors import SourceError
from generator.pricing.pricelist import read_products

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens on it here


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("AccessDeniedException", "User: arn:aws:iam::1:user/a is not authorized to perform: logs:StartQuery on x",
         "access denied to logs:StartQuery (AccessDeniedException)"),
        ("ExpiredTokenException", "The security token included in the request is expired",
         "AWS credentials expired or invalid (ExpiredTokenException): refresh them"),
        ("ThrottlingException", "Rate exceeded", "AWS throttled GetProducts (ThrottlingException) after retrying"),
        ("InternalFailure", "boom", "InternalFailure: boom"),
    ],
)  # fmt: skip
def test_each_aws_answer_names_its_cause(code: str, message: str, expected: str) -> None:
    client = boto3.client("pricing", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_products", code, message, 400)
        with pytest.raises(SourceError) as caught:
            read_products(client, "us-east-1")
    assert expected in str(caught.value)
    assert ("pricing:GetProducts" in str(caught.value)) == (code == "AccessDeniedException")


def test_local_causes_are_named() -> None:
    assert aws.reason(EndpointConnectionError(endpoint_url="https://logs.eu-west-1.amazonaws.com")).startswith(
        "cannot reach https://logs.eu-west-1.amazonaws.com: no network"
    )
    assert aws.reason(NoCredentialsError()).startswith("no AWS credentials: set AWS_PROFILE")
    assert "AWS profile 'nope' is not in " in aws.reason(ProfileNotFound(profile="nope"))
    assert aws.credentials_problem("nope").startswith("AWS profile 'nope' is not in ")


def test_no_network_is_not_called_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", CLOSED)
    result = CliRunner().invoke(cli, ["doctor", "--region", "us-east-1"])
    assert result.exit_code == 1
    assert "FAIL credentials: cannot reach http://127.0.0.1:9/: no network" in result.output
    assert "none usable" not in result.output


def test_deploy_dry_run_plans_without_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", CLOSED)
    result = CliRunner().invoke(cli, ["deploy", "--stack", "usage", "--region", "us-east-1", "--dry-run",
                                      "--subnets-only", "10.0.0.0/8"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out: Any = result.output
    assert "could not read stack usage (cannot reach" in out and "not compared with a live one" in out
    assert "create stack usage in us-east-1 with:" in out and "# the stack template" in out
    assert "AWSTemplateFormatVersion" in out
