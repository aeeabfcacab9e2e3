"""`doctor`: check that a CloudWatch run can work, and say how to fix what cannot.

Owns the list of checks (credentials, region, log group, records arriving, invocation logging,
the permissions a run needs). Takes a client factory; reads only, changes nothing (a probe query
over one second is started and stopped at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from generator.aws import AWS_ERRORS, error_code, is_denied, reason
from generator.reconcile import coverage
from generator.sources.cloudwatch import CloudWatchOptions

STREAM = "aws/bedrock/modelinvocations"
WEEK = 7 * 24 * 3600
LONGEST_WINDOW_DAYS = 92  # the 90-day window, and last month at its longest


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, whether it passed, and how to fix it if not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    warn: bool = False  # works, but something will be incomplete or cost more than it should

    def line(self) -> str:
        mark = "FAIL" if not self.ok else "warn" if self.warn else "ok  "
        head = f"{mark} {self.name}: {self.detail}"
        return f"{head}\n     fix: {self.fix}" if not self.ok or self.warn else head


def _denied(exc: BaseException, action: str, resource: str) -> Check:
    if is_denied(exc):
        return Check(action, False, f"not allowed ({error_code(exc)})", f"allow {action} on {resource}")
    return Check(action, False, f"failed ({reason(exc)})", "see the error; retry")


def run_checks(
    options: CloudWatchOptions,
    client: Callable[..., Any],
    now: float | None = None,
    coverage_regions: Sequence[str] = (),
) -> list[Check]:
    """Run every check; `client(service, region=...)` makes the clients. With `coverage_regions`, also name each of
    them where Bedrock counted calls in the last week that no log this run reads holds."""
    now = now or time.time()
    checks: list[Check] = []
    try:
        who = client("sts", region=options.regions[0] if options.regions else None).get_caller_identity()
        checks.append(Check("credentials", True, who["Arn"]))
    except AWS_ERRORS as exc:
        cause = reason(exc)
        fix = ("check the network, proxy or AWS_ENDPOINT_URL" if cause.startswith("cannot reach") else
               "set AWS_PROFILE (and run `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")  # fmt: skip
        checks.append(Check("credentials", False, cause, fix))
        return checks
    if not options.regions:
        checks.append(Check("region", False, "none configured", "pass --region or set AWS_REGION"))
        return checks
    for role in (None, *options.assume_roles):
        checks += _account(options, client if role is None else partial(client, role_arn=role), now, role)
    if coverage_regions:
        checks += _unlogged_regions(options, client, now, coverage_regions)
    if any(c.name.startswith("invocation logging") and not c.ok for c in checks):
        checks.append(_pass_role(client("iam", region=options.regions[0]), str(who["Arn"])))  # setup-logging's need
    return checks


def _unlogged_regions(
    options: CloudWatchOptions, client: Callable[..., Any], now: float, regions: Sequence[str]
) -> list[Check]:
    """Regions where Bedrock counted calls in the last seven whole days that this run reads no logs of."""
    today = datetime.fromtimestamp(now, UTC).date()
    days = [today - timedelta(days=i) for i in range(7, 0, -1)]
    moment = datetime.fromtimestamp(now, UTC)
    found = coverage.read(lambda region: client("cloudwatch", region=region), regions, days, None, moment)
    calls: dict[str, int] = {}
    for (region, _), counts in found.days.items():
        calls[region] = calls.get(region, 0) + sum(v[0] for v in counts.models.values())
    checks = [Check("log coverage", True, problem, "grant cloudwatch:ListMetrics and cloudwatch:GetMetricData",
                    warn=True) for problem in found.problems]  # fmt: skip
    for region, n in sorted(calls.items()):
        if not n or region in options.regions:
            continue  # a region this run reads is checked above
        try:
            config = client("bedrock", region=region).get_model_invocation_logging_configuration()
            sent = config.get("loggingConfig") or {}
            where = ("to " + " and ".join(filter(None, [(sent.get("cloudWatchConfig") or {}).get("logGroupName"),
                     (sent.get("s3Config") or {}).get("bucketName")]))) if sent else "off"  # fmt: skip
        except AWS_ERRORS as exc:
            where = f"unknown ({reason(exc)})"
        checks.append(Check(f"calls in {region}", True, f"Bedrock counted {n:,} calls in the last 7 days there, "
                            f"and this run reads no logs of that region (invocation logging {where})",
                            f"turn on invocation logging there (`bedrock-usage setup-logging --region {region}`) "
                            "and read it (--region, or its S3 logs)", warn=True))  # fmt: skip
    return checks


def _pass_role(iam: Any, caller: str, role_name: str = "bedrock-invocation-logging") -> Check:
    """Whether this identity may pass the logging role to Bedrock, as `setup-logging` must."""
    parts = caller.split(":")
    account, resource = parts[4], parts[5]
    if resource.startswith("assumed-role/"):
        caller = f"arn:{parts[1]}:iam::{account}:role/{resource.split('/')[1]}"
    role = f"arn:{parts[1]}:iam::{account}:role/{role_name}"
    name = "iam:PassRole for setup-logging"
    try:
        found = iam.simulate_principal_policy(PolicySourceArn=caller, ActionNames=["iam:PassRole"], ResourceArns=[role])
    except AWS_ERRORS as exc:
        return Check(name, True, f"could not be checked ({reason(exc)})",
                     f"setup-logging needs iam:PassRole on {role}", warn=True)  # fmt: skip
    decision = found["EvaluationResults"][0]["EvalDecision"]
    if decision != "allowed":
        return Check(name, False, f"{decision} for {caller}", f"allow iam:PassRole on {role} to run setup-logging")
    return Check(name, True, f"allowed on {role}")


def _account(options: CloudWatchOptions, client: Callable[..., Any], now: float, role: str | None) -> list[Check]:
    """The checks of one account: ours, or one reached through --assume-role (each of its regions)."""
    checks: list[Check] = []
    if role is not None:
        try:
            who = client("sts", region=options.regions[0]).get_caller_identity()
            checks.append(Check(f"assume {role}", True, f"reads account {who['Account']}"))
        except AWS_ERRORS as exc:
            fix = f"let this identity sts:AssumeRole {role}, and let that role's trust policy name it"
            return [Check(f"assume {role}", False, f"failed ({reason(exc)})", fix)]
    for region in options.regions:
        logs = client("logs", region=region)
        for group in options.log_groups:
            checks += _log_group(logs, region, group, now)
        bedrock = client("bedrock", region=region)
        checks += _logging(bedrock, region, options.log_groups)
        checks += _query_permissions(logs, region, options.log_groups, now)
        checks.append(_profiles_permission(bedrock, region))
    return checks


def _profiles_permission(bedrock: Any, region: str) -> Check:
    """Whether application inference profiles can be read (else their calls stay unpriced, their tags unread)."""
    try:
        bedrock.list_inference_profiles(typeEquals="APPLICATION", maxResults=1)
    except AWS_ERRORS as exc:
        found = _denied(exc, "bedrock:ListInferenceProfiles", f"region {region} (and bedrock:GetInferenceProfile, "
                        "bedrock:ListTagsForResource on its application-inference-profile/*)")  # fmt: skip
        return Check(found.name, True, found.detail + "; calls through application inference profiles stay "
                     "unpriced unless [inference_profiles] maps them", found.fix, warn=True)  # fmt: skip
    return Check("bedrock:ListInferenceProfiles", True, f"allowed in {region}")


def _log_group(logs: Any, region: str, group: str, now: float) -> list[Check]:
    name = f"log group {group} in {region}"
    try:
        found = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
    except AWS_ERRORS as exc:
        return [_denied(exc, "logs:DescribeLogGroups", f"log groups in {region}")]
    mine = [g for g in found if g["logGroupName"] == group]
    if not mine:
        fix = f"create it and enable invocation logging to it (`bedrock-usage setup-logging --log-group {group}`)"
        return [Check(name, False, "does not exist", fix + ", or set LOG_GROUP to the right group")]
    setup = _group_settings(mine[0], name)
    try:
        streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=STREAM).get("logStreams", [])
    except AWS_ERRORS as exc:
        return [Check(name, True, "exists"), *setup, _denied(exc, "logs:DescribeLogStreams", group)]
    last = max((s.get("lastEventTimestamp", 0) for s in streams), default=0) / 1000
    head, records = [Check(name, True, "exists"), *setup], f"records in {group}"
    if not last:
        fix = "enable model invocation logging for this group, then call a model"
        return [*head, Check(records, False, "no Bedrock invocation records yet", fix)]
    if now - last > WEEK:
        when = time.strftime("%Y-%m-%d", time.gmtime(last))
        fix = "check that model invocation logging still points at this group"
        return [*head, Check(records, False, f"the last record is from {when}", fix)]
    return [*head, Check(records, True, "Bedrock records arrive")]


def _group_settings(group: dict[str, Any], name: str) -> list[Check]:
    """Retention and log class: what would make pages incomplete or the query blind."""
    checks = []
    days = group.get("retentionInDays")
    if days is not None and days < LONGEST_WINDOW_DAYS:
        checks.append(Check(f"retention of {name}", True, f"{days} days: the 90-day and last-month pages lose what "
                            "is older than that once the store has to be rebuilt", "raise it to at least 120 days "
                            "(`aws logs put-retention-policy --retention-in-days 120`)", warn=True))  # fmt: skip
    if group.get("logGroupClass") == "INFREQUENT_ACCESS":
        checks.append(Check(f"class of {name}", False, "Infrequent Access: Logs Insights discovers no fields there",
                            "send invocation logs to a Standard log group"))  # fmt: skip
    return checks


def _logging(bedrock: Any, region: str, groups: tuple[str, ...]) -> list[Check]:
    name = f"invocation logging in {region}"
    try:
        config = bedrock.get_model_invocation_logging_configuration().get("loggingConfig") or {}
    except AWS_ERRORS as exc:
        return [_denied(exc, "bedrock:GetModelInvocationLoggingConfiguration", f"region {region}")]
    target = (config.get("cloudWatchConfig") or {}).get("logGroupName")
    if not target:
        return [Check(name, False, "off, or not sent to CloudWatch Logs", "run `bedrock-usage setup-logging`")]
    if target not in groups:
        return [Check(name, False, f"sends to {target}, not to {', '.join(groups)}", f"pass --log-group {target}")]
    checks = [Check(name, True, f"sends to {target}")]
    if config.get("textDataDeliveryEnabled"):
        checks.append(Check(f"body logging in {region}", True, "on: every prompt and response is logged, so each "
                            "record holds hundreds of fields (past Logs Insights' 200-field discovery; this tool "
                            "parses the counts from the raw message) and every query scans the bodies too",
                            "turn text delivery off unless you need the bodies (token counts are all this tool "
                            "reads), or read the S3 delivery instead", warn=True))  # fmt: skip
    return checks


def _query_permissions(logs: Any, region: str, groups: tuple[str, ...], now: float) -> list[Check]:
    resource = f"log groups {', '.join(groups)} in {region}"
    try:
        query_id = logs.start_query(logGroupNames=list(groups), startTime=int(now) - 1, endTime=int(now),
                                    queryString="fields @timestamp | limit 1")["queryId"]  # fmt: skip
    except AWS_ERRORS as exc:
        return [_denied(exc, "logs:StartQuery", resource)]
    checks = [Check("logs:StartQuery", True, f"allowed in {region}")]
    try:
        logs.get_query_results(queryId=query_id)
        checks.append(Check("logs:GetQueryResults", True, f"allowed in {region}"))
    except AWS_ERRORS as exc:
        checks.append(_denied(exc, "logs:GetQueryResults", resource))
    try:
        logs.stop_query(queryId=query_id)
        checks.append(Check("logs:StopQuery", True, f"allowed in {region}"))
    except AWS_ERRORS as exc:
        code = error_code(exc)
        if code == "InvalidParameterException":  # already finished: the call itself was allowed
            checks.append(Check("logs:StopQuery", True, f"allowed in {region}"))
        else:
            checks.append(_denied(exc, "logs:StopQuery", resource))
    return checks
