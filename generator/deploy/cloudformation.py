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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.aws import AWS_ERRORS, error_code
from generator.deploy import render_template
from generator.errors import ConfigError, PublishError
from generator.render import package_dir

RUNTIME_PYTHON = "3.13"  # the template's Lambda runtime
_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$")
_CERT = re.compile(r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/.+$")


@dataclass(frozen=True)
class DeployRequest:
    """What the user asked `deploy` for."""

    stack: str
    region: str
    log_groups: tuple[str, ...]
    schedule: str = "rate(1 hour)"
    subnets_only: str = ""
    fqdn: str = ""
    certificate_arn: str = ""
    hosted_zone_id: str = ""
    cost_explorer: bool = False
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
        if problems:
            raise ConfigError("; ".join(problems))

    def parameters(self, code_bucket: str, code_key: str) -> list[dict[str, str]]:
        values = {
            "CodeBucket": code_bucket, "CodeKey": code_key, "Schedule": self.schedule,
            "SubnetsOnly": self.subnets_only, "Fqdn": self.fqdn, "CertificateArn": self.certificate_arn,
            "HostedZoneId": self.hosted_zone_id, "CostExplorer": "true" if self.cost_explorer else "false",
            "Timezone": self.timezone, "Architecture": self.architecture,
        }  # fmt: skip
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def requirements() -> list[str]:
    """The runtime dependencies this installed package declares."""
    declared = importlib.metadata.requires("bedrock-usage-site") or []
    return sorted(r.split(";")[0].strip() for r in declared if "extra ==" not in r)


def pip_install(target: Path, packages: list[str], python: str, architecture: str) -> None:
    """Install wheels for the Lambda runtime (manylinux, `python`) into `target`."""
    platform = "manylinux2014_x86_64" if architecture == "x86_64" else "manylinux2014_aarch64"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "--platform", platform,
               "--implementation", "cp", "--python-version", python, "--only-binary=:all:", *packages]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise PublishError(f"could not fetch the Lambda's dependencies: {done.stderr.strip().splitlines()[-1:]}")


def package_lambda(
    architecture: str = "x86_64", install: Callable[[Path, list[str], str, str], None] = pip_install
) -> bytes:
    """Zip this package (with its templates and assets) and its dependencies, byte-for-byte repeatable."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        install(root, requirements(), RUNTIME_PYTHON, architecture)
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


def stack_status(cfn: Any, stack: str) -> str | None:
    """The stack's status, or None when it does not exist."""
    try:
        return str(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
    except AWS_ERRORS as exc:
        if "does not exist" in str(exc):
            return None
        raise


def plan_deploy(request: DeployRequest, status: str | None, code_size: int) -> list[str]:
    """Say what deploy will do, before it does it."""
    verb = "create" if status is None else f"update (now {status})"
    lines = [
        f"package the publish Lambda: {code_size / 1e6:.1f} MB zip for python{RUNTIME_PYTHON} {request.architecture}",
        f"upload it to the stack's artifacts bucket in {request.region}",
        f"{verb} stack {request.stack} in {request.region} with:",
        "  a private S3 bucket (public access blocked, owner-enforced, encrypted, versioned, TLS-only policy)",
        "  a CloudFront distribution (Origin Access Control, HTTPS only, CSP/HSTS/nosniff/referrer/frame headers)",
        f"  a Lambda running `bedrock-usage publish` on {request.schedule}, with a dead-letter queue and an alarm",
        f"  one IAM role: logs:StartQuery on {', '.join(request.log_groups)}, the bucket, this distribution"
        + (", ce:GetCostAndUsage" if request.cost_explorer else ""),
    ]
    if request.subnets_only:
        lines.append(f"  a CloudFront Function letting only {request.subnets_only} in (403 for everyone else)")
    if request.fqdn:
        lines.append(f"  the domain {request.fqdn} (ACM certificate, Route 53 A/AAAA alias records)")
    return lines


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


def deploy(clients: Mapping[str, Any], request: DeployRequest, code: bytes, wait_delay: int = 15) -> dict[str, str]:
    """Upload the code, create or update the stack, wait, and return its outputs."""
    cfn, s3 = clients["cloudformation"], clients["s3"]
    try:
        account = clients["sts"].get_caller_identity()["Account"]
        bucket = artifacts_bucket(request.stack, account, request.region)
        ensure_bucket(s3, bucket, request.region)
        key = f"lambda/{hashlib.sha256(code).hexdigest()[:20]}.zip"
        s3.put_object(Bucket=bucket, Key=key, Body=code)
        arguments = {
            "StackName": request.stack,
            "TemplateBody": render_template(request.log_groups),
            "Parameters": request.parameters(bucket, key),
            "Capabilities": ["CAPABILITY_IAM"],
        }
        if stack_status(cfn, request.stack) is None:
            cfn.create_stack(**arguments, OnFailure="ROLLBACK")
            waiter = "stack_create_complete"
        else:
            try:
                cfn.update_stack(**arguments)
            except AWS_ERRORS as exc:
                if "No updates are to be performed" not in str(exc):
                    raise
                return outputs(cfn, request.stack)
            waiter = "stack_update_complete"
        cfn.get_waiter(waiter).wait(StackName=request.stack, WaiterConfig={"Delay": wait_delay, "MaxAttempts": 240})
        return outputs(cfn, request.stack)
    except AWS_ERRORS as exc:
        raise PublishError(f"deploy of stack {request.stack} failed ({error_code(exc)}: {exc})") from None


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
        raise PublishError(f"destroy of stack {stack} failed ({error_code(exc)}: {exc})") from None
