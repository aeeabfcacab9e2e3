"""`deploy` and `destroy`: package the Lambda, upload it, and create, update or delete the stack.

Owns the deploy request and its checks, the Lambda zip (this installed package plus its
dependencies built for the Lambda runtime), the plan printed before anything changes, and the
CloudFormation calls. Takes clients; the pip step is injectable so tests stay offline.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.aws import AWS_ERRORS, error_code, reason
from generator.deploy import CIDR_LIST, render_template, sessionkeys
from generator.errors import ConfigError, PublishError
from generator.layout import package_dir, parse_url

RUNTIME_PYTHON = "3.13"  # the template's Lambda runtime
_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$")
_CERT = re.compile(r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/.+$")
_CIDRS = re.compile(f"^{CIDR_LIST}$")  # the template's pattern
_HTTPS = re.compile(r"^https://[^\s\"'<>]+$")
_EMAIL = re.compile(r"^[^\s@,]+@[^\s@,]+\.[^\s@,]+$")
DEADLINE_MARGIN = 120  # seconds the function keeps after the Insights deadline to stop queries and publish
MAX_TIMEOUT = 900  # Lambda's longest run
MAX_DEADLINE = MAX_TIMEOUT - DEADLINE_MARGIN
# The publish function's memory: the build's peak grows with hourly rows, about 90 bytes a row (0.35 GB at 1.8M rows,
# 2,000 people x 10 models x 90 days of daily use; 0.49 GB at 4.5M, 5,000 people; 0.97 GB at 9M, 10,000 people;
# benchmarks/bench_scale.py), and Lambda gives a function CPU in proportion to its memory (one whole vCPU at
# 1,769 MB): 2 GB fits 10,000 people and runs fast.
DEFAULT_MEMORY = 2048
MEMORY_RANGE = (512, 10240)


@dataclass(frozen=True)
class DeployRequest:
    """What the user asked `deploy` for."""

    stack: str
    region: str
    log_groups: tuple[str, ...]
    schedule: str = "rate(1 hour)"
    subnets_only: str | None = None  # None: not given (an update keeps the stack's allow-list)
    sign_in: str | None = None  # none | cognito; None: not given (an update keeps the stack's)
    public: bool = False  # open to anyone on purpose
    saml_metadata_url: str | None = None  # federate the sign-in to the company's SAML identity provider
    oidc_issuer: str | None = None  # ... or to an OIDC one
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    alarm_email: str = ""
    budget_webhook: str | None = None  # None: not given (an update keeps the stack's)
    access_logs: bool = False
    insights_deadline: int = 600
    timeout: int | None = None  # the function's timeout; None: the Insights deadline + DEADLINE_MARGIN
    memory: int = DEFAULT_MEMORY  # MB
    assume_roles: tuple[str, ...] = ()  # roles in other accounts the Lambda reads through
    source: str = "cloudwatch"  # cloudwatch | s3 | athena: where the scheduled run reads the logs
    logs: str = ""  # s3://bucket/prefix where Bedrock delivers them (s3 and athena)
    fqdn: str = ""
    certificate_arn: str = ""
    hosted_zone_id: str = ""
    cost_explorer: bool = False
    cur: str = ""  # s3://bucket/prefix of a CUR 2.0 export to set the estimate beside (instead of Cost Explorer)
    timezone: str = "UTC"
    architecture: str = "x86_64"

    def check(self) -> None:
        """Raise ConfigError listing every problem with the request."""
        problems = []
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,40}", self.stack):
            problems.append(f"--stack {self.stack!r}: letters, digits and hyphens, starting with a letter, up to 41")
        if not _SCHEDULE.match(self.schedule):
            problems.append(f"--schedule {self.schedule!r}: use rate(1 hour) or cron(...)")
        if self.fqdn and not (self.certificate_arn and self.hosted_zone_id):
            problems.append("--fqdn needs --certificate-arn and --hosted-zone-id")
        if self.certificate_arn and not _CERT.match(self.certificate_arn):
            problems.append("--certificate-arn must be an ACM certificate in us-east-1 (CloudFront uses only those)")
        if self.subnets_only and not _CIDRS.match(self.subnets_only):
            problems.append(f"--subnets-only {self.subnets_only!r}: give comma-separated CIDRs such as 10.0.0.0/8")
        for flag, url in (("--saml-metadata-url", self.saml_metadata_url), ("--oidc-issuer", self.oidc_issuer)):
            if url and not _HTTPS.match(url):
                problems.append(f"{flag} {url!r}: give an https:// URL")
        if self.saml_metadata_url and self.oidc_issuer:
            problems.append("give --saml-metadata-url or --oidc-issuer, not both")
        if self.oidc_issuer and not (self.oidc_client_id and self.oidc_client_secret):
            problems.append("--oidc-issuer needs --oidc-client-id and --oidc-client-secret")
        federated = self.saml_metadata_url or self.oidc_issuer
        if federated and self.sign_in != "cognito":
            problems.append("--saml-metadata-url and --oidc-issuer go with --sign-in cognito")
        if self.budget_webhook and not _HTTPS.match(self.budget_webhook):
            problems.append("--budget-webhook: give the https:// URL of a Slack or Teams incoming webhook")
        if self.alarm_email and not _EMAIL.match(self.alarm_email):
            problems.append(f"--alarm-email {self.alarm_email!r} is not an e-mail address")
        if not 60 <= self.insights_deadline <= MAX_DEADLINE:
            problems.append(f"--insights-deadline {self.insights_deadline}: 60 to {MAX_DEADLINE} seconds on Lambda")
        elif not self.insights_deadline + DEADLINE_MARGIN <= self.function_timeout <= MAX_TIMEOUT:
            problems.append(f"--timeout {self.function_timeout}: from the Insights deadline + {DEADLINE_MARGIN} "
                            f"({self.insights_deadline + DEADLINE_MARGIN}) to {MAX_TIMEOUT} seconds")  # fmt: skip
        if not MEMORY_RANGE[0] <= self.memory <= MEMORY_RANGE[1]:
            problems.append(f"--memory {self.memory}: {MEMORY_RANGE[0]} to {MEMORY_RANGE[1]} MB on Lambda")
        if self.source not in ("cloudwatch", "s3", "athena"):
            problems.append(f"--source {self.source!r}: use cloudwatch, s3 or athena")
        elif self.source != "cloudwatch" and not self.logs:
            problems.append(f"--source {self.source} reads the S3-delivered logs: give --logs s3://bucket/prefix")
        elif self.source == "cloudwatch" and self.logs:
            problems.append("--logs goes with --source s3 or athena")
        for flag, url in (("--logs", self.logs), ("--cur", self.cur)):
            try:
                if url:
                    parse_url(url)
            except ConfigError as exc:
                problems.append(str(exc).replace("--logs", flag))
        if self.cur and self.cost_explorer:
            problems.append("give --cost-explorer or --cur (the bill the estimate is set beside), not both")
        if problems:
            raise ConfigError("; ".join(problems))

    def access(self, previous: Mapping[str, str] | None) -> Access:
        """Who may view the site after this deploy; ConfigError when it would be open without --public.

        On an update, an access setting not given keeps the stack's value: a redeploy from a folder without
        `.env` never drops the allow-list or the sign-in.
        """
        before = previous or {}
        subnets = self.subnets_only if self.subnets_only is not None else before.get("SubnetsOnly", "")
        sign_in = self.sign_in if self.sign_in is not None else before.get("SignIn", "none")
        untouched = self.subnets_only is None and self.sign_in is None and not self.public
        public = self.public or (untouched and before.get("Public") == "true")
        everyone = [c for c in subnets.split(",") if c.strip().endswith("/0")]  # 0.0.0.0/0, ::/0: every address
        if (not subnets or everyone) and sign_in == "none" and not public:
            raise ConfigError(
                "deploy would leave the site open to anyone on the internet"
                + (f" (--subnets-only {everyone[0]} lets every address in)" if everyone else "")
                + ": give --subnets-only CIDRS or --sign-in cognito (or both), or --public if it is meant to be public"
            )
        given = (("SubnetsOnly", self.subnets_only), ("SignIn", self.sign_in), ("BudgetWebhook", self.budget_webhook))
        kept = {k for k, value in given if value is None}  # a redeploy without the flag keeps the stack's value
        if untouched:
            kept.add("Public")
        idp = {"SamlMetadataUrl": self.saml_metadata_url, "OidcIssuer": self.oidc_issuer,
               "OidcClientId": self.oidc_client_id, "OidcClientSecret": self.oidc_client_secret}  # fmt: skip
        if any(v is not None for v in idp.values()):
            values = {k: v or "" for k, v in idp.items()}  # one provider replaces the other
        else:
            values = {}
            kept |= set(idp)
        return Access(subnets, sign_in, public, frozenset(k for k in kept if k in before), values)

    @property
    def function_timeout(self) -> int:
        return self.timeout if self.timeout is not None else self.insights_deadline + DEADLINE_MARGIN

    def reads(self) -> str:
        """What the Lambda's role may read the logs with, in words."""
        if self.source == "cloudwatch":
            return f"logs:StartQuery on {', '.join(self.log_groups)}"
        bucket, prefix = self.logs_bucket
        where = f"s3:ListBucket and s3:GetObject on s3://{bucket}/{prefix}AWSLogs/"
        return where + (
            ", Athena in its workgroup and Glue on the bedrock_usage database" if self.source == "athena" else ""
        )

    @property
    def cur_bucket(self) -> tuple[str, str]:
        """The CUR export's bucket and prefix ("" and "" without --cur)."""
        return parse_url(self.cur) if self.cur else ("", "")

    @property
    def logs_bucket(self) -> tuple[str, str]:
        """The logs' bucket and prefix ("" and "" when the source is CloudWatch)."""
        return parse_url(self.logs) if self.logs else ("", "")

    def parameters(self, code_bucket: str, code_key: str, access: Access) -> list[dict[str, Any]]:
        values = {
            "CodeBucket": code_bucket, "CodeKey": code_key, "Schedule": self.schedule,
            "SubnetsOnly": access.subnets_only, "SignIn": access.sign_in, "Public": str(access.public).lower(),
            "Fqdn": self.fqdn, "CertificateArn": self.certificate_arn, "HostedZoneId": self.hosted_zone_id,
            "CostExplorer": "true" if self.cost_explorer else "false", "Timezone": self.timezone,
            "Architecture": self.architecture, "AlarmEmail": self.alarm_email,
            "AccessLogs": "true" if self.access_logs else "false", "InsightsDeadline": str(self.insights_deadline),
            "FunctionTimeout": str(self.function_timeout), "MemorySize": str(self.memory),
            "AssumeRoles": ",".join(self.assume_roles),
            "Source": self.source, "LogsBucket": self.logs_bucket[0], "LogsPrefix": self.logs_bucket[1],
            "CurBucket": self.cur_bucket[0], "CurPrefix": self.cur_bucket[1],
            "BudgetWebhook": self.budget_webhook or "",
            "SamlMetadataUrl": "", "OidcIssuer": "", "OidcClientId": "", "OidcClientSecret": "",
            **access.values,
        }  # fmt: skip
        kept = access.kept | ({"BudgetWebhook"} if self.budget_webhook is None and access.kept else set())
        return [
            {"ParameterKey": k, "UsePreviousValue": True} if k in kept else {"ParameterKey": k, "ParameterValue": v}
            for k, v in values.items()
        ]


@dataclass(frozen=True)
class Access:
    """Who may view the site: the allow-list, the sign-in, or everyone on purpose."""

    subnets_only: str
    sign_in: str
    public: bool
    kept: frozenset[str]  # parameters an update keeps from the stack (UsePreviousValue)
    values: Mapping[str, str] = field(default_factory=dict)  # sign-in parameters set by this deploy

    def describe(self) -> list[str]:
        said = " (kept from the stack)"
        lines = []
        if self.subnets_only:
            lines.append(f"  a CloudFront Function letting only {self.subnets_only} in (403 for everyone else)"
                         + (said if "SubnetsOnly" in self.kept else ""))  # fmt: skip
        if self.sign_in == "cognito":
            provider = self.values.get("SamlMetadataUrl") or self.values.get("OidcIssuer")
            lines.append("  sign-in with Cognito in front of every page (a signed session cookie checked at the edge)"
                         + (f", federated to {provider}" if provider else "")
                         + (said if "SignIn" in self.kept else ""))  # fmt: skip
            lines.append("  its session key in Secrets Manager, copied to the edge's KeyValueStore after the stack is "
                         "ready (rotate it with `bedrock-usage rotate-session-key`)")  # fmt: skip
        if self.public:
            lines.append("  NO viewer restriction: anyone with the URL sees every person's spend (--public)")
        return lines


CLI_ONLY = {"awscrt"}  # what only the command line needs (KeyValueStore writes): kept out of the Lambda zip


def requirements(extras: Sequence[str] = ()) -> list[str]:
    """The runtime dependencies this installed package declares (and those of `extras`), less those only the
    command line uses."""
    declared = importlib.metadata.requires("bedrock-usage-site") or []
    wanted = {f'extra == "{e}"' for e in extras}
    found = (r.split(";")[0].strip() for r in declared if "extra ==" not in r or any(w in r for w in wanted))
    return sorted(r for r in found if re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower() not in CLI_ONLY)


def pip_install(target: Path, packages: list[str], python: str, architecture: str) -> None:
    """Install wheels for the Lambda runtime (manylinux, `python`) into `target`."""
    # the runtime (Amazon Linux 2023, glibc 2.34) runs manylinux_2_28 wheels too: numpy's newest have no older tag
    machine = "x86_64" if architecture == "x86_64" else "aarch64"  # Lambda's arm64 is the wheels' aarch64
    platforms = [f"--platform=manylinux_2_28_{machine}", f"--platform=manylinux2014_{machine}"]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), *platforms,
               "--implementation", "cp", "--python-version", python, "--only-binary=:all:", *packages]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise PublishError(f"could not fetch the Lambda's dependencies: {done.stderr.strip().splitlines()[-1:]}")


def package_lambda(
    architecture: str = "x86_64",
    install: Callable[[Path, list[str], str, str], None] = pip_install,
    extras: Sequence[str] = (),
) -> bytes:
    """Zip this package (with its templates and assets) and its dependencies (and those of `extras`, such as
    `cur`: DuckDB reads Parquet CUR exports), byte-for-byte repeatable."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        install(root, requirements(extras), RUNTIME_PYTHON, architecture)
        package = Path(__file__).resolve().parent.parent
        shutil.copytree(package, root / "generator", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                        dirs_exist_ok=True)  # fmt: skip
        for name in ("templates", "assets"):
            shutil.copytree(package_dir(name), root / "generator" / name, dirs_exist_ok=True)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
        return buffer.getvalue()


def current_stack(cfn: Any, stack: str) -> tuple[str, dict[str, str]] | None:
    """The stack's status and parameter values, or None when it does not exist."""
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except AWS_ERRORS as exc:
        if "does not exist" in str(exc):
            return None
        raise
    params = {p["ParameterKey"]: str(p.get("ParameterValue", "")) for p in found.get("Parameters", [])}
    return str(found["StackStatus"]), params


def stack_status(cfn: Any, stack: str) -> str | None:
    """The stack's status, or None when it does not exist."""
    found = current_stack(cfn, stack)
    return found[0] if found else None


def artifacts_bucket(stack: str, account: str, region: str) -> str:
    return f"{stack.lower()[:20]}-artifacts-{account}-{region}"


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """Create the private artifacts bucket once."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except AWS_ERRORS as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **extra)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                                          "RestrictPublicBuckets")},
    )  # fmt: skip


def deploy(
    clients: Mapping[str, Any], request: DeployRequest, code: bytes, access: Access, wait_delay: int = 15
) -> dict[str, str]:
    """Upload the code, create or update the stack, wait, copy the session key to the edge; return its outputs."""
    cfn, s3 = clients["cloudformation"], clients["s3"]
    try:
        account = clients["sts"].get_caller_identity()["Account"]
        bucket = artifacts_bucket(request.stack, account, request.region)
        ensure_bucket(s3, bucket, request.region)
        key = f"lambda/{hashlib.sha256(code).hexdigest()[:20]}.zip"
        s3.put_object(Bucket=bucket, Key=key, Body=code)
        # by URL, not in the call: CloudFormation takes 51,200 bytes of TemplateBody, which ~33 log groups pass
        template = render_template(request.log_groups).encode()
        template_key = f"templates/{hashlib.sha256(template).hexdigest()[:20]}.yaml"
        s3.put_object(Bucket=bucket, Key=template_key, Body=template)
        arguments = {
            "StackName": request.stack,
            "TemplateURL": f"https://{bucket}.s3.{request.region}.amazonaws.com/{template_key}",
            "Parameters": request.parameters(bucket, key, access),
            "Capabilities": ["CAPABILITY_IAM"],
        }
        waiter = "stack_create_complete"
        if stack_status(cfn, request.stack) is None:
            cfn.create_stack(**arguments, OnFailure="ROLLBACK")
        else:
            waiter = "stack_update_complete"
            try:
                cfn.update_stack(**arguments)
            except AWS_ERRORS as exc:
                if "No updates are to be performed" not in str(exc):
                    raise
                waiter = ""
        if waiter:
            cfn.get_waiter(waiter).wait(StackName=request.stack, WaiterConfig={"Delay": wait_delay,
                                                                                "MaxAttempts": 240})  # fmt: skip
        found = outputs(cfn, request.stack)
        sessionkeys.sync(clients, found)  # also when nothing else changed: a failed copy is mended by a redeploy
        return found
    except AWS_ERRORS as exc:
        raise PublishError(f"deploy of stack {request.stack} failed ({reason(exc)})") from None


def outputs(cfn: Any, stack: str) -> dict[str, str]:
    found = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in found}


def destroy(cfn: Any, stack: str, wait_delay: int = 15) -> dict[str, str]:
    """Delete the stack; the site bucket is kept (it is versioned and holds the published history)."""
    try:
        if stack_status(cfn, stack) is None:
            raise ConfigError(f"stack {stack} does not exist")
        kept = outputs(cfn, stack)
        cfn.delete_stack(StackName=stack)
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack, WaiterConfig={"Delay": wait_delay, "MaxAttempts": 240}
        )
        return kept
    except AWS_ERRORS as exc:
        raise PublishError(f"destroy of stack {stack} failed ({reason(exc)})") from None
