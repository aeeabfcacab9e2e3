"""Settings: built once, validated once, from defaults < .env < NAME < NAME_BEDROCK_USAGE < CLI flag.

The only module that reads environment variables or the config TOML. Every problem is collected
and reported together as one ConfigError, so a user fixes them all in one go.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from generator import aws
from generator.errors import ConfigError
from generator.identity import IdentityRules, parse_aliases
from generator.pricing import Price, PriceEntryError, parse_prices
from generator.site import STATE_PREFIX
from generator.sources import SOURCES
from generator.sources.cloudwatch import CloudWatchOptions
from generator.usage import WINDOW_KEYS

SUFFIX = "_BEDROCK_USAGE"
DEMO_CONFIG = Path(__file__).parent / "data" / "demo.toml"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# setting -> environment names (the first is the documented one; later ones are old spellings)
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "aws_profile": ("AWS_PROFILE",),
    "aws_region": ("AWS_REGION",),
    "log_groups": ("LOG_GROUP",),
    "regions": ("AWS_REGION",),
    "state": ("STATE",),
    "cost_explorer": ("COST_EXPLORER",),
    "price_list": ("PRICE_LIST",),
    "insights_deadline": ("INSIGHTS_DEADLINE",),
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
}
DEFAULTS: dict[str, Any] = {
    "timezone": "UTC",
    "out": "site",
    "log_groups": "/aws/bedrock/modelinvocations",
    "state": ".bedrock-usage-state",
}
_CONFIG_KEYS = {"aliases", "session_roles", "strip_prefixes", "inference_profiles", "prices"}


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
    cost_explorer: bool = False
    price_list: bool = False  # read current prices from the AWS Price List (auto: on for the cloudwatch source)
    config: Path | None = None
    identity: IdentityRules = field(default_factory=IdentityRules)
    inference_profiles: Mapping[str, str] = field(default_factory=dict)
    prices: tuple[Price, ...] = ()
    aws_profile: str | None = None
    aws_region: str | None = None
    cloudwatch: CloudWatchOptions = field(default_factory=CloudWatchOptions)
    bucket: str | None = None
    prefix: str = ""
    distribution_id: str | None = None
    fqdn: str | None = None
    subnets_only: tuple[IPNetwork, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _pick(name: str, cli: Mapping[str, Any], environ: Mapping[str, str], dotenv: Mapping[str, Any]) -> Any:
    """Return the winning raw value for one setting."""
    if cli.get(name) not in (None, ()):
        return cli[name]
    names = ENV_NAMES.get(name, ())
    for layer in (environ, dotenv):
        for env in names:
            if layer.get(env + SUFFIX) not in (None, ""):
                return layer[env + SUFFIX]
        for env in names:
            if layer.get(env) not in (None, ""):
                return layer[env]
    return DEFAULTS.get(name)


def load_settings(
    cli: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
    *,
    needs_source: bool = True,
) -> Settings:
    """Build Settings from CLI values, the environment and a .env file; raise ConfigError listing every problem.

    With `needs_source=False` (commands that read no usage, such as `pricing show`) no source is chosen
    and nothing about AWS credentials or regions is required.
    """
    environ = os.environ if environ is None else environ
    if cli.get("cost_explorer") is False:  # an unset CLI flag must not hide COST_EXPLORER
        cli = {k: v for k, v in cli.items() if k != "cost_explorer"}
    dotenv = dotenv_values(env_file) if env_file is not None and env_file.is_file() else {}
    errors: list[str] = []
    values: dict[str, Any] = {}

    def check(key: str, parse: Callable[[Any], Any]) -> None:
        raw = _pick(key, cli, environ, dotenv)
        if raw is None:
            return
        try:
            values[key] = parse(raw)
        except (ValueError, TypeError) as exc:
            errors.append(f"{key.upper()}: {exc}")

    for key in ("aws_profile", "aws_region", "bucket", "distribution_id", "fqdn"):
        check(key, str)
    check("prefix", _parse_prefix)
    check("timezone", _parse_timezone)
    check("subnets_only", _parse_cidrs)
    check("windows", _parse_windows)
    check("now", _parse_now)
    check("out", Path)
    logs = tuple(Path(p) for p in cli.get("logs") or ())
    check("cost_explorer", _parse_flag)
    # An explicit --source, then --logs, then SOURCE, then AWS credentials; the demo only when asked for.
    source = cli.get("source") or ("files" if logs else None) or _pick("source", {}, environ, dotenv)
    if not needs_source:
        source = source or ""
    elif not source and aws.has_credentials(values.get("aws_profile")):
        source = "cloudwatch"
    elif not source:
        profile = values.get("aws_profile")
        errors.append(
            (f"AWS_PROFILE {profile!r} gives no usable credentials" if profile else "no AWS credentials found")
            + ": pass --source demo to try the tool on made-up data, or set AWS_PROFILE and AWS_REGION to read "
            "your logs (or --source files --logs PATH)"
        )
        source = ""
    price_list = str(_pick("price_list", cli, environ, dotenv) or "auto").strip().lower()
    if price_list not in ("auto", "on", "off"):
        errors.append(f"PRICE_LIST: use auto, on or off, not {price_list!r}")
    values["price_list"] = price_list == "on" or (price_list == "auto" and source == "cloudwatch")
    if cli.get("publishing") and source == "demo" and cli.get("source") != "demo":
        errors.append("SOURCE: publish never uploads the demo's made-up people unless you pass --source demo")
    if source == "cloudwatch":
        values["cloudwatch"] = _cloudwatch_options(cli, environ, dotenv, values, errors)
    if source and source not in SOURCES:
        errors.append(f"SOURCE: unknown source {source!r} (use one of {', '.join(SOURCES)})")
    elif source == "files" and not logs:
        errors.append("--source files needs at least one --logs PATH")
    elif source and source != "files" and logs:
        errors.append(f"--logs goes with --source files, not --source {source}")
    config_path = _pick("config", cli, environ, dotenv)
    if config_path is None and source == "demo":
        config_path = DEMO_CONFIG
    if config_path is not None:
        values["config"] = Path(config_path)
        values.update(_load_config_file(Path(config_path), errors))
    if errors:
        raise ConfigError("; ".join(errors))
    return Settings(
        source=source,
        logs=logs,
        strict=bool(cli.get("strict")),
        strict_pricing=bool(cli.get("strict_pricing")),
        **values,
    )


def _cloudwatch_options(
    cli: Mapping[str, Any],
    environ: Mapping[str, str],
    dotenv: Mapping[str, Any],
    values: dict[str, Any],
    errors: list[str],
) -> CloudWatchOptions:
    """The Logs Insights settings, checked; problems go to `errors`."""
    groups = _names_of(_pick("log_groups", cli, environ, dotenv))
    regions = _names_of(_pick("regions", cli, environ, dotenv)) or _names_of(
        aws.default_region(values.get("aws_profile"))
    )
    if not 1 <= len(groups) <= 50:
        errors.append(f"LOG_GROUP: give 1 to 50 log groups, not {len(groups)}")
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
        given = cli.get("insights_price_per_gb")
        price_per_gb = None if given is None else _parse_price(given)
    except ValueError as exc:
        errors.append(f"--insights-price-per-gb: {exc}")
    return CloudWatchOptions(
        log_groups=tuple(groups),
        regions=tuple(regions),
        state=_state(cli, environ, dotenv, values),
        rebuild=bool(cli.get("rebuild")),
        since=since_day,
        settle_lag_hours=_given(cli, "settle_lag", 2),
        recheck_days=_recheck_days(_pick("recheck_days", cli, environ, dotenv), errors),
        assume_roles=_roles(_names_of(_pick("assume_roles", cli, environ, dotenv)), errors),
        concurrency=_given(cli, "insights_concurrency", 4),
        deadline_seconds=_deadline(_pick("insights_deadline", cli, environ, dotenv), errors),
        row_cap=_given(cli, "insights_row_cap", 10_000),
        price_per_gb=price_per_gb,
        profile=values.get("aws_profile"),
        endpoint_url=cli.get("endpoint_url"),
    )


def _state(
    cli: Mapping[str, Any], environ: Mapping[str, str], dotenv: Mapping[str, Any], values: dict[str, Any]
) -> str:
    """Where the hourly store lives: as given, else beside a published site, else a local folder."""
    chosen = _pick("state", cli, environ, dotenv)
    if chosen == DEFAULTS["state"] and cli.get("publishing") and values.get("bucket"):
        return f"s3://{values['bucket']}/{STATE_PREFIX}"
    return str(chosen)


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


def _roles(arns: list[str], errors: list[str]) -> tuple[str, ...]:
    """Roles in other accounts to read (ASSUME_ROLES, comma-separated ARNs; at most one per account)."""
    bad = [a for a in arns if not _ROLE_ARN.match(a)]
    if bad:
        errors.append(
            f"ASSUME_ROLES: {bad[0]!r} is not a role ARN like arn:aws:iam::210987654321:role/bedrock-usage-read"
        )
        return ()
    accounts = [a.split(":")[4] for a in arns]
    if len(set(accounts)) != len(accounts):
        errors.append("ASSUME_ROLES: give at most one role per account")
        return ()
    return tuple(arns)


def _recheck_days(raw: object, errors: list[str]) -> tuple[int, ...]:
    """Ages in days at which settled days are read again (RECHECK_DAYS, e.g. 1,7; "none" for never)."""
    if raw is None:
        return (1,)
    text = str(raw).strip().lower()
    if text in ("none", "0", ""):
        return ()
    try:
        days = tuple(sorted({int(d) for d in text.split(",")}))
    except ValueError:
        days = (0,)
    if not all(1 <= d <= 14 for d in days):
        errors.append(f"RECHECK_DAYS: give days from 1 to 14 (CloudWatch takes events up to 14 days old), not {raw!r}")
        return (1,)
    return days


def _deadline(raw: object, errors: list[str]) -> float:
    """Seconds the Insights queries may take (INSIGHTS_DEADLINE: the stack sets it below the Lambda's timeout)."""
    if raw is None:
        return 900.0
    try:
        seconds = float(str(raw))
    except ValueError:
        seconds = -1.0
    if not 10 <= seconds <= 86_400:
        errors.append(f"INSIGHTS_DEADLINE: give seconds from 10 to 86400, not {raw!r}")
        return 900.0
    return seconds


def _given(cli: Mapping[str, Any], key: str, default: Any) -> Any:
    """A CLI value when one was given (0 included), else the default."""
    value = cli.get(key)
    return default if value is None else value


_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,100}$")


def _parse_prefix(raw: object) -> str:
    """A key prefix of plain path segments: never `..`, an empty segment, or the state's own prefix."""
    text = str(raw).strip().strip("/")
    if not text:
        return ""
    segments = text.split("/")
    bad = next((s for s in segments if not _PREFIX_SEGMENT.match(s) or set(s) == {"."}), None)
    if bad is not None or len(segments) > 10:
        shown = "an empty segment" if bad == "" else f"segment {bad!r}" if bad is not None else "more than 10 segments"
        raise ValueError(
            f"{shown} in {str(raw)!r}: use plain folder names (letters, digits, . _ ~ -) separated by /, "
            "such as usage/ or team-a/usage/"
        )
    if (text + "/").startswith(STATE_PREFIX) or segments[0] == STATE_PREFIX.strip("/"):
        raise ValueError(f"{text!r} is the store's own prefix ({STATE_PREFIX}); choose another")
    return text + "/"


def _parse_price(raw: object) -> Decimal:
    try:
        price = Decimal(str(raw).strip())
    except ArithmeticError:
        raise ValueError(f"{raw!r} is not a number of US dollars such as 0.005") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"{raw!r} must be a non-negative number of US dollars such as 0.005")
    return price


def _parse_flag(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not true or false (use true/false, yes/no, 1/0)")


def _names_of(raw: str | tuple[str, ...] | None) -> list[str]:
    """Split a comma- or space-separated setting (or take a CLI tuple), dropping empty names."""
    if not raw:
        return []
    return raw.replace(",", " ").split() if isinstance(raw, str) else [n for n in raw if n]


def _parse_timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {raw!r} (use an IANA name such as Europe/Berlin)") from None
    return raw


def _parse_cidrs(raw: str | tuple[str, ...]) -> tuple[IPNetwork, ...]:
    parts = _names_of(raw)
    nets = []
    for part in parts:
        try:
            nets.append(ipaddress.ip_network(part))
        except ValueError as exc:
            raise ValueError(f"bad CIDR {part!r}: {exc}") from None
    return tuple(nets)


def _parse_windows(raw: str | tuple[str, ...]) -> tuple[str, ...]:
    keys = _names_of(raw)
    unknown = [k for k in keys if k not in WINDOW_KEYS]
    if unknown or not keys:
        raise ValueError(f"unknown window {', '.join(unknown) or '(none)'} (use {', '.join(WINDOW_KEYS)})")
    return tuple(k for k in WINDOW_KEYS if k in keys)


def _parse_now(raw: str | datetime) -> datetime:
    moment = raw if isinstance(raw, datetime) else None
    if moment is None:
        try:
            moment = datetime.fromisoformat(str(raw))
        except ValueError:
            raise ValueError(f"{raw!r} is not an ISO 8601 time such as 2025-06-30T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _load_config_file(path: Path, errors: list[str]) -> dict[str, Any]:
    """Read the config TOML into Settings fields, appending any problem to `errors`."""
    where = f"CONFIG {path}"
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        errors.append(f"{where}: cannot read it ({exc.strerror or exc})")
        return {}
    except tomllib.TOMLDecodeError as exc:
        errors.append(f"{where}: invalid TOML ({exc})")
        return {}
    unknown = sorted(set(doc) - _CONFIG_KEYS)
    if unknown:
        errors.append(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_CONFIG_KEYS))})")
    out: dict[str, Any] = {}

    def section(parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except PriceEntryError as exc:
            errors.append(str(exc))
        except ValueError as exc:
            errors.append(f"{where}: {exc}")
        return None

    aliases = section(lambda: parse_aliases(_table(doc, "aliases")))
    session_roles = section(lambda: frozenset(_names(doc, "session_roles", [])))
    strip = section(lambda: tuple(_names(doc, "strip_prefixes", ["bedrock-"])))
    if None not in (aliases, session_roles, strip):
        out["identity"] = IdentityRules(session_roles, strip, aliases)
    profiles = section(lambda: _profiles(doc))
    if profiles is not None:
        out["inference_profiles"] = profiles
    prices = section(lambda: tuple(parse_prices(_list(doc, "prices"), str(path))))
    if prices is not None:
        out["prices"] = prices
    return out


def _profiles(doc: Mapping[str, Any]) -> dict[str, Any]:
    profiles = _table(doc, "inference_profiles")
    if not all(isinstance(v, str) for v in profiles.values()):
        raise ValueError("inference_profiles values must be model ids")
    return profiles


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{key} must be a list of tables ([[{key}]])")
    return value


def _table(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a table")
    return value


def _names(doc: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = doc.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of names")
    return value


def sign_in_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The sign-in Lambda's settings from its environment (set by the stack); ConfigError if any is missing."""
    environ = os.environ if environ is None else environ
    names = {"session_key": "SESSION_KEY", "audience": "AUDIENCE", "parameter": "SIGN_IN_PARAMETER"}
    found = {key: environ.get(name, "") for key, name in names.items()}
    missing = [names[k] for k, v in found.items() if not v]
    if missing or not re.fullmatch(r"[0-9a-f]{64}", found["session_key"]):
        raise ConfigError(f"the sign-in function needs {', '.join(missing) or 'a 64-hex-digit SESSION_KEY'}")
    return found
