"""The deploy plan: what `deploy` will create or change, as data, before anything changes.

Owns the plan's content (the resources of the stack, what the Lambda's role is granted, the parameters
it is given) and its words; `--dry-run` prints it and tests assert on its fields. Pure: no AWS calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from generator.deploy.cloudformation import RUNTIME_PYTHON, Access, DeployRequest

SECRET = ("OidcClientSecret", "BudgetWebhook")  # never printed


@dataclass(frozen=True)
class DeployPlan:
    """Everything a deploy will do, in order, with what each resource is for."""

    stack: str
    region: str
    status: str | None  # the stack's status now; None: it is created
    code_size: int  # bytes of the Lambda zip (0 on a dry run, which builds none)
    architecture: str
    resources: tuple[tuple[str, str], ...]  # (logical kind, what it is and why), in the order they are described
    grants: tuple[str, ...]  # what the Lambda's one role may do
    parameters: Mapping[str, str] = field(default_factory=dict)  # stack parameters; kept ones say "(kept)"

    def lines(self) -> list[str]:
        """The plan in words, one line a step or resource."""
        verb = "create" if self.status is None else f"update (now {self.status})"
        described = [f"  {text}" if kind != "role" else f"  one IAM role: {', '.join(self.grants)}"
                     for kind, text in self.resources]  # fmt: skip
        return [
            f"package the publish Lambda: {self.code_size / 1e6:.1f} MB zip for python{RUNTIME_PYTHON} "
            f"{self.architecture}",
            f"upload it to the stack's artifacts bucket in {self.region}",
            f"{verb} stack {self.stack} in {self.region} with:",
            *described,
        ]


def plan_deploy(request: DeployRequest, status: str | None, code_size: int, access: Access) -> DeployPlan:
    """Say what deploy will do, before it does it."""
    function = (
        f"a Lambda running `bedrock-usage publish` on {request.schedule} (timeout "
        f"{request.function_timeout} s, {request.memory} MB, Insights deadline {request.insights_deadline} s), never "
        "retried, failed runs to a dead-letter queue, and alarms to an SNS topic"
        + (f" e-mailing {request.alarm_email}" if request.alarm_email else "")
        + "; budget notices go to that topic"
        + (" and the webhook" if request.budget_webhook else "")
    )
    resources: list[tuple[str, str]] = [
        ("bucket", "a private S3 bucket (public access blocked, owner-enforced, encrypted, versioned, "
                   "TLS-only policy)"),
        ("distribution", "a CloudFront distribution (Origin Access Control, HTTPS only, "
                         "CSP/HSTS/nosniff/referrer/frame headers)"),
        ("function", function),
        ("role", ""),
    ]  # fmt: skip
    if request.source == "athena":
        resources.append(("workgroup", "an Athena workgroup (10 GB bytes-scanned limit a query, results kept under "
                                       "the store's prefix)"))  # fmt: skip
    resources += [("access", line.removeprefix("  ")) for line in access.describe()]
    if request.access_logs:
        resources.append(("logs", "a log bucket with CloudFront and S3 access logs (kept 90 days)"))
    if request.fqdn:
        resources.append(("domain", f"the domain {request.fqdn} (ACM certificate, Route 53 A/AAAA alias records)"))
    grants = [request.reads(), "the bucket", "this distribution",
              "cloudwatch:ListMetrics and GetMetricData (Bedrock's own counts, for log coverage)"]  # fmt: skip
    if request.cost_explorer:
        grants.append("ce:GetCostAndUsage")
    if request.cur:
        bucket, prefix = request.cur_bucket
        grants.append(f"s3:ListBucket and s3:GetObject on s3://{bucket}/{prefix} (the CUR export)")
    if request.assume_roles:
        grants.append(f"sts:AssumeRole on {', '.join(request.assume_roles)}")
    parameters = {
        p["ParameterKey"]: "(kept)" if p.get("UsePreviousValue") else "(secret)" if p["ParameterKey"] in SECRET
        and p["ParameterValue"] else p["ParameterValue"]
        for p in request.parameters("", "", access) if p["ParameterKey"] not in ("CodeBucket", "CodeKey")
    }  # fmt: skip
    return DeployPlan(request.stack, request.region, status, code_size, request.architecture, tuple(resources),
                      tuple(grants), parameters)  # fmt: skip
