"""Settings: built once, validated once, from defaults < .env < NAME < NAME_BEDROCK_USAGE < CLI flag.

The only module that reads environment variables (the CONFIG file is read by `config_file`, single
values are checked by `config_values`). Every problem is collected and reported together as one
ConfigError, so a user fixes them all in one go.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dotenv import dotenv_values

from generator import aws
from generator.attribution import Attribution, Profile, parse_attribution
from generator.budgets import Budgets
from generator.config_file import load_config_file
from generator.config_values import (
    IPNetwork,
    deadline,
    given,
    names_of,
    parse_cidrs,
    parse_flag,
    parse_now,
    parse_prefix,
    parse_price,
    parse_timezone,
    parse_topic,
    parse_webhook,
    parse_windows,
    recheck_days,
    roles,
    stale_after,
)  # fmt: skip
from generator.errors import ConfigError
from generator.identity import IdentityRules
from generator.layout import STATE_PREFIX
from generator.pricing import Price
from generator.sources import SOURCES
from generator.sources.athena import AthenaOptions
from generator.sources.cloudwatch import CloudWatchOptions
from generator.sources.s3logs import S3Options
from generator.teams import TeamRules
from generator.usage import WINDOW_KEYS

SUFFIX = "_BEDROCK_USAGE"
# CloudWatch's log-group name pattern, or a source account's group by its ARN (cross-account observability)
LOG_GROUP = re.compile(r"(arn:aws[a-z-]*:logs:[a-z0-9-]{1,30}:\d{12}:log-group:)?[.\-_/#A-Za-z0-9]{1,512}")
AWS_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")
KEEPS_STATE = ("cloudwatch", "s3", "athena")  # sources that read an AWS account and keep a store
DEMO_CONFIG = Path(__file__).parent / "data" / "demo.toml"

# setting -> environment names (the first is the documented one; later ones are old spellings)
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "aws_profile": ("AWS_PROFILE",),
    "aws_region": ("AWS_REGION",),
    "log_groups": ("LOG_GROUP",),
    "regions": ("AWS_REGION",),
    "state": ("STATE",),
    "cost_explorer": ("COST_EXPLORER",),
    "bill": ("BILL",),
    "cur": ("CUR",),
    "price_list": ("PRICE_LIST",),
    "control_plane": ("CONTROL_PLANE",),
    "coverage": ("COVERAGE",),
    "coverage_regions": ("COVERAGE_REGIONS",),
    "insights_deadline": ("INSIGHTS_DEADLINE",),
    "logs": ("LOGS",),
    "budget_webhook": ("BUDGET_WEBHOOK",),
    "budget_topic": ("BUDGET_TOPIC_ARN",),
    "athena_database": ("ATHENA_DATABASE",),
    "athena_table": ("ATHENA_TABLE",),
    "athena_workgroup": ("ATHENA_WORKGROUP",),
    "athena_output": ("ATHENA_OUTPUT",),
    "recheck_days": ("RECHECK_DAYS",),
    "assume_roles": ("ASSUME_ROLES",),
    "bucket": ("BUCKET",),
    "prefix": ("PREFIX",),
    "distribution_id": ("DISTRIBUTION_ID",),
    "fqdn": ("FQDN",),
    "subnets_only": ("SUBNETS_ONLY", "SUBNET_ONLY"),
    "timezone": ("TIMEZONE",),
    "config": ("CONFIG",),
    "source": ("SOURCE",),
    "out": ("OUT",),
    "windows": ("WINDOWS",),
    "stale_after": ("SCHEDULE",),
    "person_key": ("PERSON_KEY",),
    "team_key": ("TEAM_KEY",),
    "tags": ("TAGS",),
    "profile_tag_team": ("PROFILE_TAG_TEAM",),
    "api_key_owner_tag": ("API_KEY_OWNER_TAG",),
}
DEFAULTS: dict[str, Any] = {
    "timezone": "UTC",
    "out": "site",
    "log_groups": "/aws/bedrock/modelinvocations",
    "state": ".bedrock-usage-state",
}


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated."""

    source: str = "demo"
    logs: tuple[Path, ...] = ()
    out: Path = Path("site")
    now: datetime | None = None
    timezone: str = "UTC"
    windows: tuple[str, ...] = WINDOW_KEYS
    strict: bool = False
    strict_pricing: bool = False
    bill: str = "none"  # none | cost-explorer | cur | demo (the demo's own made-up bill)
    cur: str = ""  # with bill cur: the CUR 2.0 export's folder, s3://bucket/prefix or athena:DATABASE.TABLE
    price_list: bool = False  # read current prices from the AWS Price List (auto: on for the cloudwatch source)
    config: Path | None = None
    identity: IdentityRules = field(default_factory=IdentityRules)
    inference_profiles: Mapping[str, str] = field(default_factory=dict)
    profile_details: Mapping[str, Profile] = field(default_factory=dict)  # profiles the config names with tags
    control_plane: bool = False  # read application inference profiles and API key owners (auto: on for AWS sources)
    coverage: bool = False  # set the logs beside Bedrock's own CloudWatch counts (auto: on for AWS sources)
    coverage_regions: tuple[str, ...] = ()  # the regions whose counts are read (default: every Bedrock region)
    prices: tuple[Price, ...] = ()
    teams: TeamRules = field(default_factory=TeamRules)
    attribution: Attribution = field(default_factory=Attribution)
    budgets: Budgets = field(default_factory=Budgets)
    budget_webhook: str = ""  # a Slack or Teams incoming-webhook URL told of budget crossings
    budget_topic: str = ""  # an SNS topic ARN told of budget crossings
    state: str = ".bedrock-usage-state"  # the store: partitions, S3 and Athena days, the Price List cache, notices
    aws_profile: str | None = None
    aws_region: str | None = None
    cloudwatch: CloudWatchOptions = field(default_factory=CloudWatchOptions)
    s3: S3Options | None = None  # --source s3 (or --logs s3://...): S3-delivered logs read in place
    athena: AthenaOptions | None = None
    bucket: str | None = None
    prefix: str = ""
    distribution_id: str | None = None
    fqdn: str | None = None
    subnets_only: tuple[IPNetwork, ...] = ()
    stale_after: int | None = None  # seconds: a scheduled publish that cannot publish for longer fails (SCHEDULE)
    cores: int = 0  # the most cores a build uses (0: every core it may run on; on AWS Lambda, what its memory buys)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def cost_explorer(self) -> bool:
        """True when the bill is read from Cost Explorer (--cost-explorer, or BILL=cost-explorer)."""
        return self.bill == "cost-explorer"

    @property
    def keeps_state(self) -> bool:
        """True when this run's source keeps hourly rows in the store (so the Price List is cached there too)."""
        return self.source in KEEPS_STATE


class _Layers:
    """The raw values of one load (CLI flags, the environment, the .env file) and the problems found so far."""

    def __init__(self, cli: Mapping[str, Any], environ: Mapping[str, str], dotenv: Mapping[str, Any]) -> None:
        self.cli, self.environ, self.dotenv = cli, environ, dotenv
        self.errors: list[str] = []
        self.values: dict[str, Any] = {}

    def pick(self, name: str, cli: bool = True) -> Any:
        """The winning raw value of one setting (the CLI's only where `cli`)."""
        if cli and self.cli.get(name) not in (None, ()):
            return self.cli[name]
        names = ENV_NAMES.get(name, ())
        for layer in (self.environ, self.dotenv):
            for env in names:
                if layer.get(env + SUFFIX) not in (None, ""):
                    return layer[env + SUFFIX]
            for env in names:
                if layer.get(env) not in (None, ""):
                    return layer[env]
        return DEFAULTS.get(name)

    def check(self, key: str, parse: Callable[[Any], Any], label: str = "") -> None:
        """Parse one setting into `values`, or note what is wrong with it (under `label`, else its name)."""
        raw = self.pick(key)
        if raw is None:
            return
        try:
            self.values[key] = parse(raw)
        except (ValueError, TypeError) as exc:
            self.errors.append(f"{label or key.upper()}: {exc}")


def load_settings(
    cli: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
    *,
    needs_source: bool = True,
    publish: bool = False,
) -> Settings:
    """Build Settings from CLI values, the environment and a .env file; raise ConfigError listing every problem.

    With `needs_source=False` (commands that read no usage, such as `pricing show`) no source is chosen
    and nothing about AWS credentials or regions is required. With `publish`, the run publishes: the demo
    needs asking for by name, and the store defaults to the site bucket.
    """
    environ = os.environ if environ is None else environ
    if cli.get("cost_explorer") is False:  # an unset CLI flag must not hide COST_EXPLORER
        cli = {k: v for k, v in cli.items() if k != "cost_explorer"}
    dotenv = dotenv_values(env_file) if env_file is not None and env_file.is_file() else {}
    layers = _Layers(cli, environ, dotenv)
    for key in ("aws_profile", "aws_region", "bucket", "distribution_id", "fqdn"):
        layers.check(key, str)
    for key, parse in (("prefix", parse_prefix), ("budget_webhook", parse_webhook), ("budget_topic", parse_topic),
                       ("timezone", parse_timezone), ("subnets_only", parse_cidrs), ("windows", parse_windows),
                       ("now", parse_now), ("out", Path), ("cost_explorer", parse_flag)):  # fmt: skip
        layers.check(key, parse)
    layers.check("stale_after", stale_after, "SCHEDULE")
    layers.values["cores"] = lambda_cores(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ""))
    coverage_regions = names_of(layers.pick("coverage_regions"))
    bad_region = next((r for r in coverage_regions if not AWS_REGION.fullmatch(r)), None)
    if bad_region is not None:
        layers.errors.append(f"COVERAGE_REGIONS: {bad_region[:64]!r} is not an AWS region name, such as us-east-1")
    layers.values["coverage_regions"] = tuple(coverage_regions)
    given_logs = [str(p) for p in names_of(layers.pick("logs"))]
    urls = tuple(p for p in given_logs if p.startswith("s3://"))
    logs = tuple(Path(p) for p in given_logs if not p.startswith("s3://"))
    if urls and logs:
        layers.errors.append("--logs: give local paths or s3:// URLs, not both in one run")
    source = _choose_source(layers, logs, urls, needs_source, publish)
    layers.values["state"] = _state(layers, publish)
    _source_options(layers, source, logs, urls)
    _bill(layers, source)
    config_path = layers.pick("config")
    if config_path is None and source == "demo":
        config_path = DEMO_CONFIG
    if config_path is not None:
        layers.values["config"] = Path(config_path)
        layers.values.update(load_config_file(Path(config_path), layers.errors))
    _attribution(layers)
    if layers.errors:
        raise ConfigError("; ".join(layers.errors))
    return Settings(
        source=source, logs=logs, strict=bool(cli.get("strict")), strict_pricing=bool(cli.get("strict_pricing")),
        **layers.values,
    )  # fmt: skip


LAMBDA_VCPU_MB = 1769  # AWS Lambda gives a function CPU in proportion to memory: one vCPU's worth at 1,769 MB


def lambda_cores(memory: str) -> int:
    """The vCPUs an AWS Lambda function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, MB) pays for: a 1,024 MB function
    sees two CPUs but has the time of 0.58 of one, so a second process there only adds memory. 0 off Lambda."""
    return max(1, int(memory) // LAMBDA_VCPU_MB) if memory.strip().isdigit() else 0


def _bill(layers: _Layers, source: str) -> None:
    """Which bill the estimate is set beside: none, Cost Explorer (--cost-explorer too) or the CUR at --cur (the
    demo shows its own made-up bill unless told none)."""
    bill, where = str(layers.pick("bill") or "").strip().lower(), str(layers.pick("cur") or "").strip()
    unsaid = layers.pick("cost_explorer") in (None, False) and source == "demo"  # the demo's own, unless told
    asked = "cost-explorer" if layers.values.get("cost_explorer") else "demo" if unsaid else "none"
    bill = bill or ("cur" if where else asked)
    if bill not in ("none", "cost-explorer", "cur", "demo") or (bill == "demo" and source != "demo"):
        layers.errors.append(f"BILL: use none, cost-explorer or cur, not {bill[:40]!r}")
    elif bill == "cur" and not where:
        layers.errors.append("--bill cur needs --cur: the CUR 2.0 export's s3://bucket/prefix (or a folder)")
    elif where and bill != "cur":
        layers.errors.append(f"--cur goes with --bill cur, not --bill {bill}")
    elif where.startswith("athena:") and layers.values.get("athena") is None:
        layers.errors.append("--cur athena:DATABASE.TABLE queries the export with Athena: it goes with --source athena")
    layers.values.pop("cost_explorer", None)  # said by `bill` now
    layers.values["cur"] = where if bill == "cur" else ""
    layers.values["bill"] = bill


def _attribution(layers: _Layers) -> None:
    """The `[attribution]` table of the config, with PERSON_KEY, TEAM_KEY, TAGS (and the CLI) over it."""
    table = layers.values.pop("attribution_table", {})
    names = ("person_key", "team_key", "tags", "profile_tag_team", "api_key_owner_tag")
    try:
        layers.values["attribution"] = parse_attribution(table, {k: layers.pick(k) for k in names})
    except ValueError as exc:
        layers.errors.append(str(exc))


def _choose_source(
    layers: _Layers, logs: tuple[Path, ...], urls: tuple[str, ...], needs_source: bool, publish: bool
) -> str:
    """An explicit --source, then --logs, then SOURCE, then AWS credentials; the demo only when asked for.

    `files` with s3:// URLs is the `s3` source (the name `deploy --source` uses too).
    """
    asked = layers.cli.get("source")
    source = asked or ("s3" if urls else "files" if logs else None) or layers.pick("source", cli=False)
    if source == "files" and urls:
        source = "s3"
    profile = layers.values.get("aws_profile")
    problem = "" if source or not needs_source else aws.credentials_problem(profile)
    if not needs_source:
        source = source or ""
    elif not source and not problem:
        source = "cloudwatch"
    elif not source:
        layers.errors.append(
            f"{problem}; or pass --source demo to try the tool on made-up data (or --source files --logs PATH)"
        )
        source = ""
    if publish and source == "demo" and asked != "demo":
        layers.errors.append("SOURCE: publish never uploads the demo's made-up people unless you pass --source demo")
    for key in ("price_list", "control_plane", "coverage"):
        raw = layers.pick(key)
        chosen = ("on" if raw else "off") if isinstance(raw, bool) else str(raw or "auto").strip().lower()
        if chosen not in ("auto", "on", "off"):
            layers.errors.append(f"{key.upper()}: use auto, on or off, not {chosen!r}")
        # auto: on wherever the run reads an AWS account's logs (the scheduled job), off for local files and the demo
        # (whose log coverage answers for its own made-up account)
        auto = source in KEEPS_STATE or (key == "coverage" and source == "demo")
        layers.values[key] = chosen == "on" or (chosen == "auto" and auto)
    return source


def _source_options(layers: _Layers, source: str, logs: tuple[Path, ...], urls: tuple[str, ...]) -> None:
    """Check the source's own settings into `layers.values` (cloudwatch, s3 or athena options)."""
    errors, values, cli = layers.errors, layers.values, layers.cli
    if source == "cloudwatch":
        values["cloudwatch"] = _cloudwatch_options(layers)
    elif source == "s3" and urls:
        values["s3"] = S3Options(urls, values["state"], bool(cli.get("rebuild")),
                                 deadline_seconds=deadline(layers.pick("insights_deadline"), errors),
                                 profile=values.get("aws_profile"), endpoint_url=cli.get("endpoint_url"))  # fmt: skip
    elif source == "athena":
        values["athena"] = _athena_options(urls, layers)
    if source and source not in SOURCES:
        errors.append(f"SOURCE: unknown source {source!r} (use one of {', '.join(SOURCES)})")
    elif source == "files" and not logs:
        errors.append("--source files needs at least one --logs PATH or s3://bucket/prefix")
    elif source == "s3" and not urls:
        errors.append("--source s3 reads the S3-delivered logs: give --logs s3://bucket/prefix")
    elif source not in ("files", "s3", "athena") and (logs or urls):
        errors.append(f"--logs goes with --source files, s3 or athena, not --source {source}")
    elif source in ("athena", "s3") and logs:
        errors.append(
            f"--source {source} reads S3: give --logs s3://bucket/prefix (where Bedrock delivers), not a folder"
        )


def _cloudwatch_options(layers: _Layers) -> CloudWatchOptions:
    """The Logs Insights settings, checked; problems go to `layers.errors`."""
    cli, values, errors = layers.cli, layers.values, layers.errors
    groups = names_of(layers.pick("log_groups"))
    regions = names_of(layers.pick("regions")) or names_of(aws.default_region(values.get("aws_profile")))
    if not 1 <= len(groups) <= 50:
        errors.append(f"LOG_GROUP: give 1 to 50 log groups, not {len(groups)}")
    bad = [g for g in groups if not LOG_GROUP.fullmatch(g)]
    if bad:  # a wildcard would grant logs:StartQuery on every group, and any other character is no group name
        errors.append(f"LOG_GROUP: {bad[0][:100]!r} is not a log group name (letters, digits and . - _ / #) or ARN")
    if not regions:
        errors.append("AWS_REGION: no region for CloudWatch Logs; pass --region or set AWS_REGION")
    since = cli.get("since")
    try:
        since_day = date.fromisoformat(str(since)) if since else None
    except ValueError:
        errors.append(f"--since: {since!r} is not a date like 2025-06-01")
        since_day = None
    price_per_gb = None
    try:
        raw_price = cli.get("insights_price_per_gb")
        price_per_gb = None if raw_price is None else parse_price(raw_price)
    except ValueError as exc:
        errors.append(f"--insights-price-per-gb: {exc}")
    return CloudWatchOptions(
        log_groups=tuple(groups),
        regions=tuple(regions),
        state=values["state"],
        rebuild=bool(cli.get("rebuild")),
        since=since_day,
        settle_lag_hours=given(cli, "settle_lag", 2),
        recheck_days=recheck_days(layers.pick("recheck_days"), errors),
        assume_roles=roles(names_of(layers.pick("assume_roles")), errors),
        concurrency=given(cli, "insights_concurrency", 4),
        deadline_seconds=deadline(layers.pick("insights_deadline"), errors),
        row_cap=given(cli, "insights_row_cap", 10_000),
        price_per_gb=price_per_gb,
        profile=values.get("aws_profile"),
        endpoint_url=cli.get("endpoint_url"),
    )


def _athena_options(urls: tuple[str, ...], layers: _Layers) -> AthenaOptions | None:
    """The Athena settings, checked; problems go to `layers.errors`."""
    cli, values, errors = layers.cli, layers.values, layers.errors
    if len(urls) != 1:
        errors.append("--source athena needs exactly one --logs s3://bucket/prefix (where Bedrock delivers the logs)")
        return None
    picked = {k: layers.pick(f"athena_{k}") for k in ("database", "table", "workgroup", "output")}
    named: dict[str, Any] = {k: str(v) for k, v in picked.items() if v}
    options = AthenaOptions(
        urls[0], **named,
        region=values.get("aws_region") or aws.default_region(values.get("aws_profile")),
        state=values["state"], rebuild=bool(cli.get("rebuild")),
        settle_lag_hours=given(cli, "settle_lag", 2),
        deadline_seconds=deadline(layers.pick("insights_deadline"), errors),
        concurrency=given(cli, "insights_concurrency", 4),
        profile=values.get("aws_profile"), endpoint_url=cli.get("endpoint_url"),
    )  # fmt: skip
    errors.extend(options.check())
    if not options.region:
        errors.append("AWS_REGION: no region for Athena; pass --region or set AWS_REGION")
    return options


def _state(layers: _Layers, publish: bool) -> str:
    """Where the store lives: as given, else beside a published site, else a local folder."""
    chosen = layers.pick("state")
    if chosen == DEFAULTS["state"] and publish and layers.values.get("bucket"):
        return f"s3://{layers.values['bucket']}/{STATE_PREFIX}"
    return str(chosen)


def deadline_within(seconds: float, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The `insights_deadline` setting of a run with `seconds` to spend on queries: INSIGHTS_DEADLINE, capped
    there (at least 10 s); {} when INSIGHTS_DEADLINE is malformed, which the settings then report."""
    environ = os.environ if environ is None else environ
    try:
        configured = float(environ.get("INSIGHTS_DEADLINE") or seconds)
    except ValueError:
        return {}
    return {"insights_deadline": str(int(max(10, min(configured, seconds))))}


def sign_in_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The sign-in Lambda's settings from its environment (set by the stack); ConfigError if any is missing."""
    environ = os.environ if environ is None else environ
    names = {"secret": "SESSION_SECRET", "audience": "AUDIENCE", "parameter": "SIGN_IN_PARAMETER"}
    found = {key: environ.get(name, "") for key, name in names.items()}
    missing = [names[k] for k, v in found.items() if not v]
    if missing:
        raise ConfigError(f"the sign-in function needs {', '.join(missing)} (set by the stack)")
    return found
