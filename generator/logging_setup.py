"""`setup-logging`: turn on Bedrock model-invocation logging to a CloudWatch log group, idempotently.

Owns the plan (create the log group and its retention, the role Bedrock assumes to write logs,
its policy, and the logging configuration), each step with its reason, computed from what exists;
`apply_plan` carries it out. Takes clients; a second run plans nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.aws import AWS_ERRORS, error_code

STREAM = "aws/bedrock/modelinvocations"
POLICY_NAME = "write-bedrock-invocation-logs"


@dataclass(frozen=True)
class Step:
    """One change: what, why, and the API call that makes it."""

    action: str
    reason: str
    service: str
    method: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def trust_policy(account: str, region: str) -> dict[str, Any]:
    """Only Bedrock, acting for this account, may assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": f"arn:aws:bedrock:{region}:{account}:*"},
            },
        }],
    }  # fmt: skip


def write_policy(account: str, region: str, group: str) -> dict[str, Any]:
    """Write access to the invocation-log stream of one group, nothing else."""
    arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{arn}:log-stream:{STREAM}",
        }],
    }  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def plan_logging(
    clients: Mapping[str, Any], *, log_group: str, retention_days: int | None, role_name: str, region: str
) -> list[Step]:
    """Compare what exists with what logging needs; return the steps that close the gap."""
    logs, iam, bedrock = clients["logs"], clients["iam"], clients["bedrock"]
    account = clients["sts"].get_caller_identity()["Account"]
    steps = []
    found = [g for g in logs.describe_log_groups(logGroupNamePrefix=log_group).get("logGroups", [])
             if g["logGroupName"] == log_group]  # fmt: skip
    if not found:
        steps.append(Step(f"create log group {log_group}", "it does not exist", "logs", "create_log_group",
                          {"logGroupName": log_group}))  # fmt: skip
    if retention_days and (not found or found[0].get("retentionInDays") != retention_days):
        had = found[0].get("retentionInDays", "never expire") if found else "new group"
        retention = {"logGroupName": log_group, "retentionInDays": retention_days}
        steps.append(Step(f"keep its logs {retention_days} days", f"retention is {had}", "logs",
                          "put_retention_policy", retention))  # fmt: skip
    trust = trust_policy(account, region)
    role_arn = f"arn:aws:iam::{account}:role/{role_name}"
    try:
        role = iam.get_role(RoleName=role_name)["Role"]
        if not _same(role["AssumeRolePolicyDocument"], trust):
            update = {"RoleName": role_name, "PolicyDocument": json.dumps(trust)}
            steps.append(Step(f"limit who may assume role {role_name}", "its trust policy differs", "iam",
                              "update_assume_role_policy", update))  # fmt: skip
    except AWS_ERRORS as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        create = {"RoleName": role_name, "AssumeRolePolicyDocument": json.dumps(trust),
                  "Description": "Lets Amazon Bedrock write model-invocation logs"}  # fmt: skip
        steps.append(Step(f"create role {role_name} for Bedrock to write logs", "it does not exist", "iam",
                          "create_role", create))  # fmt: skip
    policy = write_policy(account, region, log_group)
    try:
        current = iam.get_role_policy(RoleName=role_name, PolicyName=POLICY_NAME)["PolicyDocument"]
        current = json.loads(current) if isinstance(current, str) else current
    except AWS_ERRORS as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        current = None
    if current is None or not _same(current, policy):
        steps.append(Step(f"allow role {role_name} to write to {log_group}", "its policy is missing or differs",
                          "iam", "put_role_policy", {"RoleName": role_name, "PolicyName": POLICY_NAME,
                                                     "PolicyDocument": json.dumps(policy)}))  # fmt: skip
    config = bedrock.get_model_invocation_logging_configuration().get("loggingConfig") or {}
    wanted = {"logGroupName": log_group, "roleArn": role_arn}
    have = config.get("cloudWatchConfig") or {}
    if {k: have.get(k) for k in wanted} != wanted:
        # Keep the account's other choices (S3 delivery, which bodies are logged); new configs log no
        # bodies: token counts are all this tool needs, and prompts stay out of the logs.
        merged = {"textDataDeliveryEnabled": False, "imageDataDeliveryEnabled": False,
                  "embeddingDataDeliveryEnabled": False, **config, "cloudWatchConfig": {**have, **wanted}}  # fmt: skip
        reason = f"it sends to {have['logGroupName']}" if have.get("logGroupName") else "it is off"
        steps.append(Step(f"send Bedrock invocation logs in {region} to {log_group}", reason, "bedrock",
                          "put_model_invocation_logging_configuration", {"loggingConfig": merged}))  # fmt: skip
    return steps


def apply_plan(steps: list[Step], clients: Mapping[str, Any], sleep: Callable[[float], None] = time.sleep) -> None:
    """Carry out the steps in order; wait out IAM's delay before Bedrock may use a new role."""
    for step in steps:
        for attempt in range(8):
            try:
                getattr(clients[step.service], step.method)(**step.kwargs)
                break
            except AWS_ERRORS as exc:
                if step.service != "bedrock" or error_code(exc) != "ValidationException" or attempt == 7:
                    raise
                sleep(2.0 * (attempt + 1))  # a new role takes seconds to become assumable


LOGS_SID = "AllowBedrockInvocationLogs"
EXPIRE_RULE = "bedrock-usage-expire-invocation-logs"


def bucket_statement(bucket: str, prefix: str, account: str, region: str) -> dict[str, Any]:
    """Bedrock, acting for this account from this region, may write log objects under the prefix, nothing else."""
    return {
        "Sid": LOGS_SID,
        "Effect": "Allow",
        "Principal": {"Service": "bedrock.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}AWSLogs/{account}/BedrockModelInvocationLogs/*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": f"arn:aws:bedrock:{region}:{account}:*"},
        },
    }


def plan_s3_logging(
    clients: Mapping[str, Any], *, bucket: str, prefix: str, expire_days: int | None, region: str
) -> list[Step]:
    """Steps that make Bedrock deliver invocation logs to `s3://bucket/prefix`: a private bucket, its policy,
    an optional expiry of the logs, and the logging configuration. Other statements and rules are kept."""
    s3, bedrock = clients["s3"], clients["bedrock"]
    account = clients["sts"].get_caller_identity()["Account"]
    steps = []
    try:
        s3.head_bucket(Bucket=bucket)
        exists = True
    except AWS_ERRORS as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        exists = False
    if not exists:
        create: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
        if region != "us-east-1":
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        steps.append(Step(f"create private bucket {bucket}", "it does not exist", "s3", "create_bucket", create))
        private = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                   "RestrictPublicBuckets": True}  # fmt: skip
        steps.append(Step(f"block public access to {bucket}", "a new bucket", "s3", "put_public_access_block",
                          {"Bucket": bucket, "PublicAccessBlockConfiguration": private}))  # fmt: skip
    policy: dict[str, Any] = _bucket_policy(s3, bucket) if exists else {"Version": "2012-10-17", "Statement": []}
    wanted = bucket_statement(bucket, prefix, account, region)
    others = [s for s in policy.get("Statement", []) if s.get("Sid") != LOGS_SID]
    if not any(_same(s, wanted) for s in policy.get("Statement", [])):
        document = {**policy, "Statement": [*others, wanted]}
        steps.append(Step(f"let Bedrock in {region} write logs to s3://{bucket}/{prefix}AWSLogs/{account}/",
                          "the bucket policy does not allow it", "s3", "put_bucket_policy",
                          {"Bucket": bucket, "Policy": json.dumps(document)}))  # fmt: skip
    if expire_days:
        rules = _lifecycle_rules(s3, bucket) if exists else []
        rule = {"ID": EXPIRE_RULE, "Status": "Enabled", "Filter": {"Prefix": f"{prefix}AWSLogs/"},
                "Expiration": {"Days": expire_days}}  # fmt: skip
        if not any(_same(r, rule) for r in rules):
            kept = [r for r in rules if r.get("ID") != EXPIRE_RULE]
            steps.append(Step(f"expire log objects after {expire_days} days", "no such lifecycle rule", "s3",
                              "put_bucket_lifecycle_configuration",
                              {"Bucket": bucket, "LifecycleConfiguration": {"Rules": [*kept, rule]}}))  # fmt: skip
    config = bedrock.get_model_invocation_logging_configuration().get("loggingConfig") or {}
    target = {"bucketName": bucket, "keyPrefix": prefix.rstrip("/")}
    have = config.get("s3Config") or {}
    if {k: have.get(k, "") for k in target} != target:
        merged = {"textDataDeliveryEnabled": False, "imageDataDeliveryEnabled": False,
                  "embeddingDataDeliveryEnabled": False, **config, "s3Config": {**have, **target}}  # fmt: skip
        reason = f"it sends to s3://{have['bucketName']}" if have.get("bucketName") else "S3 delivery is off"
        action = f"deliver Bedrock invocation logs in {region} to s3://{bucket}/{prefix}"
        steps.append(Step(action, reason, "bedrock", "put_model_invocation_logging_configuration",
                          {"loggingConfig": merged}))  # fmt: skip
    return steps


def _bucket_policy(s3: Any, bucket: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except AWS_ERRORS as exc:
        if error_code(exc) != "NoSuchBucketPolicy":
            raise
        return {"Version": "2012-10-17", "Statement": []}
    return found


def _lifecycle_rules(s3: Any, bucket: str) -> list[dict[str, Any]]:
    try:
        return list(s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", []))
    except AWS_ERRORS as exc:
        if error_code(exc) != "NoSuchLifecycleConfiguration":
            raise
        return []
