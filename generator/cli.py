"""The `bedrock-usage` command line: parse flags, call the library, turn its errors into one line.

The only module that imports click. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from generator import __version__
from generator.errors import ConfigError, GeneratorError, printable

# The only values CloudWatch Logs accepts for a retention policy (PutRetentionPolicy).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
                  3653)  # fmt: skip
F = TypeVar("F", bound=Callable[..., Any])


class _Failure(click.ClickException):
    """A runtime failure from the library, shown as one line; exit code 1."""

    exit_code = 1


class _ConfigFailure(_Failure):
    """A usage or configuration error from the library, shown as one line; exit code 2."""

    exit_code = 2


def _failure(error: GeneratorError) -> _Failure:
    """The click exception that reports `error` with its exit code (click's exit_code is per class)."""
    return (_ConfigFailure if error.exit_code == 2 else _Failure)(printable(str(error)))


def _say(message: str = "", err: bool = False, nl: bool = True) -> None:
    """Print a line that may carry names from the logs, with control characters escaped."""
    click.echo(printable(message), err=err, nl=nl)


def _reports_errors(func: F) -> F:
    """Turn library errors and Ctrl-C into one line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GeneratorError as exc:
            raise _failure(exc) from None
        except Exception as exc:
            from generator import aws

            if isinstance(exc, aws.AWS_ERRORS):  # an AWS call the library did not expect to fail
                raise click.ClickException(aws.reason(exc)) from None
            raise
        except KeyboardInterrupt:
            _say("interrupted; nothing was written", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


ENV_FILE = click.option(
    "--env-file",
    type=click.Path(path_type=Path),
    default=Path(".env"),
    show_default=True,
    help="Settings file read under the environment.",
)


# Options shared by every command that builds the site (a table: one entry per flag).
_SETTINGS_OPTIONS = [
    click.option(
        "--source",
        type=click.Choice(["demo", "files", "s3", "cloudwatch", "athena"]),
        help="Where usage comes from (default: files with --logs PATH, s3 with --logs s3://..., cloudwatch "
        "with AWS credentials; the demo only when asked for).",
    ),
    click.option(
        "--logs",
        multiple=True,
        help="Log file or folder, or s3://bucket/prefix where Bedrock delivers logs (repeatable; LOGS).",
    ),
    click.option("--out", type=click.Path(path_type=Path), help="Output folder (default: site)."),
    click.option("--now", help="Build as if it were this ISO 8601 time (reproducible builds)."),
    click.option("--timezone", help="IANA time zone for days and months (default: UTC)."),
    click.option("--windows", help="Windows to build, comma-separated (default: all)."),
    click.option("--config", type=click.Path(path_type=Path), help="TOML file with aliases, session_roles, prices."),
    ENV_FILE,
    click.option("--strict", is_flag=True, help="Fail when any log record had to be skipped."),
    click.option("--strict-pricing", is_flag=True, help="Fail when any usage has no price."),
    click.option("--cost-explorer", is_flag=True, help="Show the AWS bill beside the estimate (--bill cost-explorer)."),
    click.option(
        "--bill",
        type=click.Choice(["none", "cost-explorer", "cur"]),
        help="The bill set beside the estimate: Cost Explorer, or the CUR 2.0 export at --cur. [env: BILL]",
    ),
    click.option("--cur", help="With --bill cur: the CUR 2.0 export's s3://bucket/prefix, or a folder. [env: CUR]"),
    click.option(
        "--price-list",
        type=click.Choice(["auto", "on", "off"]),
        help="Read current prices from the AWS Price List (auto: on for --source cloudwatch). [env: PRICE_LIST]",
    ),
    click.option(
        "--coverage/--no-coverage",
        default=None,
        help="Set the logs beside Bedrock's own CloudWatch counts (default: on when the run reads an AWS account; "
        "COVERAGE=auto|on|off).",
    ),
    click.option("--log-group", "log_groups", multiple=True, help="CloudWatch log group (repeatable; LOG_GROUP)."),
    click.option("--region", "regions", multiple=True, help="AWS region to query (repeatable; AWS_REGION)."),
    click.option(
        "--assume-role",
        "assume_roles",
        multiple=True,
        help="Also read the log groups of another account through this role (repeatable; ASSUME_ROLES).",
    ),
    click.option("--state", help="Hourly store: a folder or s3://bucket/prefix (default .bedrock-usage-state)."),
    click.option("--rebuild", is_flag=True, help="Query every day again, ignoring the store."),
    click.option("--since", help="With --rebuild: only days from this date (YYYY-MM-DD)."),
    click.option("--settle-lag", type=click.IntRange(0, 48), help="Hours before logged hours count as final (2)."),
    click.option(
        "--recheck-days", help="Read each settled day again at these ages in days, for late logs (1; e.g. 1,7)."
    ),
    click.option("--insights-concurrency", type=click.IntRange(1, 30), help="Queries at once (4)."),
    click.option(
        "--insights-deadline",
        type=click.IntRange(10),
        help="Seconds all queries may take, Athena too (900).",
    ),
    click.option("--insights-row-cap", type=click.IntRange(100, 100_000), help="Rows per query (10000)."),
    click.option("--insights-price-per-gb", help="USD per GB scanned, for the estimate (0.005)."),
    click.option("--athena-database", help="Athena database the tool keeps its table in (bedrock_usage)."),
    click.option("--athena-table", help="Athena table over the S3 logs, made by the tool (invocation_logs)."),
    click.option("--athena-workgroup", help="Athena workgroup: set a bytes-scanned limit on it (primary)."),
    click.option("--athena-output", help="s3://bucket/prefix/ for query results, unless the workgroup sets one."),
    click.option("--person-key", help="Request-metadata key that names the person who made a call (PERSON_KEY)."),
    click.option("--team-key", help="Request-metadata key that names the call's team (TEAM_KEY)."),
    click.option("--tag", "tags", multiple=True, help="Request-metadata key to show spend by (repeatable; TAGS)."),
    click.option("--verbose", "-v", count=True, help="Log each stage's time and size on stderr (-vv: more detail)."),
]


def settings_options(func: F) -> F:
    """Options shared by every command that builds the site."""
    for option in reversed(_SETTINGS_OPTIONS):
        func = option(func)
    return func


def _settings(flags: dict[str, Any], needs_source: bool = True, publish: bool = False) -> Any:
    from generator.config import load_settings
    from generator.stagelog import configure

    env_file = flags.pop("env_file", Path(".env"))
    configure(flags.pop("verbose", 0))
    return load_settings(flags, env_file=env_file, needs_source=needs_source, publish=publish)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bedrock-usage")
def cli() -> None:
    """Build a static site of Amazon Bedrock spend per person and per model."""


@cli.command()
@settings_options
@_reports_errors
def build(**flags: Any) -> None:
    """Build the site from Bedrock invocation logs (or the embedded demo)."""
    from generator.run import build_site

    result = build_site(_settings(flags))
    _say(result.summary())


@cli.command("publish")
@settings_options
@click.option("--bucket", help="S3 bucket (default: BUCKET).")
@click.option("--prefix", help="Key prefix inside the bucket, e.g. usage/ (default: PREFIX).")
@click.option("--distribution-id", help="CloudFront distribution to invalidate (default: DISTRIBUTION_ID).")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--delete", is_flag=True, help="Delete objects the previous publish made that the site no longer has.")
@click.option("--max-deletes", default=100, show_default=True, type=click.IntRange(0), help="Refuse to delete more.")
@click.option("--force", is_flag=True, help="Upload every file, changed or not.")
@click.option("--adopt", is_flag=True, help="Publish into a bucket or prefix that holds objects but no site of ours.")
@click.option("--endpoint-url", help="S3-compatible endpoint (also AWS_ENDPOINT_URL).")
@click.option(
    "--max-age", default=300, show_default=True, type=click.IntRange(0), help="Cache seconds for pages and data."
)
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 64), help="Parallel uploads.")
@click.option(
    "--lock-wait", default=120, show_default=True, type=click.IntRange(0, 900),
    help="Seconds to wait while another publish holds the lock; then exit 0 without publishing.",
)  # fmt: skip
@_reports_errors
def publish_command(**flags: Any) -> None:
    """Build the site and upload what changed to S3, then invalidate CloudFront."""
    import tempfile

    from generator.publish import Options
    from generator.run import publish_site

    names = (
        "dry_run",
        "delete",
        "max_deletes",
        "force",
        "endpoint_url",
        "max_age",
        "concurrency",
        "lock_wait",
        "adopt",
    )
    options = Options(**{name: flags.pop(name) for name in names})
    flags["distribution_id"] = flags.pop("distribution_id")
    flags["endpoint_url"] = options.endpoint_url
    with tempfile.TemporaryDirectory(prefix="bedrock-usage-publish-") as tmp:
        if flags.get("out") is None:
            flags["out"] = Path(tmp) / "site"
        settings = _settings(flags, publish=True)
        tty = sys.stderr.isatty()

        def progress(done: int, total: int) -> None:
            if tty and total:
                click.echo(f"\ruploading {done}/{total}", nl=False, err=True)  # our own \r: not escaped

        result = publish_site(settings, options, progress)
        if tty:
            _say("", err=True)
    _say(result.build.summary())
    if result.busy:
        _say(result.busy)
    elif result.outcome is None:
        _say(result.plan.describe(f"s3://{settings.bucket}/{settings.prefix}"))
    else:
        _say(result.outcome.summary(len(result.plan.skipped)))
        if result.plan.note:
            _say(result.plan.note)


@cli.command("setup-logging")
@click.option("--log-group", help="Log group to create and log to (default: LOG_GROUP).")
@click.option(
    "--retention-days", type=click.Choice([str(d) for d in RETENTION_DAYS]), default="120", show_default=True,
    help="Keep logs this long (CloudWatch takes only these values; 120 covers the 90-day and last-month pages).",
)  # fmt: skip
@click.option("--role-name", default="bedrock-invocation-logging", show_default=True, help="Role Bedrock assumes.")
@click.option("--region", help="Region to set up (default: AWS_REGION).")
@click.option("--s3-bucket", help="Deliver the logs to this S3 bucket instead of CloudWatch Logs (made if missing).")
@click.option("--s3-prefix", default="", help="With --s3-bucket: key prefix for the logs, e.g. bedrock/.")
@click.option("--expire-days", type=click.IntRange(1), help="With --s3-bucket: delete log objects after N days.")
@click.option("--dry-run", is_flag=True, help="Print every change; make none.")
@ENV_FILE
@_reports_errors
def setup_logging(log_group: str | None, retention_days: str, role_name: str, region: str | None, s3_bucket: str | None,
                  s3_prefix: str, expire_days: int | None, dry_run: bool, env_file: Path) -> None:  # fmt: skip
    """Turn on Bedrock model-invocation logging to CloudWatch Logs or S3, with what it needs (idempotent)."""
    from generator import aws
    from generator.config_values import parse_prefix
    from generator.logging_setup import apply_plan, plan_logging, plan_s3_logging

    flags = {"source": "cloudwatch", "regions": (region,) if region else (), "env_file": env_file}
    if log_group:
        flags["log_groups"] = (log_group,)
    settings = _settings(flags)
    group, where = settings.cloudwatch.log_groups[0], settings.cloudwatch.regions[0]
    services = ("s3", "bedrock", "sts") if s3_bucket else ("logs", "iam", "bedrock", "sts")
    if s3_bucket and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", s3_bucket):
        raise ConfigError(f"--s3-bucket: {s3_bucket!r} is not an S3 bucket name")
    if (s3_prefix or expire_days) and not s3_bucket:
        raise ConfigError("--s3-prefix and --expire-days go with --s3-bucket")
    try:
        prefix = parse_prefix(s3_prefix)
    except ValueError as exc:
        raise ConfigError(f"--s3-prefix: {exc}") from None
    clients = {s: aws.client(s, profile=settings.aws_profile, region=where) for s in services}
    try:
        if s3_bucket:
            steps = plan_s3_logging(clients, bucket=s3_bucket, prefix=prefix, expire_days=expire_days, region=where)
            group = f"s3://{s3_bucket}/{prefix}"
        else:
            steps = plan_logging(
                clients, log_group=group, retention_days=int(retention_days), role_name=role_name, region=where
            )
        for step in steps:
            _say(f"{'would ' if dry_run else ''}{step.action} ({step.reason})")
        if not steps:
            _say(f"nothing to change: Bedrock invocation logging in {where} already goes to {group}")
        elif not dry_run:
            apply_plan(steps, clients)
            _say(f"done: {len(steps)} change(s)")
    except aws.AWS_ERRORS as exc:
        raise GeneratorError(f"setup-logging failed ({aws.reason(exc)})") from None


@cli.command()
@click.option("--stack", required=True, help="CloudFormation stack name.")
@click.option("--fqdn", help="Custom domain (default: FQDN); needs --certificate-arn and --hosted-zone-id.")
@click.option("--certificate-arn", default="", help="ACM certificate in us-east-1 for --fqdn.")
@click.option("--hosted-zone-id", default="", help="Route 53 hosted zone for --fqdn.")
@click.option("--subnets-only", help="Comma-separated CIDRs allowed to view the site (default: SUBNETS_ONLY).")
@click.option("--schedule", default="rate(1 hour)", show_default=True, help="EventBridge Scheduler expression.")
@click.option("--log-group", "log_groups", multiple=True, help="Log group(s) with Bedrock logs (LOG_GROUP).")
@click.option("--source", "read_from", type=click.Choice(["cloudwatch", "s3", "athena"]), default="cloudwatch",
              show_default=True, help="Where the scheduled run reads the logs.")  # fmt: skip
@click.option("--logs", "logs_url", default="", help="With --source s3 or athena: s3://bucket/prefix of the logs.")
@click.option("--assume-role", "assume_roles", multiple=True, help="Also read other accounts through these roles.")
@click.option("--region", help="Region of the stack and the logs (default: AWS_REGION).")
@click.option("--cost-explorer", is_flag=True, help="Let the Lambda read the bill (ce:GetCostAndUsage).")
@click.option(
    "--cur",
    default="",
    help="Set the estimate beside this CUR 2.0 export (s3://bucket/prefix); grants S3 "
    "reads on that prefix and packages DuckDB for Parquet.",
)
@click.option("--sign-in", type=click.Choice(["cognito", "none"]), help="Put a Cognito sign-in in front of the site.")
@click.option("--saml-metadata-url", help="With --sign-in cognito: federate to this SAML identity provider.")
@click.option("--oidc-issuer", help="With --sign-in cognito: federate to this OIDC identity provider.")
@click.option("--oidc-client-id", help="The site's client id at that OIDC provider.")
@click.option("--oidc-client-secret", help="Its client secret (or OIDC_CLIENT_SECRET).", envvar="OIDC_CLIENT_SECRET")
@click.option("--public", is_flag=True, help="Open the site to anyone on purpose (no allow-list, no sign-in).")
@click.option("--alarm-email", default="", help="E-mail told when a scheduled publish fails or a budget is crossed.")
@click.option("--budget-webhook", help="Slack/Teams incoming-webhook URL told of budget crossings (BUDGET_WEBHOOK).")
@click.option("--access-logs", is_flag=True, help="Keep CloudFront and S3 access logs in a log bucket (90 days).")
@click.option(
    "--insights-deadline", default=600, show_default=True, type=click.IntRange(60, 780),
    help="Seconds the Lambda's Insights queries may take; its timeout is 120 s more.",
)  # fmt: skip
@click.option("--timeout", "function_timeout", type=int, help="The publish function's timeout in seconds "
              "(default: the Insights deadline + 120; at most 900).")  # fmt: skip
@click.option(
    "--memory",
    default=2048,
    show_default=True,
    type=int,
    help="The publish function's memory in MB (512-10240); see the README for which fits which size.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be created; change nothing.")
@ENV_FILE
@_reports_errors
def deploy(stack: str, certificate_arn: str, hosted_zone_id: str, schedule: str, dry_run: bool, **flags: Any) -> None:
    """Stand up the private S3 + CloudFront site and its scheduled publish Lambda."""
    import platform

    from generator import aws
    from generator.deploy import render_template
    from generator.deploy.cloudformation import DeployRequest, current_stack, package_lambda
    from generator.deploy.cloudformation import deploy as run_deploy
    from generator.deploy.plan import plan_deploy

    region = flags.pop("region")
    names = ("cost_explorer", "sign_in", "public", "alarm_email", "access_logs", "saml_metadata_url", "oidc_issuer",
             "oidc_client_id", "oidc_client_secret", "budget_webhook", "cur")  # fmt: skip
    extra = {k: flags.pop(k) for k in names}
    deadline = flags.pop("insights_deadline")
    timeout, memory = flags.pop("function_timeout"), flags.pop("memory")
    read_from, logs_url = flags.pop("read_from"), flags.pop("logs_url")
    given_subnets = flags.get("subnets_only")  # "" on the command line removes the allow-list, on purpose
    settings = _settings({**flags, "source": "cloudwatch", "regions": (region,) if region else ()})
    subnets = ",".join(str(n) for n in settings.subnets_only) or (None if given_subnets is None else "")
    request = DeployRequest(
        stack=stack, region=settings.cloudwatch.regions[0], log_groups=settings.cloudwatch.log_groups,
        assume_roles=settings.cloudwatch.assume_roles,
        schedule=schedule, subnets_only=subnets, fqdn=settings.fqdn or "", certificate_arn=certificate_arn,
        hosted_zone_id=hosted_zone_id, timezone=settings.timezone, insights_deadline=deadline, timeout=timeout,
        **({"memory": memory} if memory is not None else {}),
        architecture="arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64", source=read_from,
        logs=logs_url, **extra,
    )  # fmt: skip
    request.check()
    clients = {s: aws.client(s, profile=settings.aws_profile, region=request.region)
               for s in ("cloudformation", "s3", "sts", "secretsmanager", "cloudfront-keyvaluestore")}  # fmt: skip
    try:
        found_stack = current_stack(clients["cloudformation"], stack)
    except aws.AWS_ERRORS as exc:
        if not dry_run:
            raise
        _say(f"could not read stack {stack} ({aws.reason(exc)}): this plan is for a new stack, not compared with a "
             "live one")  # fmt: skip
        found_stack, unread = None, True
    else:
        unread = False
    access = request.access(found_stack[1] if found_stack else None)  # refuses an open site before anything runs
    code = b"" if dry_run else package_lambda(request.architecture, extras=("cur",) if request.cur else ())
    for line in plan_deploy(request, found_stack[0] if found_stack else None, len(code), access).lines():
        _say(line)
    if dry_run:
        if unread:
            _say(f"# the stack template\n{render_template(request.log_groups)}")
        return
    _say("waiting for CloudFormation (CloudFront takes a few minutes) ...")
    found = run_deploy(clients, request, code, access)
    _say(f"site: {found.get('SiteUrl', '?')} (bucket {found.get('BucketName')}, "
               f"distribution {found.get('DistributionId')})")  # fmt: skip
    if found.get("UserPoolId"):
        _say(
            f"sign-in: user pool {found['UserPoolId']}; give people access with `aws cognito-idp admin-create-user "
            f"--user-pool-id {found['UserPoolId']} --username EMAIL`, or in your identity provider when federated"
        )


def _on_a_stack(command: F) -> F:
    """The options of a command acting on a deployed stack: --stack, --region and --env-file."""
    region = click.option("--region", help="Region of the stack (default: AWS_REGION).")
    for option in (
        _reports_errors,
        ENV_FILE,
        region,
        click.option("--stack", required=True, help="CloudFormation stack name."),
    ):
        command = option(command)
    return command


@cli.command()
@_on_a_stack
def destroy(stack: str, region: str | None, env_file: Path) -> None:
    """Delete the stack; the site bucket is kept with its versions."""
    from generator import aws
    from generator.deploy.cloudformation import destroy as run_destroy

    profile, where = _stack_place(region, env_file)
    kept = run_destroy(aws.client("cloudformation", profile=profile, region=where), stack)
    _say(f"deleted stack {stack}; kept bucket {kept.get('BucketName', '?')} (empty and delete it to remove the site)")


def _stack_place(region: str | None, env_file: Path) -> tuple[str | None, str]:
    """The AWS profile and the region of a stack a command acts on (--region, else AWS_REGION)."""
    settings = _settings({"source": "cloudwatch", "regions": (region,) if region else (), "env_file": env_file})
    return settings.aws_profile, settings.cloudwatch.regions[0]


@cli.command("rotate-session-key")
@_on_a_stack
def rotate_session_key(stack: str, region: str | None, env_file: Path) -> None:
    """Make a new sign-in session key; sessions signed with the old one stay good for one session lifetime."""
    import time
    from datetime import UTC, datetime

    from generator import aws
    from generator.deploy import sessionkeys
    from generator.deploy.cloudformation import outputs

    profile, where = _stack_place(region, env_file)
    clients = {s: aws.client(s, profile=profile, region=where)
               for s in ("cloudformation", "secretsmanager", "cloudfront-keyvaluestore")}  # fmt: skip
    try:
        found = outputs(clients["cloudformation"], stack)
        if not all(sessionkeys.stores(found)):
            raise ConfigError(f"stack {stack} has no sign-in, so no session key: deploy it with --sign-in cognito")
        keys = sessionkeys.rotate(clients, found, time.time())
    except aws.AWS_ERRORS as exc:
        raise GeneratorError(f"rotate-session-key failed ({aws.reason(exc)})") from None
    until = datetime.fromtimestamp(keys.previous_until, UTC).strftime("%Y-%m-%d %H:%M UTC")
    _say(f"stack {stack}: a new session key signs sign-ins from now on; the old one is accepted until {until}")


@cli.command("install-timer", context_settings={"ignore_unknown_options": True})
@click.option("--user", is_flag=True, help="A user unit (~/.config/systemd/user) instead of a system one.")
@click.option("--every", default="1h", show_default=True, help="How often: a systemd time span (30min, 1h, 1d).")
@click.option("--dry-run", is_flag=True, help="Print the unit files; install nothing.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@_reports_errors
def install_timer(user: bool, every: str, dry_run: bool, command: tuple[str, ...]) -> None:
    """Run `publish` on a systemd timer: install-timer [--user] --every 1h -- publish ARGS..."""
    from generator.timer import install, units

    found = units(list(command), every, user, Path.cwd(), Path.home())
    if dry_run:
        for path, text in found.files().items():
            _say(f"# {path}\n{text}")
        return
    install(found)
    _say(f"installed and started {', '.join(str(p) for p in found.files())}")


@cli.command("uninstall-timer")
@click.option("--user", is_flag=True, help="Remove the user unit instead of the system one.")
@_reports_errors
def uninstall_timer(user: bool) -> None:
    """Stop and remove the publish timer."""
    from generator.timer import uninstall

    removed = uninstall(user, Path.home())
    _say(f"removed {', '.join(str(p) for p in removed)}")


@cli.command()
@click.option("--log-group", "log_groups", multiple=True, help="CloudWatch log group (repeatable; LOG_GROUP).")
@click.option("--region", "regions", multiple=True, help="AWS region (repeatable; AWS_REGION).")
@click.option("--assume-role", "assume_roles", multiple=True, help="Check other accounts through these roles too.")
@ENV_FILE
@_reports_errors
def doctor(**flags: Any) -> None:
    """Check credentials, log group, invocation logging and permissions for --source cloudwatch."""
    from functools import partial

    from generator import aws
    from generator.doctor import run_checks
    from generator.reconcile import coverage

    settings = _settings({**flags, "source": "cloudwatch"})
    options = settings.cloudwatch
    regions = (settings.coverage_regions or coverage.BEDROCK_REGIONS) if settings.coverage else ()
    checks = run_checks(options, partial(aws.client, profile=settings.aws_profile), coverage_regions=regions)
    for check in checks:
        _say(check.line())
    failed = sum(not c.ok for c in checks)
    if failed:
        raise click.ClickException(f"{failed} check(s) failed")
    _say("all checks passed")


@cli.command()
@click.argument("directory", default="site", type=click.Path(path_type=Path))
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port on localhost.")
@_reports_errors
def serve(directory: Path, port: int) -> None:
    """Preview a built site on localhost with the production security headers."""
    from generator.serve import serve_forever

    serve_forever(directory, port, announce=_say)


@cli.command("fetch")
@click.argument("path")
@click.option("--bucket", envvar="BUCKET", help="The site's S3 bucket (default: BUCKET).")
@click.option("--prefix", envvar="PREFIX", default="", help="Key prefix inside the bucket (default: PREFIX).")
@click.option("--stack", help="Or the deployed stack whose bucket to read (its BucketName output).")
@click.option("--region", help="Region of the stack (default: AWS_REGION).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
@click.option("--endpoint-url", help="S3-compatible endpoint (also AWS_ENDPOINT_URL).")
@_reports_errors
def fetch_command(path: str, bucket: str | None, prefix: str, stack: str | None, region: str | None, out: Path | None,
                  endpoint_url: str | None) -> None:  # fmt: skip
    """Read a data file (data/usage-30d.json, ...) from the site's bucket with your AWS identity: the way tools
    get the JSON of a sign-in site. The identity needs the stack's DataReaderPolicy."""
    from generator import aws
    from generator.fetch import check_path, fetch, stack_bucket
    from generator.layout import key_prefix, write_file

    check_path(path)
    if bool(bucket) == bool(stack):
        raise ConfigError("give the site's --bucket (or BUCKET), or its --stack, not both and not neither")
    where = bucket or stack_bucket(aws.client("cloudformation", region=region), str(stack))
    data = fetch(aws.client("s3", region=region, endpoint_url=endpoint_url), where, key_prefix(prefix), path)
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        write_file(out, data)
        _say(f"wrote {len(data):,} bytes to {out}", err=True)


@cli.group()
def pricing() -> None:
    """Inspect the price book."""


@pricing.command("show")
@click.option(
    "--model", "pattern", help="Only models whose id or name contains this text; with --region/--date, a model id."
)
@click.option("--region", "price_region", help="Explain the price of a call of --model from this region.")
@click.option("--date", "day", help="Explain the price of a call of --model on this day (YYYY-MM-DD; default today).")
@click.option("--config", type=click.Path(path_type=Path), help="TOML file whose [[prices]] override the book.")
@ENV_FILE
@_reports_errors
def pricing_show(pattern: str | None, price_region: str | None, day: str | None, **flags: Any) -> None:
    """Print the price table (USD per 1M tokens), or explain which entry prices one call and why."""
    from datetime import UTC, date, datetime

    from generator.modelids import parse_model_id
    from generator.pricing import explain, load_book, price_table

    settings = _settings(flags, needs_source=False)
    book = load_book(settings.prices)
    if price_region is None and day is None:
        _say(price_table(book, pattern))
        return
    if not pattern:
        raise click.UsageError("--region and --date explain one model's price: give --model MODEL_ID too")
    try:
        when = date.fromisoformat(day) if day else datetime.now(UTC).date()
    except ValueError:
        raise click.UsageError(f"--date must be a day like 2026-11-27, not {day!r}") from None
    _say(explain(book, parse_model_id(pattern, settings.inference_profiles), price_region or "", when))


@pricing.command("refresh")
@click.option("--out", "target", required=True, type=click.Path(path_type=Path), help="Where to write the price file.")
@click.option("--region", "price_region", help="Region whose prices to read (default: AWS_REGION, else us-east-1).")
@ENV_FILE
@_reports_errors
def pricing_refresh(target: Path, price_region: str | None, **flags: Any) -> None:
    """Draft a price file from the AWS Price List API, to review and pass as CONFIG."""
    from datetime import UTC, datetime

    from generator import aws
    from generator.layout import write_file
    from generator.pricing import load_book
    from generator.pricing.pricelist import refresh

    settings = _settings(flags, needs_source=False)
    region = price_region or settings.aws_region or "us-east-1"
    client = aws.client("pricing", profile=settings.aws_profile, region="us-east-1")
    text = refresh(client, load_book(), region, datetime.now(UTC).date())
    write_file(target, text.encode())
    entries = text.splitlines().count("[[prices]]")
    _say(f"wrote {entries} prices for {region} to {target}; review it, then pass it as --config")


def main() -> NoReturn:
    """Run the CLI."""
    sys.exit(cli.main(prog_name="bedrock-usage", standalone_mode=True))
