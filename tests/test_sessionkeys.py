"""The sign-in's session key: kept in Secrets Manager (moto) and the edge's KeyValueStore (a stand-in, and the
real client's SigV4A signing with the request stopped before it leaves), copied by deploy, rotated by the CLI."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner
from moto import mock_aws

from generator import aws
from generator.cli import cli
from generator.deploy import sessionkeys
from generator.deploy.cloudformation import deploy
from generator.deploy.sessionkeys import KVS_KEY, SESSION_SECONDS, SessionKeys
from tests.test_cloudwatch import T0
from tests.test_deploy import PRIVATE, REQUEST

STORE = "arn:aws:cloudfront::123456789012:key-value-store/1a2b3c4d-1111-2222-3333-444455556666"
KEY = "k" * 64
NOW = 1_795_000_000.0


class StandInKeyValueStore:
    """The cloudfront-keyvaluestore calls we make, with the service's rule that a write names the current ETag."""

    def __init__(self, calls: list[str]) -> None:
        self.items: dict[str, str] = {}
        self.etag = 1
        self.calls = calls

    def describe_key_value_store(self, KvsARN: str) -> dict[str, Any]:
        assert KvsARN == STORE
        return {"ETag": f"e{self.etag}", "KvsARN": KvsARN, "ItemCount": len(self.items)}

    def put_key(self, KvsARN: str, Key: str, Value: str, IfMatch: str) -> dict[str, Any]:
        assert KvsARN == STORE and IfMatch == f"e{self.etag}" and len(Value) <= 1024  # a value is at most 1 KB
        self.items[Key] = Value
        self.etag += 1
        self.calls.append("edge")
        return {"ETag": f"e{self.etag}"}

    def keys(self) -> SessionKeys:
        return SessionKeys.from_json(self.items[KVS_KEY])


class Recorded:
    """A client whose put_secret_value is noted in `calls`, so tests see which store was written first."""

    def __init__(self, client: Any, calls: list[str]) -> None:
        self.client, self.calls = client, calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_secret_value(self, **kwargs: Any) -> Any:
        self.calls.append("secret")
        return self.client.put_secret_value(**kwargs)


def stack_outputs(sign_in: bool = True) -> dict[str, Any]:
    values = {"SiteUrl": "https://d111.cloudfront.net/", "BucketName": "usage-sitebucket-1", "DistributionId": "E1"}
    if sign_in:
        values |= {"SessionSecretArn": "", "SessionKeyStoreArn": STORE, "UserPoolId": "us-east-1_pool"}
    return {"Stacks": [{"StackName": "usage", "StackStatus": "CREATE_COMPLETE", "CreationTime": T0,
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in values.items()]}]}  # fmt: skip


def generated_secret(client: Any) -> str:
    """A secret as the stack's GenerateSecretString leaves it: 64 letters and digits under "current"."""
    current = client.get_random_password(PasswordLength=64, ExcludePunctuation=True)["RandomPassword"]
    value = json.dumps({"previous": "", "previous_until": 0, "current": current})
    return str(client.create_secret(Name="usage-session", SecretString=value)["ARN"])


def with_secret(found: dict[str, Any], arn: str) -> dict[str, Any]:
    for output in found["Stacks"][0]["Outputs"]:
        if output["OutputKey"] == "SessionSecretArn":
            output["OutputValue"] = arn
    return found


def test_stored_keys_parse_strictly() -> None:
    keys = SessionKeys.from_json(json.dumps({"current": KEY, "previous": "", "previous_until": 0}))
    assert keys == SessionKeys(KEY) and keys.accepted(NOW) == (KEY,)
    rotated = keys.rotated(NOW)
    assert len(rotated.current) == 64 and rotated.current != KEY and rotated.previous == KEY
    assert rotated.accepted(NOW + SESSION_SECONDS - 1) == (rotated.current, KEY)
    assert rotated.accepted(NOW + SESSION_SECONDS) == (rotated.current,)
    assert SessionKeys.from_json(rotated.to_json()) == rotated
    assert rotated.rotated(NOW + 1).previous == rotated.current  # the oldest key is dropped, never kept twice over
    for bad in ["plain text", "[]", "{}", '{"current": "short"}', json.dumps({"current": KEY + "!"}),
                json.dumps({"current": KEY, "previous": "x", "previous_until": 1}),
                json.dumps({"current": KEY, "previous": KEY, "previous_until": "soon"})]:  # fmt: skip
        with pytest.raises(ValueError):
            SessionKeys.from_json(bad)


def test_deploy_copies_the_stacks_secret_to_the_edge(stubbed: Any) -> None:
    cfn, cfn_stub = stubbed("cloudformation")
    sts, sts_stub = stubbed("sts")
    sts_stub.add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::1:user/a",
                                                  "UserId": "A"})  # fmt: skip
    calls: list[str] = []
    edge = StandInKeyValueStore(calls)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = generated_secret(secrets)
        cfn_stub.add_response("describe_stacks", with_secret(stack_outputs(), arn), {"StackName": "usage"})
        cfn_stub.add_client_error("update_stack", "ValidationError", "No updates are to be performed.")
        cfn_stub.add_response("describe_stacks", with_secret(stack_outputs(), arn), {"StackName": "usage"})
        clients = {"cloudformation": cfn, "s3": boto3.client("s3", region_name="us-east-1"), "sts": sts,
                   "secretsmanager": secrets, "cloudfront-keyvaluestore": edge}  # fmt: skip
        deploy(clients, REQUEST, b"zip", PRIVATE, wait_delay=0)  # even with nothing else to change
        stored = sessionkeys.read_secret(secrets, arn)
    assert edge.keys() == stored and len(stored.current) == 64 and calls == ["edge"]


def test_rotate_session_key_from_the_command_line(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cfn, cfn_stub = stubbed("cloudformation")
    calls: list[str] = []
    edge = StandInKeyValueStore(calls)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = generated_secret(secrets)
        before = sessionkeys.read_secret(secrets, arn)
        made = {"cloudformation": cfn, "secretsmanager": Recorded(secrets, calls), "cloudfront-keyvaluestore": edge}
        monkeypatch.setattr(aws, "client", lambda service, **_: made[service])
        cfn_stub.add_response("describe_stacks", with_secret(stack_outputs(), arn), {"StackName": "usage"})
        result = CliRunner().invoke(cli, ["rotate-session-key", "--stack", "usage", "--region", "us-east-1"])
        after = sessionkeys.read_secret(secrets, arn)
    assert result.exit_code == 0, result.output
    assert "a new session key signs sign-ins from now on; the old one is accepted until" in result.output
    assert after.previous == before.current and after.current != before.current and edge.keys() == after
    assert calls == ["edge", "secret"]  # the edge accepts the new key before the sign-in signs with it
    assert after.current not in result.output and before.current not in result.output


def test_rotate_needs_a_stack_with_sign_in(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cfn, cfn_stub = stubbed("cloudformation")
    monkeypatch.setattr(aws, "client", lambda service, **_: cfn)
    cfn_stub.add_response("describe_stacks", stack_outputs(sign_in=False), {"StackName": "usage"})
    result = CliRunner().invoke(cli, ["rotate-session-key", "--stack", "usage", "--region", "us-east-1"])
    assert result.exit_code == 2 and "has no sign-in" in result.output and "--sign-in cognito" in result.output
    cfn_stub.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist")
    result = CliRunner().invoke(cli, ["rotate-session-key", "--stack", "nope", "--region", "us-east-1"])
    assert result.exit_code != 0 and "rotate-session-key failed" in result.output and "Traceback" not in result.output


def test_key_value_store_writes_are_signed_with_sigv4a(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real client, through awscrt's SigV4A signer; the request is answered before it leaves the process."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = aws.client("cloudfront-keyvaluestore", region="us-east-1")
    sent: list[Any] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(request)
        body = {"ETag": "e1"} if request.method == "PUT" else {
            "KvsARN": STORE, "Created": 0, "ItemCount": 0, "TotalSizeInBytes": 0}  # fmt: skip
        raw = json.dumps(body).encode()

        class Raw:
            def stream(self, **_: Any) -> Any:
                yield raw

        return AWSResponse(request.url, 200, {"ETag": "e1", "Content-Type": "application/json"}, Raw())

    client.meta.events.register("before-send.cloudfront-keyvaluestore", answer)
    sessionkeys.write_edge(client, STORE, SessionKeys(KEY))
    _, put = sent
    for request in sent:
        assert request.headers["Authorization"].startswith(b"AWS4-ECDSA-P256-SHA256")
        assert request.headers["X-Amz-Region-Set"] == b"*"
    assert put.method == "PUT" and put.headers["If-Match"] == b"e1"
    assert json.loads(put.body)["Value"] == SessionKeys(KEY).to_json()
