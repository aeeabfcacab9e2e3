"""Deploy and schedule: the request checks, the Lambda zip, CloudFormation calls (Stubber), the Lambda
handler end to end (moto server S3 and CloudFront, fake Logs), systemd units and the workflows."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import ANY
from click.testing import CliRunner
from moto import mock_aws

from generator import aws
from generator.cli import cli
from generator.deploy import render_template
from generator.deploy.cloudformation import DeployRequest, deploy, destroy, package_lambda
from generator.errors import ConfigError
from generator.timer import units
from tests.conftest import ROOT
from tests.test_cloudwatch import T0, FakeLogs, truth

REQUEST = DeployRequest(stack="usage", region="us-east-1", log_groups=("/aws/bedrock/modelinvocations",))
PRIVATE = REQUEST.__class__(**{**REQUEST.__dict__, "subnets_only": "10.0.0.0/8"}).access(None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stack": "1bad name"}, "--stack"),
        ({"schedule": "every hour"}, "--schedule"),
        ({"fqdn": "usage.example.com"}, "--fqdn needs --certificate-arn and --hosted-zone-id"),
        ({"fqdn": "u.example.com", "hosted_zone_id": "Z1",
          "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/x"}, "in us-east-1"),
    ],
)  # fmt: skip
def test_bad_requests(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DeployRequest(**{**REQUEST.__dict__, **changes}).check()


def fake_install(target: Path, packages: list[str], python: str, architecture: str) -> None:
    assert python == "3.13" and "msgspec>=0.18" in packages and architecture == "x86_64"
    (target / "msgspec").mkdir()
    (target / "msgspec" / "__init__.py").write_text("# stand-in for the manylinux wheel\n")


def test_lambda_zip_holds_the_package_assets_and_dependencies() -> None:
    code = package_lambda(install=fake_install)
    names = zipfile.ZipFile(io.BytesIO(code)).namelist()
    for needed in ("generator/lambda_handler.py", "generator/templates/base.html", "generator/assets/app.js",
                   "generator/assets/vendor/chart.umd.min.js", "generator/deploy/stack.yaml",
                   "generator/data/prices.toml", "msgspec/__init__.py"):  # fmt: skip
        assert needed in names, needed
    assert not any("__pycache__" in n for n in names)
    assert package_lambda(install=fake_install) == code  # repeatable: same code, same key


def outputs() -> dict[str, Any]:
    values = {"SiteUrl": "https://d111.cloudfront.net/", "BucketName": "usage-sitebucket-1", "DistributionId": "E1"}
    return {"Stacks": [{"StackName": "usage", "StackStatus": "CREATE_COMPLETE", "CreationTime": T0,
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in values.items()]}]}  # fmt: skip


def test_deploy_creates_the_stack(stubbed: Any) -> None:
    cfn, cfn_stub = stubbed("cloudformation")
    sts, sts_stub = stubbed("sts")
    sts_stub.add_response(
        "get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::1:user/a", "UserId": "A"}
    )
    cfn_stub.add_client_error("describe_stacks", "ValidationError", "Stack with id usage does not exist")
    cfn_stub.add_response("create_stack", {"StackId": "arn:stack"}, {
        "StackName": "usage", "Parameters": ANY, "Capabilities": ["CAPABILITY_IAM"],
        # by URL: a template over 51,200 bytes (about 33 log groups) cannot go in the call
        "TemplateURL": "https://usage-artifacts-123456789012-us-east-1.s3.us-east-1.amazonaws.com/templates/"
                       + hashlib.sha256(render_template(REQUEST.log_groups).encode()).hexdigest()[:20] + ".yaml",
        "OnFailure": "ROLLBACK"})  # fmt: skip
    cfn_stub.add_response("describe_stacks", outputs(), {"StackName": "usage"})  # the waiter
    cfn_stub.add_response("describe_stacks", outputs(), {"StackName": "usage"})
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        found = deploy({"cloudformation": cfn, "s3": s3, "sts": sts}, REQUEST, b"zip-bytes", PRIVATE, wait_delay=0)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="usage-artifacts-123456789012-us-east-1")["Contents"]]
        (template,) = [k for k in keys if k.startswith("templates/")]
        body = s3.get_object(Bucket="usage-artifacts-123456789012-us-east-1", Key=template)["Body"].read()
    assert found["SiteUrl"] == "https://d111.cloudfront.net/"
    assert len(keys) == 2 and keys[0].startswith("lambda/") and body.decode() == render_template(REQUEST.log_groups)


def test_update_with_no_changes_is_fine(stubbed: Any) -> None:
    cfn, cfn_stub = stubbed("cloudformation")
    sts, sts_stub = stubbed("sts")
    sts_stub.add_response(
        "get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::1:user/a", "UserId": "A"}
    )
    cfn_stub.add_response("describe_stacks", outputs(), {"StackName": "usage"})
    cfn_stub.add_client_error("update_stack", "ValidationError", "No updates are to be performed.")
    cfn_stub.add_response("describe_stacks", outputs(), {"StackName": "usage"})
    with mock_aws():
        found = deploy({"cloudformation": cfn, "s3": boto3.client("s3", region_name="us-east-1"), "sts": sts},
                       REQUEST, b"zip", PRIVATE, wait_delay=0)  # fmt: skip
    assert found["DistributionId"] == "E1"


def test_destroy(stubbed: Any) -> None:
    cfn, stub = stubbed("cloudformation")
    stub.add_response("describe_stacks", outputs(), {"StackName": "usage"})
    stub.add_response("describe_stacks", outputs(), {"StackName": "usage"})
    stub.add_response("delete_stack", {}, {"StackName": "usage"})
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id usage does not exist")
    assert destroy(cfn, "usage", wait_delay=0)["BucketName"] == "usage-sitebucket-1"


def test_deploy_dry_run_prints_the_plan(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cfn, stub = stubbed("cloudformation")
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id usage does not exist")
    monkeypatch.setattr(aws, "client", lambda service, **_: cfn)
    result = CliRunner().invoke(cli, ["deploy", "--stack", "usage", "--region", "us-east-1", "--dry-run",
                                      "--subnets-only", "10.0.0.0/8,2001:db8::/32"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "create stack usage in us-east-1 with:" in result.output
    assert "a CloudFront Function letting only 10.0.0.0/8,2001:db8::/32 in" in result.output


def test_lambda_handler_publishes(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from generator.lambda_handler import handler

    bucket = f"site-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    fake = FakeLogs(truth(T0 - timedelta(days=92), 93), statuses=())
    real = aws.client
    monkeypatch.setattr(aws, "client", lambda service, **kw: fake if service == "logs" else real(service, **kw))
    for name, value in {"BUCKET": bucket, "SOURCE": "cloudwatch", "AWS_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL_S3": moto_server, "LOG_GROUP": "/aws/bedrock/modelinvocations",
                        "STATE": f"s3://{bucket}/.bedrock-usage-state/"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    summary = handler({}, None)
    assert summary["publish"].startswith("uploaded ")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "index.html" in keys and "data/manifest.json" in keys
    assert any(k.startswith(".bedrock-usage-state/region=us-east-1/") for k in keys)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="data/manifest.json")["Body"].read())
    assert not any(f.startswith(".bedrock-usage-state") for f in manifest["files"])  # never published, never deleted


@pytest.mark.parametrize(
    ("left", "configured", "deadline"),
    [(900, "600", "600"), (300, "600", "180"), (100, "600", "10"), (900, None, "780"), (900, "x", None)],
)
def test_the_lambda_gives_its_queries_the_time_it_has_left(
    monkeypatch: pytest.MonkeyPatch, left: int, configured: str | None, deadline: str | None
) -> None:
    from generator import config, lambda_handler

    seen: list[dict[str, Any]] = []

    def stop(given: dict[str, Any], **_: Any) -> None:
        seen.append(given)
        raise SystemExit  # the settings are all this test wants

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return left * 1000

    monkeypatch.setattr(config, "load_settings", stop)
    if configured is None:
        monkeypatch.delenv("INSIGHTS_DEADLINE", raising=False)
    else:
        monkeypatch.setenv("INSIGHTS_DEADLINE", configured)
    with pytest.raises(SystemExit):
        lambda_handler.handler({}, Context())
    assert seen[0].get("insights_deadline") == deadline  # 120 s kept to price, render and publish


def test_memory_and_timeout_are_checked_and_passed(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    request = DeployRequest(**{**REQUEST.__dict__, "memory": 3008, "timeout": 900})
    request.check()
    params = {p["ParameterKey"]: p.get("ParameterValue") for p in request.parameters("b", "k", PRIVATE)}
    assert params["MemorySize"] == "3008" and params["FunctionTimeout"] == "900"
    assert {p["ParameterKey"]: p.get("ParameterValue") for p in REQUEST.parameters("b", "k", PRIVATE)}[
        "MemorySize"] == "2048"  # fmt: skip
    for changes, message in (({"memory": 256}, "--memory 256: 512 to 10240 MB"),
                             ({"timeout": 600}, "--timeout 600: from the Insights deadline + 120 (720) to 900"),
                             ({"timeout": 901}, "--timeout 901")):  # fmt: skip
        with pytest.raises(ConfigError, match=re.escape(message)):
            DeployRequest(**{**REQUEST.__dict__, **changes}).check()
    result = dry_run(stubbed, monkeypatch, None, "--public", "--memory", "4096", "--timeout", "900")
    assert result.exit_code == 0, result.output
    assert "timeout 900 s, 4096 MB, Insights deadline 600 s" in result.output


def test_systemd_units(tmp_path: Path) -> None:
    found = units(["publish", "--bucket", "my site"], "1h", user=True, workdir=tmp_path, home=tmp_path)
    service, timer = found.service, found.timer
    assert "Type=oneshot" in service and "-m generator publish --bucket 'my site'" in service
    assert f"EnvironmentFile=-{tmp_path}/.env" in service
    assert "OnUnitActiveSec=1h" in timer and "WantedBy=timers.target" in timer
    assert list(found.files()) == [tmp_path / ".config/systemd/user/bedrock-usage-publish.service",
                                   tmp_path / ".config/systemd/user/bedrock-usage-publish.timer"]  # fmt: skip
    if shutil.which("systemd-analyze"):
        for path, text in found.files().items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        done = subprocess.run(["systemd-analyze", "verify", *map(str, found.files())], capture_output=True,
                              text=True, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--every", "hourly", "--", "publish"], "time span"), (["--", "build"], "give the publish command")],
)
def test_install_timer_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["install-timer", "--dry-run", *args])
    assert result.exit_code == 2 and message in result.output


def test_install_timer_dry_run() -> None:
    result = CliRunner().invoke(cli, ["install-timer", "--user", "--every", "30min", "--dry-run", "--", "publish",
                                      "--bucket", "b"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "bedrock-usage-publish.timer" in result.output and "OnUnitActiveSec=30min" in result.output


def workflow(name: str) -> dict[Any, Any]:
    return dict(yaml.safe_load((ROOT / ".github/workflows" / name).read_text()))


def test_workflows_lint_clean() -> None:
    done = subprocess.run(
        ["yamllint", "-d", "{extends: relaxed, rules: {line-length: {max: 120}}}", str(ROOT / ".github/workflows")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_publish_workflow_has_cron_oidc_and_pinned_actions() -> None:
    flow = workflow("publish.yml")
    triggers = flow[True]  # YAML reads the key `on` as True
    assert re.fullmatch(r"\d+ \* \* \* \*", triggers["schedule"][0]["cron"]) and "workflow_dispatch" in triggers
    assert flow["permissions"] == {"contents": "read"}
    job = flow["jobs"]["publish"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
    for flow_name in ("publish.yml", "ci.yml"):
        for step in (s for j in workflow(flow_name)["jobs"].values() for s in j["steps"] if "uses" in s):
            assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    credentials = next(s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/"))
    assert "role-to-assume" in credentials["with"] and "aws-access-key-id" not in credentials["with"]


def test_ci_workflow_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    command = "python -m pip install -c constraints.txt -e '.[test]' && python -m pytest -n 2"
    full = "python3 -m venv .venv && . .venv/bin/activate && " + command
    assert full in readme and full in (ROOT / ".ci/run").read_text()
    assert any(command in str(s.get("run", "")) for s in workflow("ci.yml")["jobs"]["test"]["steps"])


def test_every_dependency_is_pinned_in_the_constraints_file() -> None:
    import tomllib

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not an exact pin"
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name.lower()) in pins, f"{name} is not pinned in constraints.txt"


def test_publish_workflow_installs_before_it_has_credentials() -> None:
    steps = workflow("publish.yml")["jobs"]["publish"]["steps"]
    install = next(i for i, s in enumerate(steps) if "pip install -c constraints.txt" in str(s.get("run", "")))
    credentials = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("aws-actions/"))
    assert install < credentials


def stack_with(params: dict[str, str]) -> dict[str, Any]:
    found = outputs()
    found["Stacks"][0]["Parameters"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()]
    return found


def dry_run(
    stubbed: Any, monkeypatch: pytest.MonkeyPatch, previous: dict[str, str] | None, *args: str, reaches_aws: bool = True
) -> Any:
    cfn, stub = stubbed("cloudformation")
    if not reaches_aws:  # refused while checking the flags, before any AWS call
        pass
    elif previous is None:
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id usage does not exist")
    else:
        stub.add_response("describe_stacks", stack_with(previous), {"StackName": "usage"})
    monkeypatch.setattr(aws, "client", lambda service, **_: cfn)
    return CliRunner().invoke(cli, ["deploy", "--stack", "usage", "--region", "us-east-1", "--dry-run", *args],
                              env={"SUBNETS_ONLY": "", "SUBNET_ONLY": ""})  # fmt: skip


@pytest.mark.parametrize(
    ("previous", "args"),
    [
        (None, []),  # a new stack with no access flags
        (None, ["--subnets-only", ""]),
        ({"SubnetsOnly": "10.0.0.0/8", "SignIn": "none", "Public": "false"}, ["--subnets-only", ""]),
        ({"SubnetsOnly": ""}, []),  # a stack from before: open, and no one said --public
    ],
)
def test_deploy_refuses_an_open_site_without_public(
    stubbed: Any, monkeypatch: pytest.MonkeyPatch, previous: dict[str, str] | None, args: list[str]
) -> None:
    result = dry_run(stubbed, monkeypatch, previous, *args)
    assert result.exit_code == 2, result.output
    assert "deploy would leave the site open to anyone" in result.output and "--public" in result.output


def test_deploy_public_on_purpose(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    result = dry_run(stubbed, monkeypatch, None, "--public")
    assert result.exit_code == 0 and "NO viewer restriction" in result.output


def test_a_redeploy_without_access_flags_keeps_the_stacks_setting(
    stubbed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = {"SubnetsOnly": "10.0.0.0/8", "SignIn": "none", "Public": "false"}
    result = dry_run(stubbed, monkeypatch, previous)
    assert result.exit_code == 0, result.output
    assert "letting only 10.0.0.0/8 in (403 for everyone else) (kept from the stack)" in result.output
    access = REQUEST.access(previous)
    params = {p["ParameterKey"]: p for p in REQUEST.parameters("b", "k", access)}
    assert all(params[k] == {"ParameterKey": k, "UsePreviousValue": True} for k in ("SubnetsOnly", "SignIn", "Public"))
    changed = DeployRequest(**{**REQUEST.__dict__, "subnets_only": "192.168.0.0/16"}).access(previous)
    assert changed.subnets_only == "192.168.0.0/16" and "SubnetsOnly" not in changed.kept and "SignIn" in changed.kept


def test_a_subnet_list_that_is_code_is_refused(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    result = dry_run(
        stubbed, monkeypatch, None, "--subnets-only", '10.0.0.0/8"; ALLOWED = "0.0.0.0/0,::/0', reaches_aws=False
    )
    assert result.exit_code == 2 and "SUBNETS_ONLY" in result.output
    with pytest.raises(ConfigError, match="--subnets-only"):
        DeployRequest(**{**REQUEST.__dict__, "subnets_only": '1.2.3.4/32"; x="'}).check()


def test_deploy_plan_says_how_failures_are_heard(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    result = dry_run(stubbed, monkeypatch, None, "--public", "--alarm-email", "ops@example.com", "--access-logs",
                     "--insights-deadline", "500")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "timeout 620 s, 2048 MB, Insights deadline 500 s" in result.output
        and "e-mailing ops@example.com" in result.output
    )
    assert "a log bucket with CloudFront and S3 access logs" in result.output
    bad = dry_run(stubbed, monkeypatch, None, "--public", "--alarm-email", "not an address", reaches_aws=False)
    assert bad.exit_code == 2 and "--alarm-email" in bad.output


def test_sign_in_passes_no_key_through_the_stack() -> None:
    signed = DeployRequest(**{**REQUEST.__dict__, "sign_in": "cognito"})
    first = signed.access(None)
    assert first.sign_in == "cognito" and not first.subnets_only
    params = {p["ParameterKey"]: p for p in signed.parameters("b", "k", first)}
    assert params["SignIn"]["ParameterValue"] == "cognito" and not [k for k in params if "Session" in k]
    previous = {"SubnetsOnly": "", "SignIn": "cognito", "Public": "false", "SamlMetadataUrl": ""}
    again = REQUEST.access(previous)  # a redeploy without flags: still signed in, same provider
    assert again.sign_in == "cognito" and {"SignIn", "SamlMetadataUrl"} <= again.kept
    off = DeployRequest(**{**REQUEST.__dict__, "sign_in": "none", "subnets_only": "10.0.0.0/8"}).access(previous)
    assert off.sign_in == "none"


def test_sign_in_federation_flags(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    saml = "https://portal.sso.us-east-1.amazonaws.com/saml/metadata/abc"
    result = dry_run(stubbed, monkeypatch, None, "--sign-in", "cognito", "--saml-metadata-url", saml)
    assert result.exit_code == 0, result.output
    assert f"sign-in with Cognito in front of every page (a signed session cookie checked at the edge), " \
           f"federated to {saml}" in result.output  # fmt: skip
    for args, message in [
        (["--saml-metadata-url", saml], "go with --sign-in cognito"),
        (["--sign-in", "cognito", "--oidc-issuer", "https://idp.example.com"], "needs --oidc-client-id"),
        (["--sign-in", "cognito", "--saml-metadata-url", "http://plain"], "give an https:// URL"),
    ]:
        bad = dry_run(stubbed, monkeypatch, None, "--public", *args, reaches_aws=False)
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_deploy_against_s3_or_athena(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = dry_run(stubbed, monkeypatch, None, "--public", "--source", "s3", "--logs", "s3://org-logs/bedrock/")
    assert s3.exit_code == 0, s3.output
    assert "one IAM role: s3:ListBucket and s3:GetObject on s3://org-logs/bedrock/AWSLogs/" in s3.output
    request = DeployRequest(**{**REQUEST.__dict__, "source": "athena", "logs": "s3://org-logs/b"})
    values = {p["ParameterKey"]: p.get("ParameterValue") for p in request.parameters("c", "k", PRIVATE)}
    assert (values["Source"], values["LogsBucket"], values["LogsPrefix"]) == ("athena", "org-logs", "b/")
    for args, message in ((("--source", "s3"), "give --logs s3://"), (("--logs", "s3://org-logs/b"), "--logs goes"),
                          (("--source", "s3", "--logs", "s3://Bad_Bucket/x"), "not an S3 URL")):  # fmt: skip
        refused = dry_run(stubbed, monkeypatch, None, "--public", *args, reaches_aws=False)
        assert refused.exit_code == 2 and message in refused.output, refused.output


def test_deploy_against_athena_makes_a_workgroup(stubbed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    athena = dry_run(stubbed, monkeypatch, None, "--public", "--source", "athena", "--logs", "s3://org-logs/b")
    assert athena.exit_code == 0 and "an Athena workgroup (10 GB bytes-scanned limit" in athena.output, athena.output
    assert "Athena in its workgroup and Glue on the bedrock_usage database" in athena.output
