"""The CloudFormation template: cfn-lint clean, and its security properties asserted one by one."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from generator.deploy import EDGE_FUNCTION, build_template, render_template
from generator.errors import ConfigError
from generator.headers import CONTENT_SECURITY_POLICY, HSTS
from tests.conftest import ROOT

GROUPS = ["/aws/bedrock/modelinvocations", "/team-b/bedrock"]
# AWS allows only "*" for these
NO_RESOURCE_LEVEL = {
    "logs:GetQueryResults",
    "logs:StopQuery",
    "ce:GetCostAndUsage",
    "pricing:GetProducts",
    "bedrock:ListInferenceProfiles",
    "cloudwatch:ListMetrics",
    "cloudwatch:GetMetricData",
}


@pytest.fixture(scope="module")
def text() -> str:
    return render_template(GROUPS)


@pytest.fixture(scope="module")
def template(text: str) -> dict[str, Any]:
    decoded, problems = decode_str(text)
    assert not problems and decoded is not None
    return dict(decoded)


def edge_function(cidrs: str, sign_in: str, stack: str) -> str:
    """The edge code as CloudFront runs it once the stack's Fn::Sub filled in its parameters."""
    values = {"SubnetsOnly": cidrs, "SignIn": sign_in, "AWS::StackName": stack}
    return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], EDGE_FUNCTION.read_text())


def unwrap(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Policy statements with conditional ones (`!If [cond, statement, NoValue]`) taken as present."""
    return [s["Fn::If"][1] if "Fn::If" in s else s for s in statements]


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def one(template: dict[str, Any], kind: str, name: str | None = None) -> dict[str, Any]:
    found = resources(template, kind)
    (only,) = [found[name]] if name else found.values()
    return dict(only["Properties"])


def test_cfn_lint_passes(text: str, tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    lint = Path(sys.executable).parent / "cfn-lint"
    done = subprocess.run([str(lint), str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bucket_is_private_encrypted_and_versioned(template: dict[str, Any]) -> None:
    bucket = one(template, "AWS::S3::Bucket", "SiteBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert "WebsiteConfiguration" not in bucket and "AccessControl" not in bucket


def test_bucket_policy_is_tls_only_and_cloudfront_only(template: dict[str, Any]) -> None:
    statements = one(template, "AWS::S3::BucketPolicy", "SiteBucketPolicy")["PolicyDocument"]["Statement"]
    tls = [s for s in statements if s["Effect"] == "Deny" and "Condition" in s]
    assert tls and tls[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and tls[0]["Action"] == "s3:*"
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows and all(s["Principal"] == {"Service": "cloudfront.amazonaws.com"} for s in allows)
    assert all("AWS:SourceArn" in s["Condition"]["StringEquals"] for s in allows)
    hidden = [s for s in statements if s.get("Sid") == "NeverServeTheStore"]
    assert hidden and ".bedrock-usage-state/*" in str(hidden[0]["Resource"])


def test_distribution_uses_oac_https_and_the_headers_policy(template: dict[str, Any]) -> None:
    config = one(template, "AWS::CloudFront::Distribution")["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    origin, sign_in = config["Origins"]
    assert sign_in["Fn::If"][0] == "HasSignIn"
    assert "OriginAccessControlId" in origin and origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "HeadersPolicy"}
    assert (
        one(template, "AWS::CloudFront::OriginAccessControl", "OriginAccessControl")["OriginAccessControlConfig"][
            "SigningBehavior"
        ]
        == "always"
    )
    security = one(template, "AWS::CloudFront::ResponseHeadersPolicy")["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]
    assert security["ContentSecurityPolicy"]["ContentSecurityPolicy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert f"max-age={security['StrictTransportSecurity']['AccessControlMaxAgeSec']}" in HSTS
    assert security["ContentTypeOptions"]["Override"] is True
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    cache = one(template, "AWS::CloudFront::CachePolicy")["CachePolicyConfig"]
    assert cache["MinTTL"] == 0  # so the origin's short Cache-Control on pages and data is honoured


def test_edge_function_runs_only_when_a_restriction_is_asked_for(template: dict[str, Any]) -> None:
    function = template["Resources"]["EdgeFunction"]
    assert function["Condition"] == "HasEdgeFunction"
    assert template["Conditions"]["HasEdgeFunction"] == {"Fn::Or": [{"Condition": "HasSubnets"},
                                                                    {"Condition": "HasSignIn"}]}  # fmt: skip
    code = str(function["Properties"]["FunctionCode"])
    assert set(re.findall(r"\$\{([^}]+)\}", code)) == {"SubnetsOnly", "SignIn", "AWS::StackName"}
    assert function["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert 'var ALLOWED = "10.0.0.0/8";' in edge_function("10.0.0.0/8", "none", "a")
    assert "AllowedValues" in template["Parameters"]["SignIn"]  # values that reach the code admit no quote or backslash
    # the session key is in no parameter and no code: the function reads it from its KeyValueStore, with sign-in
    assert not [name for name in template["Parameters"] if "Session" in name]
    condition, (association,), _ = function["Properties"]["FunctionConfig"]["KeyValueStoreAssociations"]["Fn::If"]
    assert condition == "HasSignIn" and association == {"KeyValueStoreARN": {"Fn::GetAtt": ["SessionKeyStore", "Arn"]}}


def test_every_iam_statement_is_scoped(template: dict[str, Any]) -> None:
    for name, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:
                    condition, statement, _ = statement["Fn::If"]
                    assert condition in (
                        "HasCostExplorer",
                        "HasCur",
                        "HasAssumeRoles",
                        "ReadsCloudWatch",
                        "ReadsS3",
                        "ReadsAthena",
                    )
                    if condition == "HasAssumeRoles":
                        assert statement["Resource"] == {"Fn::Split": [",", {"Ref": "AssumeRoles"}]}
                        continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in a for a in actions), (name, actions)
                if statement["Resource"] == "*":
                    assert set(actions) <= NO_RESOURCE_LEVEL, (name, actions)


def test_lambda_may_query_only_the_configured_log_groups(template: dict[str, Any]) -> None:
    role = template["Resources"]["PublishRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (query,) = [s for s in unwrap(role) if s.get("Action") == "logs:StartQuery"]
    arns = [r["Fn::Sub"] for r in query["Resource"]]
    assert arns == [f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{g}{tail}"
                    for g in GROUPS for tail in ("", ":*")]  # fmt: skip
    (invalidate,) = [s for s in role if s.get("Action") == "cloudfront:CreateInvalidation"]
    assert "distribution/${Distribution}" in invalidate["Resource"]["Fn::Sub"]
    env = template["Resources"]["PublishFunction"]["Properties"]["Environment"]["Variables"]
    assert env["LOG_GROUP"] == ",".join(GROUPS)
    assert env["SOURCE"] == {
        "Fn::If": ["ReadsCloudWatch", "cloudwatch", {"Fn::If": ["ReadsAthena", "athena", "files"]}]
    }


def test_schedule_has_a_dead_letter_queue_and_an_alarm(template: dict[str, Any]) -> None:
    schedule = one(template, "AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == {"Ref": "Schedule"}
    assert schedule["Target"]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    alarm = one(template, "AWS::CloudWatch::Alarm", "FailureAlarm")
    assert alarm["MetricName"] == "Errors" and alarm["Threshold"] == 1
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]  # someone hears of it


def test_template_ships_in_the_package() -> None:
    for name in ("stack.yaml", "edge.js", "signin.py"):
        assert (ROOT / "generator/deploy" / name).is_file()


def test_node_edge_function_tests() -> None:
    done = subprocess.run(["node", "--test", str(ROOT / "tests/js")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout


def test_the_scheduled_run_may_read_current_prices(template: dict[str, Any]) -> None:
    role = template["Resources"]["PublishRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (prices,) = [s for s in role if s.get("Action") == "pricing:GetProducts"]
    assert prices["Effect"] == "Allow" and prices["Resource"] == "*"


def test_a_failed_run_is_not_retried_and_lands_in_the_queue(template: dict[str, Any]) -> None:
    config = one(template, "AWS::Lambda::EventInvokeConfig")
    assert config["MaximumRetryAttempts"] == 0  # a retry would run (and pay for) the Insights scans again
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    role = template["Resources"]["PublishRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert any(s.get("Action") == "sqs:SendMessage" for s in role)
    queued = one(template, "AWS::CloudWatch::Alarm", "FailedRunsAlarm")
    assert queued["MetricName"] == "ApproximateNumberOfMessagesVisible" and queued["AlarmActions"] == [
        {"Ref": "AlarmTopic"}]  # fmt: skip


def test_the_alarm_can_email_someone(template: dict[str, Any]) -> None:
    subscription = template["Resources"]["AlarmSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email",
                                          "Endpoint": {"Ref": "AlarmEmail"}}  # fmt: skip
    policy = one(template, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and "aws:SourceAccount" in str(policy)


def test_the_timeout_leaves_room_after_the_insights_deadline(template: dict[str, Any]) -> None:
    function = one(template, "AWS::Lambda::Function", "PublishFunction")
    assert function["Timeout"] == {"Ref": "FunctionTimeout"}
    assert function["Environment"]["Variables"]["INSIGHTS_DEADLINE"] == {"Ref": "InsightsDeadline"}
    params = template["Parameters"]
    assert params["InsightsDeadline"]["MaxValue"] + 120 == params["FunctionTimeout"]["MaxValue"]


def test_access_logs_are_optional_and_private(template: dict[str, Any]) -> None:
    logs = template["Resources"]["LogBucket"]
    assert logs["Condition"] == "HasAccessLogs" and all(logs["Properties"]["PublicAccessBlockConfiguration"].values())
    site = one(template, "AWS::S3::Bucket", "SiteBucket")
    assert site["LoggingConfiguration"]["Fn::If"][0] == "HasAccessLogs"
    config = one(template, "AWS::CloudFront::Distribution")["DistributionConfig"]
    assert config["Logging"]["Fn::If"][0] == "HasAccessLogs"


def test_the_stack_refuses_to_be_open_unless_public(template: dict[str, Any]) -> None:
    rule = template["Rules"]["PrivateUnlessSaidOtherwise"]
    assert rule["RuleCondition"] == {"Fn::And": [{"Fn::Equals": [{"Ref": "SubnetsOnly"}, ""]},
                                                 {"Fn::Equals": [{"Ref": "SignIn"}, "none"]}]}  # fmt: skip
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "Public"}, "true"]}


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("10.0.0.0/8", True), ("10.0.0.0/8,2001:db8::/32", True), ("::/0", True),
     ('10.0.0.0/8"; ALLOWED = "0.0.0.0/0,::/0', False), ("10.0.0.0/8 ", False), ("10.0.0.0", False),
     ("10.0.0.0/8,", False), ("x/8", False)],
)  # fmt: skip
def test_subnets_only_accepts_cidrs_and_nothing_else(template: dict[str, Any], value: str, ok: bool) -> None:
    import re

    pattern = template["Parameters"]["SubnetsOnly"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is ok


def test_sign_in_is_a_private_cognito_pool_behind_the_edge(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for name in ("UserPool", "UserPoolDomain", "UserPoolClient", "SignInFunction", "SignInUrl", "SignInSettings"):
        assert resources[name]["Condition"] == "HasSignIn", name
    pool = resources["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # nobody signs themselves up
    client = resources["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False and client["AllowedOAuthFlows"] == ["code"]
    assert "_auth/callback" in str(client["CallbackURLs"])
    url = resources["SignInUrl"]["Properties"]
    assert url["AuthType"] == "AWS_IAM"  # only CloudFront, signing with Origin Access Control, can call it
    permission = resources["SignInUrlPermission"]["Properties"]
    assert permission["Principal"] == "cloudfront.amazonaws.com" and "distribution/${Distribution}" in str(
        permission["SourceArn"])  # fmt: skip
    control = resources["SignInAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert control["OriginAccessControlOriginType"] == "lambda" and control["SigningBehavior"] == "always"
    env = resources["SignInFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SESSION_SECRET"] == {"Ref": "SessionSecret"} and env["AUDIENCE"] == {
        "Fn::Sub": "bedrock-usage-site:${AWS::StackName}"}  # fmt: skip
    assert not [name for name in env if "KEY" in name]  # the key itself is never in the environment
    # the stack makes the key at random, in the shape sessionkeys.py reads: {"current": 64 letters and digits, ...}
    secret = resources["SessionSecret"]
    assert secret["Condition"] == "HasSignIn" and "SecretString" not in secret["Properties"]
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "current" and generated["PasswordLength"] == 64
    assert generated["ExcludePunctuation"] is True
    assert json.loads(generated["SecretStringTemplate"]) == {"previous": "", "previous_until": 0}
    assert resources["SessionKeyStore"]["Condition"] == "HasSignIn"
    reads = [s for s in resources["SignInRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
             if "secretsmanager" in str(s["Action"])]  # fmt: skip
    assert reads == [{"Sid": "ReadTheSessionKeys", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                      "Resource": {"Ref": "SessionSecret"}}]  # fmt: skip
    outputs = template["Outputs"]
    assert outputs["SessionSecretArn"]["Value"] == {"Ref": "SessionSecret"}
    assert outputs["SessionKeyStoreArn"]["Value"] == {"Fn::GetAtt": ["SessionKeyStore", "Arn"]}
    assert resources["SignInFunction"]["Properties"]["Handler"] == "generator.deploy.signin.handler"


def test_sign_in_paths_go_to_the_lambda_and_still_pass_the_allow_list(template: dict[str, Any]) -> None:
    config = one(template, "AWS::CloudFront::Distribution")["DistributionConfig"]
    condition, (auth,), _ = config["CacheBehaviors"]["Fn::If"]
    assert condition == "HasSignIn" and auth["PathPattern"] == "/_auth/*" and auth["TargetOriginId"] == "sign-in"
    assert auth["FunctionAssociations"][0]["FunctionARN"] == {
        "Fn::GetAtt": ["EdgeFunction", "FunctionMetadata.FunctionARN"]}  # fmt: skip
    assert auth["ViewerProtocolPolicy"] == "https-only"


@pytest.mark.parametrize("url", ["https://portal.sso.us-east-1.amazonaws.com/saml/metadata/abc", ""])
def test_federation_parameters(template: dict[str, Any], url: str) -> None:
    import re

    assert re.fullmatch(template["Parameters"]["SamlMetadataUrl"]["AllowedPattern"], url)
    assert not re.fullmatch(template["Parameters"]["SamlMetadataUrl"]["AllowedPattern"], 'https://x"y')
    assert template["Parameters"]["OidcClientSecret"]["NoEcho"] is True


def test_a_source_accounts_log_group_is_granted_by_its_arn(tmp_path: Path) -> None:
    arn = "arn:aws:logs:us-east-1:210987654321:log-group:/aws/bedrock/modelinvocations"
    text = render_template([GROUPS[0], arn])
    decoded, problems = decode_str(text)
    assert not problems and decoded is not None
    role = decoded["Resources"]["PublishRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (query,) = [s for s in unwrap(role) if s.get("Action") == "logs:StartQuery"]
    assert arn in query["Resource"] and arn + ":*" in query["Resource"]
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    done = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_s3_and_athena_reading_is_least_privilege(template: dict[str, Any]) -> None:
    role = template["Resources"]["PublishRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    guarded = {s["Fn::If"][1]["Sid"]: (s["Fn::If"][0], s["Fn::If"][1]) for s in role if "Fn::If" in s}
    condition, listing = guarded["ListTheLogPrefix"]
    assert condition == "ReadsS3" and listing["Action"] == ["s3:ListBucket", "s3:GetBucketLocation"]
    assert listing["Condition"]["StringLike"]["s3:prefix"] == [{"Fn::Sub": "${LogsPrefix}AWSLogs/*"},
                                                               {"Fn::Sub": "${LogsPrefix}AWSLogs/"}]  # fmt: skip
    condition, objects = guarded["ReadTheLogObjects"]
    assert objects["Action"] == "s3:GetObject"
    assert objects["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${LogsBucket}/${LogsPrefix}AWSLogs/*"}
    condition, queries = guarded["RunQueriesInTheWorkgroup"]
    assert condition == "ReadsAthena" and "workgroup/${AthenaWorkGroup}" in queries["Resource"]["Fn::Sub"]
    assert guarded["QueryTheInvocationLogs"][0] == "ReadsCloudWatch"  # no Insights rights when reading S3
    workgroup = template["Resources"]["AthenaWorkGroup"]
    config = workgroup["Properties"]["WorkGroupConfiguration"]
    assert workgroup["Condition"] == "ReadsAthena" and config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaScanLimitBytes"}
    assert ".bedrock-usage-state/athena-results/" in config["ResultConfiguration"]["OutputLocation"]["Fn::Sub"]
    env = template["Resources"]["PublishFunction"]["Properties"]["Environment"]["Variables"]
    assert env["LOGS"]["Fn::If"][0] == "ReadsS3" and env["ATHENA_WORKGROUP"]["Fn::If"][0] == "ReadsAthena"


def test_deploy_cur_reads_only_its_prefix() -> None:
    from generator.deploy.cloudformation import DeployRequest

    request = DeployRequest(stack="usage", region="us-east-1", log_groups=(GROUPS[0],), cur="s3://billing/cur/")
    request.check()
    request = DeployRequest(stack="usage", region="us-east-1", log_groups=(GROUPS[0],), cur="s3://billing/cur/",
                            public=True)  # fmt: skip
    params = {p["ParameterKey"]: p.get("ParameterValue") for p in request.parameters("b", "k", request.access(None))}
    assert (params["CurBucket"], params["CurPrefix"]) == ("billing", "cur/")
    template = build_template(GROUPS)
    role = template["Resources"]["PublishRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    found = {s["Fn::If"][1]["Sid"]: s["Fn::If"] for s in role if "Fn::If" in s and s["Fn::If"][0] == "HasCur"}
    assert found["ReadTheCurExport"][1]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${CurBucket}/${CurPrefix}*"
    }
    assert found["ListTheCurExport"][1]["Condition"] == {"StringLike": {"s3:prefix": [{"Fn::Sub": "${CurPrefix}*"}]}}
    env = template["Resources"]["PublishFunction"]["Properties"]["Environment"]["Variables"]
    assert env["CUR"]["Fn::If"][0] == "HasCur"
    with pytest.raises(ConfigError, match="give --cost-explorer or --cur"):
        DeployRequest(stack="usage", region="us-east-1", log_groups=(GROUPS[0],), cur="s3://b/p/",
                      cost_explorer=True).check()  # fmt: skip
    with pytest.raises(ConfigError, match="--cur 'https://x': not an S3 URL"):
        DeployRequest(stack="usage", region="us-east-1", log_groups=(GROUPS[0],), cur="https://x").check()
