"""Tools read the JSON of a sign-in site with their own IAM identity, straight from the bucket: a site published to
moto's S3 server is fetched back byte for byte, checked against its manifest; the edge still answers 401 to any
data file without a session (tests/js/edge.test.mjs), so the bucket read is the only way in for a tool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from generator import aws
from generator.cli import cli
from generator.errors import PublishError
from generator.fetch import fetch
from tests.test_publish import bucket, publish  # noqa: F401  (a fixture and a helper)
from tests.test_stack import template, text  # noqa: F401  (fixtures)


def fetch_cli(moto_server: str, name: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["fetch", *args, "--bucket", name, "--endpoint-url", moto_server])


def test_a_tool_fetches_a_published_data_file(moto_server: str, bucket: tuple[Any, str], tmp_path: Path) -> None:  # noqa: F811
    s3, name = bucket
    assert publish(moto_server, name).exit_code == 0
    done = fetch_cli(moto_server, name, "data/usage-30d.json")
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout_bytes)
    assert doc["window"]["key"] == "30d" and doc["schema_version"] == 7
    out = tmp_path / "got.json"
    done = fetch_cli(moto_server, name, "/data/schema/usage.schema.json", "--out", str(out))
    assert done.exit_code == 0 and json.loads(out.read_text())["$id"] == "usage.schema.json"
    served = s3.get_object(Bucket=name, Key="data/schema/usage.schema.json")["Body"].read()
    assert out.read_bytes() == served


def test_a_file_changed_under_the_reader_is_refused(moto_server: str, bucket: tuple[Any, str]) -> None:  # noqa: F811
    s3, name = bucket
    assert publish(moto_server, name).exit_code == 0
    s3.put_object(Bucket=name, Key="data/usage-7d.json", Body=b'{"tampered": true}')
    done = fetch_cli(moto_server, name, "data/usage-7d.json")
    assert done.exit_code == 1 and "kept changing while it was read" in done.output
    done = fetch_cli(moto_server, name, "data/usage-2w.json")
    assert done.exit_code == 1 and "has no data/usage-2w.json (its manifest does not list it)" in done.output


def test_nothing_published_is_said_plainly(moto_server: str, bucket: tuple[Any, str]) -> None:  # noqa: F811
    _, name = bucket
    done = fetch_cli(moto_server, name, "data/usage-7d.json")
    assert done.exit_code == 1 and "data/manifest.json does not exist" in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["../state/x.json", "--bucket", "b"], "is not a data file of the site"),
        (["index.html", "--bucket", "b"], "is not a data file of the site"),
        (["data/../.bedrock-usage-state/x.json", "--bucket", "b"], "is not a data file of the site"),
        (["data/usage-7d.json"], "give the site's --bucket (or BUCKET), or its --stack"),
        (["data/usage-7d.json", "--bucket", "b", "--stack", "s"], "not both and not neither"),
    ],
)
def test_bad_requests_are_usage_errors(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUCKET", raising=False)
    done = CliRunner().invoke(cli, ["fetch", *args])
    assert done.exit_code == 2 and message in done.output, done.output


def test_a_denied_read_names_the_policy_to_attach() -> None:
    s3 = aws.client("s3", region="us-east-1")
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", "AccessDenied", "Access Denied", 403)
        with pytest.raises(
            PublishError, match=r"denied: attach the stack's DataReaderPolicy \(output DataReaderPolicyArn\)"
        ):
            fetch(s3, "site-bucket", "", "data/usage-7d.json")


def test_the_stack_grants_tools_data_and_nothing_else(template: dict[str, Any]) -> None:  # noqa: F811
    policy = template["Resources"]["DataReaderPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in statements] == [
        ("Allow", "s3:GetObject", {"Fn::Sub": "${SiteBucket.Arn}/data/*"})
    ]
    assert template["Outputs"]["DataReaderPolicyArn"]["Value"] == {"Ref": "DataReaderPolicy"}


def test_a_stack_names_its_bucket(stubbed: Any) -> None:
    from generator.errors import ConfigError
    from generator.fetch import stack_bucket

    cfn, stub = stubbed("cloudformation")
    made = {"StackName": "s", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
    outputs = [{"OutputKey": "BucketName", "OutputValue": "site-bucket"}]
    stub.add_response("describe_stacks", {"Stacks": [{**made, "Outputs": outputs}]})
    stub.add_response("describe_stacks", {"Stacks": [made]})
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist", 400)
    assert stack_bucket(cfn, "s") == "site-bucket"
    with pytest.raises(ConfigError, match="has no BucketName output"):
        stack_bucket(cfn, "s")
    with pytest.raises(PublishError, match="could not read stack nope"):
        stack_bucket(cfn, "nope")
