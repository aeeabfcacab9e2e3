"""`doctor` explains each missing permission: Stubber-backed STS, Logs and Bedrock clients."""

from typing import Any

import pytest
from click.testing import CliRunner

from generator import aws
from generator.cli import cli
from generator.doctor import run_checks
from generator.sources.cloudwatch import CloudWatchOptions

NOW = 1_800_000_000.0
GROUP = "/aws/bedrock/modelinvocations"
OPTIONS = CloudWatchOptions(log_groups=(GROUP,), regions=("us-east-1",))


@pytest.fixture
def clients(stubbed: Any) -> dict[str, Any]:
    return {name: stubbed(name) for name in ("sts", "logs", "bedrock", "iam")}


def healthy(clients: dict[str, Any], *, deny: str = "", group: dict[str, Any] | None = None,
            text: bool = False) -> None:  # fmt: skip
    sts, logs, bedrock = (clients[n][1] for n in ("sts", "logs", "bedrock"))
    sts.add_response("get_caller_identity", {"Arn": "arn:aws:iam::123456789012:user/ann", "Account": "123456789012",
                                             "UserId": "AIDA"})  # fmt: skip
    found = {"logGroupName": GROUP, **(group or {})}
    logs.add_response("describe_log_groups", {"logGroups": [found]}, {"logGroupNamePrefix": GROUP})
    logs.add_response(
        "describe_log_streams",
        {
            "logStreams": [
                {"logStreamName": "aws/bedrock/modelinvocations", "lastEventTimestamp": int(NOW * 1000) - 60_000}
            ]
        },
        {"logGroupName": GROUP, "logStreamNamePrefix": "aws/bedrock/modelinvocations"},
    )
    if deny == "bedrock":
        bedrock.add_client_error("get_model_invocation_logging_configuration", "AccessDeniedException", "no")
    else:
        config = {"loggingConfig": {"cloudWatchConfig": {"logGroupName": GROUP, "roleArn": "arn:r"},
                                    "textDataDeliveryEnabled": text}}  # fmt: skip
        bedrock.add_response("get_model_invocation_logging_configuration", config)
    if deny == "start":
        logs.add_client_error("start_query", "AccessDeniedException", "no")
        return
    logs.add_response("start_query", {"queryId": "q"})
    if deny == "results":
        logs.add_client_error("get_query_results", "AccessDeniedException", "no")
    else:
        logs.add_response("get_query_results", {"status": "Complete", "results": []}, {"queryId": "q"})
    if deny == "stop":
        logs.add_client_error("stop_query", "AccessDeniedException", "no")
    else:
        logs.add_response("stop_query", {"success": True}, {"queryId": "q"})


def factory(clients: dict[str, Any]) -> Any:
    return lambda service, **_: clients[service][0]


def test_all_good(clients: dict[str, Any]) -> None:
    healthy(clients)
    checks = run_checks(OPTIONS, factory(clients), NOW)
    assert all(c.ok for c in checks), [c.line() for c in checks]
    assert {c.name for c in checks} >= {"credentials", "logs:StartQuery", "logs:GetQueryResults", "logs:StopQuery"}


@pytest.mark.parametrize(
    ("deny", "action"),
    [
        ("bedrock", "bedrock:GetModelInvocationLoggingConfiguration"),
        ("start", "logs:StartQuery"),
        ("results", "logs:GetQueryResults"),
        ("stop", "logs:StopQuery"),
    ],
)
def test_each_missing_permission_is_explained(clients: dict[str, Any], deny: str, action: str) -> None:
    healthy(clients, deny=deny)
    (failed,) = [c for c in run_checks(OPTIONS, factory(clients), NOW) if not c.ok]
    assert failed.name == action and "not allowed (AccessDeniedException)" in failed.detail
    assert failed.fix.startswith(f"allow {action} on ")


def test_missing_log_group_and_logging_off(clients: dict[str, Any]) -> None:
    sts, logs, bedrock = (clients[n][1] for n in ("sts", "logs", "bedrock"))
    sts.add_response("get_caller_identity", {"Arn": "arn:aws:sts::123456789012:assumed-role/Admin/ann",
                                             "Account": "123456789012", "UserId": "A"})  # fmt: skip
    logs.add_response("describe_log_groups", {"logGroups": []}, {"logGroupNamePrefix": GROUP})
    bedrock.add_response("get_model_invocation_logging_configuration", {})
    logs.add_response("start_query", {"queryId": "q"})
    logs.add_response("get_query_results", {"status": "Complete", "results": []}, {"queryId": "q"})
    logs.add_client_error("stop_query", "InvalidParameterException", "query already finished")
    clients["iam"][1].add_response(
        "simulate_principal_policy",
        {"EvaluationResults": [{"EvalActionName": "iam:PassRole", "EvalDecision": "implicitDeny"}]},
        {"PolicySourceArn": "arn:aws:iam::123456789012:role/Admin", "ActionNames": ["iam:PassRole"],
         "ResourceArns": ["arn:aws:iam::123456789012:role/bedrock-invocation-logging"]},
    )  # fmt: skip
    failed = [c for c in run_checks(OPTIONS, factory(clients), NOW) if not c.ok]
    assert [c.detail for c in failed] == [
        "does not exist",
        "off, or not sent to CloudWatch Logs",
        "implicitDeny for arn:aws:iam::123456789012:role/Admin",
    ]
    assert "setup-logging" in failed[0].fix and "setup-logging" in failed[1].fix
    assert "iam:PassRole on arn:aws:iam::123456789012:role/bedrock-invocation-logging" in failed[2].fix


def test_no_credentials(clients: dict[str, Any]) -> None:
    clients["sts"][1].add_client_error("get_caller_identity", "ExpiredToken", "expired")
    (check,) = run_checks(OPTIONS, factory(clients), NOW)
    assert not check.ok and "AWS_PROFILE" in check.fix


def test_doctor_cli_exit_codes(clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    healthy(clients, deny="stop")
    monkeypatch.setattr(aws, "client", lambda service, **_: clients[service][0])
    result = CliRunner().invoke(cli, ["doctor", "--region", "us-east-1"])
    assert result.exit_code == 1
    assert "FAIL logs:StopQuery: not allowed" in result.output and "fix: allow logs:StopQuery on" in result.output
    assert "1 check(s) failed" in result.output


def test_what_would_make_pages_incomplete_or_queries_blind(clients: dict[str, Any]) -> None:
    healthy(clients, group={"retentionInDays": 30, "logGroupClass": "INFREQUENT_ACCESS"}, text=True)
    checks = {c.name: c for c in run_checks(OPTIONS, factory(clients), NOW)}
    retention = checks[f"retention of log group {GROUP} in us-east-1"]
    assert retention.ok and retention.warn and "30 days" in retention.detail and "120" in retention.fix
    log_class = checks[f"class of log group {GROUP} in us-east-1"]
    assert not log_class.ok and "Infrequent Access" in log_class.detail
    body = checks["body logging in us-east-1"]
    assert body.warn and "200-field" in body.detail and body.line().startswith("warn ")


def test_setup_logging_takes_only_cloudwatchs_retention_values() -> None:
    from generator.cli import RETENTION_DAYS

    assert RETENTION_DAYS == (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                              2557, 2922, 3288, 3653)  # fmt: skip
    result = CliRunner().invoke(cli, ["setup-logging", "--retention-days", "45", "--dry-run"])
    assert result.exit_code == 2 and "'45' is not one of" in result.output


def test_each_account_reached_through_a_role_is_checked(clients: dict[str, Any]) -> None:
    healthy(clients)
    role = "arn:aws:iam::210987654321:role/bedrock-usage-read"
    made: list[str | None] = []

    def client(service: str, **kwargs: Any) -> Any:
        made.append(kwargs.get("role_arn"))
        if kwargs.get("role_arn"):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "AssumeRole")
        return clients[service][0]

    options = CloudWatchOptions(log_groups=(GROUP,), regions=("us-east-1",), assume_roles=(role,))
    checks = run_checks(options, client, NOW)
    (denied,) = [c for c in checks if c.name == f"assume {role}"]
    assert not denied.ok and "sts:AssumeRole" in denied.fix and role in made


class Metrics:
    """CloudWatch that lists one ModelId and gives it `calls` a day (as moto's answers look)."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def list_metrics(self, Namespace: str, **_: Any) -> dict[str, Any]:
        dims = [{"Name": "ModelId", "Value": "amazon.nova-lite-v1:0"}]
        return {"Metrics": [{"MetricName": "Invocations", "Dimensions": dims}] if Namespace == "AWS/Bedrock" else []}

    def get_metric_data(self, StartTime: Any, EndTime: Any, **_: Any) -> dict[str, Any]:
        from datetime import timedelta

        stamps = [StartTime + timedelta(days=i) for i in range((EndTime - StartTime).days)]
        return {"MetricDataResults": [{"Id": "m0", "Timestamps": stamps, "Values": [self.calls] * len(stamps)}]}


def test_regions_with_calls_and_no_logs_read_are_named(clients: dict[str, Any], stubbed: Any) -> None:
    healthy(clients)
    other, other_stub = stubbed("bedrock", "eu-west-1")
    other_stub.add_response("get_model_invocation_logging_configuration", {})
    by_region = {"us-east-1": Metrics(5), "eu-west-1": Metrics(3), "ap-south-1": Metrics(0)}

    def client(service: str, region: str | None = None, **_: Any) -> Any:
        if service == "cloudwatch":
            return by_region[str(region)]
        return other if (service, region) == ("bedrock", "eu-west-1") else clients[service][0]

    checks = run_checks(OPTIONS, client, NOW, coverage_regions=("us-east-1", "eu-west-1", "ap-south-1"))
    (named,) = [c for c in checks if c.name.startswith("calls in")]
    assert named.name == "calls in eu-west-1" and named.ok and named.warn
    assert "Bedrock counted 21 calls in the last 7 days there" in named.detail and "logging off" in named.detail
    assert "setup-logging --region eu-west-1" in named.fix
    assert all(c.ok for c in checks)  # a warning, not a failure: the run works, it just misses that region
